"""Readers of the module tree use its public API: no underscore attribute of core/structure/tree.py's
classes is read outside that module (the item model, the search, the details pane, the CLI)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "freezegui"
TREE = PACKAGE / "core" / "structure" / "tree.py"


def _torch_module_attributes() -> set[str]:
    """``nn.Module``'s own underscore attributes (``_modules``, ``_parameters``): the tree reads them
    from the model, as any code walking a model may; they are torch's API, not the tree's."""
    from torch import nn

    return set(vars(nn.Module())) | set(dir(nn.Module))


def _private_names() -> set[str]:
    """Underscore attributes and module names that core/structure/tree.py defines (torch's excluded)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(TREE.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            names.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name[:1] == "_" != node.name[1:2]:
            names.add(node.name)
    return names - _torch_module_attributes()


def _offenders(path: Path, private: set[str]) -> list[str]:
    found = []
    where = path.relative_to(PACKAGE) if path.is_relative_to(PACKAGE) else path.name
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in private:
            own = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if not own:  # a class's own attribute of the same name is not the tree's
                found.append(f"{where}:{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "freezegui.core.structure.tree":
            found += [f"{where}:{node.lineno}: import {a.name}" for a in node.names if a.name.startswith("_")]
    return found


def test_the_check_knows_the_tree_privates() -> None:
    private = _private_names()
    assert {"_occ_start", "_node_cache", "_params", "_children", "_occ_node", "_parent"} <= private


def test_no_reads_of_tree_privates_outside_the_tree_module() -> None:
    private = _private_names()
    offenders = [
        o for path in sorted(PACKAGE.rglob("*.py")) if path != TREE for o in _offenders(path, private)
    ]
    assert not offenders, offenders


def test_the_check_catches_a_read(tmp_path: Path) -> None:
    bad = tmp_path / "reader.py"
    bad.write_text(
        "from freezegui.core.structure.tree import _ints\n"
        "def f(tree, node):\n    return tree._occ_start[node.index], node._children, self._children\n"
    )
    assert len(_offenders(bad, _private_names())) == 3  # the import and two reads; self's is its own
