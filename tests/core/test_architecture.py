"""The platform boundary: only bot/platforms/{telegram,matrix}* may import telegram or nio."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLATFORM_LIBRARIES = {"telegram", "nio"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_feature_code_never_imports_a_platform_library() -> None:
    offenders = []
    for folder in ("bot", "handlers", "content", "scheduler"):
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith(("bot/platforms/telegram", "bot/platforms/matrix")):
                continue
            if imported_modules(path) & PLATFORM_LIBRARIES:
                offenders.append(relative)
    assert offenders == []


def test_the_check_sees_an_import() -> None:
    adapter = ROOT / "bot" / "platforms" / "telegram.py"
    assert "telegram" in imported_modules(adapter)
