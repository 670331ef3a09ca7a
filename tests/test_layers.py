"""The package's rooms and the one direction of imports between them (docs/architecture.md).

A module may import its own room and any room on a lower floor, never one beside or above it;
the shared modules on the ground floor may import each other, without cycles. An upward import
fails here, naming the file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "link_assistant_router"
SOURCE = Path(__file__).resolve().parent.parent / "src" / PACKAGE
# Top floor first. A room is a sub-package or a top-level module.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("__main__",),
    ("cli",),
    ("server",),
    ("app",),
    ("console",),
    ("formats", "admin"),
    ("proxy",),
    ("metrics", "probes", "boundary", "connections"),
    ("accounts",),
    ("governance",),
    ("storage",),
    (
        "config",
        "errors",
        "requestlog",
        "logs",
        "limits",
        "prices",
        "times",
        "routes",
        "peers",
        "garbage",
        "__init__",
    ),
)
SHARED = FLOORS[-1]
FLOOR_OF = {room: number for number, rooms in enumerate(FLOORS) for room in rooms}


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def room(module: str) -> str:
    return module.split(".", 1)[0]


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """The package's modules that ``path`` imports, with the line of each import."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == PACKAGE:
                yield node.lineno, "__init__"
            elif node.module.startswith(PACKAGE + "."):
                yield node.lineno, node.module[len(PACKAGE) + 1 :]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    yield node.lineno, alias.name[len(PACKAGE) + 1 :]


def modules() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def test_every_room_is_on_a_floor() -> None:
    rooms = {room(module_name(path)) for path in modules()}
    assert rooms - set(FLOOR_OF) == set(), "add the new room to FLOORS and docs/architecture.md"


def test_no_module_imports_beside_or_above_its_room() -> None:
    wrong = []
    for path in modules():
        here = room(module_name(path))
        for line, imported in imports(path):
            there = room(imported)
            if there == here or (here in SHARED and there in SHARED):
                continue
            if FLOOR_OF[there] <= FLOOR_OF[here]:
                wrong.append(f"{path.relative_to(SOURCE)}:{line} imports {imported}")
    assert wrong == []


def test_no_relative_imports() -> None:
    relative = [
        f"{path.relative_to(SOURCE)}:{node.lineno}"
        for path in modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert relative == []


def test_no_import_cycles() -> None:
    graph = {module_name(path): {m for _, m in imports(path)} for path in modules()}
    seen: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, trail: list[str]) -> None:
        state = seen.get(module)
        if state == 2:
            return
        if state == 1:
            pytest.fail("import cycle: " + " -> ".join([*trail, module]))
        seen[module] = 1
        for imported in sorted(graph.get(module, ())):
            visit(imported, [*trail, module])
        seen[module] = 2

    for module in sorted(graph):
        visit(module, [])


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The walker itself: an import of the proxy from the storage is found."""
    upward = tmp_path / "upward.py"
    upward.write_text(f"def f():\n    from {PACKAGE}.proxy.pipeline import Proxy\n")
    assert list(imports(upward)) == [(2, "proxy.pipeline")]


def test_every_module_pins_what_it_offers_and_callers_take_only_that() -> None:
    """Each module names its public names in ``__all__``; every import of a module of the
    package takes only those (nothing private, nothing the module merely imported itself)."""
    offered: dict[str, set[str]] = {}
    for path in modules():
        if path.name in ("__init__.py", "__main__.py"):
            continue
        tree = ast.parse(path.read_text())
        pinned = [
            node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        ]
        assert pinned, f"{path.relative_to(SOURCE)} has no __all__"
        offered[module_name(path)] = {
            element.value
            for element in pinned[0].elts  # type: ignore[attr-defined]
            if isinstance(element, ast.Constant)
        }
    wrong = []
    importers = [*modules(), *sorted(SOURCE.parent.parent.joinpath("tests").rglob("*.py"))]
    for path in importers:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                continue
            module = node.module.removeprefix(PACKAGE + ".")
            if module not in offered:
                continue
            for alias in node.names:
                if alias.name not in offered[module]:
                    wrong.append(f"{path.name}:{node.lineno} takes {module}.{alias.name}")
    assert wrong == []
