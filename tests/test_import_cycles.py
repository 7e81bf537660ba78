"""No import cycles inside freezegui.core, between modules or between folders, counting imports inside
functions and under TYPE_CHECKING (and a package's ``__init__``).

A cycle hidden in a function-level import (as checkpoint.py and engine.py had) still couples the two
modules: neither can be read, tested or typed without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "freezegui" / "core"


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in CORE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d.startswith("freezegui.core") and d != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for dep in sorted(graph.get(module, ())):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep in graph and not state.get(dep):
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if not state.get(module):
            found = visit(module)
            if found:
                return found
    return None


def test_the_graph_sees_the_training_modules() -> None:
    graph = _graph()
    assert "freezegui.core.training.report" in graph["freezegui.core.training.checkpoint"]
    assert "freezegui.core.training.checkpoint" in graph["freezegui.core.training.engine"]


def test_core_has_no_import_cycle() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or [])


def _package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same imports between the core's folders (and its top-level modules): a cycle between two
    folders couples them even when no two modules import each other."""

    def folder(module: str) -> str:
        return ".".join(module.split(".")[:3])

    out: dict[str, set[str]] = {}
    for module, deps in graph.items():
        out.setdefault(folder(module), set()).update(folder(d) for d in deps if folder(d) != folder(module))
    return out


def test_the_package_graph_sees_folder_edges() -> None:
    packages = _package_graph(_graph())
    assert "freezegui.core.rules" in packages["freezegui.core.runtime"]
    assert "freezegui.core.data" in packages["freezegui.core.plan"]
    assert _cycle(_package_graph({"x.y.a.m": {"x.y.b.n"}, "x.y.b.n": {"x.y.a.k"}})) == [
        "x.y.a",
        "x.y.b",
        "x.y.a",
    ]


def test_core_folders_have_no_import_cycle() -> None:
    cycle = _cycle(_package_graph(_graph()))
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
