"""The Matrix adapter (matrix-nio with end-to-end encryption).

`MatrixAdapter` is imported on first use, so that reading the session file (`session.py`, e.g. for an
erasure on the command line) does not load nio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.platforms.matrix.adapter import MatrixAdapter

__all__ = ["MatrixAdapter"]


def __getattr__(name: str) -> Any:
    if name == "MatrixAdapter":
        from bot.platforms.matrix.adapter import MatrixAdapter

        return MatrixAdapter
    raise AttributeError(name)
