"""The layers: every import points one way, no import cycle (type-only imports too), platform libraries stay
in their adapters."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "content", "scheduler")
PLATFORM_LIBRARIES = {"telegram", "nio"}

# Layer of each module, by the longest matching prefix (see docs/architecture.md).
LAYER_OF = {
    "bot": "leaf",  # the package itself only names the version
    "bot.chat": "leaf",
    "bot.clock": "leaf",
    "bot.text": "leaf",
    "bot.delivery": "leaf",
    "bot.config": "leaf",
    "content": "leaf",
    "bot.db": "data",
    "bot.services": "rules",
    "bot.router": "core",
    "bot.access": "core",
    "bot.render": "core",
    "bot.context": "core",
    "handlers": "features",
    "scheduler": "features",
    "bot.notices": "features",
    "bot.platforms": "adapters",
    "bot.app": "root",
    "bot.cli": "root",
    "bot.web": "root",  # the HTTP face reads the database and the application's status
    "bot.__main__": "root",
}
BELOW = {
    "leaf": {"leaf"},
    "data": {"leaf", "data"},
    "rules": {"leaf", "data", "rules"},
    "core": {"leaf", "data", "rules", "core"},
    "features": {"leaf", "data", "rules", "core", "features"},
    "adapters": {"leaf"},  # plus bot.context (the ports) and their own package, see allowed()
    "root": {"leaf", "data", "rules", "core", "features", "adapters", "root"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def project_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts and "versions" in path.parts:
                continue  # Alembic revisions are loaded by file, never imported
            found[module_name(path)] = path
    return found


def all_imports(path: Path) -> Iterator[tuple[str, int]]:
    """Every imported module name with its line: top level, in functions and under TYPE_CHECKING alike."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            yield base, node.lineno
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno


@cache
def project_edges() -> dict[str, set[str]]:
    """module -> the project modules it imports."""
    modules = project_modules()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for imported, _ in all_imports(path):
            if imported in modules and imported != name:
                edges[name].add(imported)
    return edges


def layer(module: str) -> str:
    best = max(
        (prefix for prefix in LAYER_OF if module == prefix or module.startswith(prefix + ".")), key=len
    )
    return LAYER_OF[best]


def platform_package(module: str) -> str:
    """bot.platforms.telegram.sender -> bot.platforms.telegram; bot.platforms.console -> itself."""
    return ".".join(module.split(".")[:3])


def allowed(importer: str, imported: str) -> bool:
    low, high = layer(importer), layer(imported)
    if low == "adapters":
        return (
            high == "leaf"
            or imported == "bot.context"
            or (platform_package(imported) == platform_package(importer))
        )
    if low == "features" and high == "features":
        # handlers and scheduler are siblings; both may use the shared notices module.
        shared = imported == "bot.notices" or imported.startswith("bot.notices.")
        return shared or imported.split(".")[0] == importer.split(".")[0]
    return high in BELOW[low]


def test_every_module_has_a_layer() -> None:
    for module in project_modules():
        assert layer(module)


def test_imports_point_down_the_layers() -> None:
    offenders = [
        f"{importer} -> {imported} ({layer(importer)} -> {layer(imported)})"
        for importer, targets in project_edges().items()
        for imported in sorted(targets)
        if not allowed(importer, imported)
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [
        ("bot.services", ("handlers", "scheduler", "bot.platforms", "bot.app")),
        ("bot.platforms", ("bot.services", "scheduler", "handlers", "bot.app", "bot.router")),
        ("scheduler", ("handlers", "bot.platforms")),
        ("handlers", ("scheduler", "bot.platforms")),
    ],
)
def test_named_rules(importer: str, forbidden: tuple[str, ...]) -> None:
    offenders = [
        f"{module} -> {target}"
        for module, targets in project_edges().items()
        if module == importer or module.startswith(importer + ".")
        for target in targets
        if any(target == f or target.startswith(f + ".") for f in forbidden)
    ]
    assert offenders == []


def test_only_the_entry_points_import_the_app() -> None:
    importers = sorted(m for m, targets in project_edges().items() if "bot.app" in targets)
    assert [m for m in importers if m != "bot.cli" and not m.startswith("bot.cli.")] == []


def test_no_import_cycle() -> None:
    edges = project_edges()
    cycles = [sorted(component) for component in strongly_connected(edges) if len(component) > 1]
    assert cycles == []


def strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def test_the_checks_see_what_they_check() -> None:
    # The cycle finder finds a cycle, the layer rule refuses upward imports, the scan sees type-only imports.
    assert {frozenset(c) for c in strongly_connected({"a": {"b"}, "b": {"a"}, "c": set()})} == {
        frozenset({"a", "b"}),
        frozenset({"c"}),
    }
    assert not allowed("bot.services.registration", "handlers.registration")
    assert not allowed("bot.platforms.telegram.adapter", "bot.services.messages")
    assert allowed("bot.platforms.telegram.adapter", "bot.platforms.telegram.sender")
    assert not allowed("bot.platforms.telegram.adapter", "bot.platforms.matrix.render")
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.app import AppContext\n"
    probe = ROOT / "tests" / "core" / "_probe_module.py"
    probe.write_text(source, encoding="utf-8")
    try:
        assert ("bot.app", 3) in set(all_imports(probe))
    finally:
        probe.unlink()
    assert "bot.platforms.telegram.sender" in project_edges()["bot.platforms.telegram.adapter"]


def test_feature_code_never_imports_a_platform_library() -> None:
    offenders = []
    for module, path in project_modules().items():
        if module.startswith(("bot.platforms.telegram", "bot.platforms.matrix")):
            continue
        libraries = {name.split(".")[0] for name, _ in all_imports(path)}
        if libraries & PLATFORM_LIBRARIES:
            offenders.append(module)
    assert offenders == []
    adapter = project_modules()["bot.platforms.telegram.adapter"]
    assert "telegram" in {name.split(".")[0] for name, _ in all_imports(adapter)}
