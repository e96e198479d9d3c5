"""The Matrix adapter (matrix-nio with end-to-end encryption)."""

from bot.platforms.matrix.adapter import MatrixAdapter

__all__ = ["MatrixAdapter"]
