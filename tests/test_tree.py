"""build_tree against a plain recursive walk: same modules in the same order, same parameter
occurrences, tensors counted once by identity, subtree ranges and totals right."""

from __future__ import annotations

import sys
import warnings

import pytest
import torch
from hypothesis import given, settings
from torch import nn

from freezegui.core.structure.tree import ModuleTree, build_tree
from tests import models
from tests.strategies import module_graphs


def _reference(model: nn.Module) -> dict:
    """What the tree must hold, from the most obvious recursive walk (small models only)."""
    paths: list[str] = []
    modules: list[nn.Module] = []
    parent: list[int] = []
    end: list[int] = []
    occurrences: list[tuple[str, torch.Tensor]] = []  # (full name, tensor) in model order

    def visit(module: nn.Module, path: str, up: int) -> None:
        i = len(modules)
        paths.append(path)
        modules.append(module)
        parent.append(up)
        end.append(-1)
        for name, p in module._parameters.items():
            if p is not None:
                occurrences.append((f"{path}.{name}" if path else name, p))
        for name, child in module._modules.items():
            if child is not None:
                visit(child, f"{path}.{name}" if path else name, i)
        end[i] = len(modules)

    visit(model, "", 0)
    unique: dict[int, torch.Tensor] = {}
    names: dict[int, list[str]] = {}
    for name, p in occurrences:
        unique.setdefault(id(p), p)
        names.setdefault(id(p), []).append(name)
    return {
        "paths": paths,
        "modules": modules,
        "parent": parent,
        "end": end,
        "occurrences": occurrences,
        "tensors": list(unique.values()),
        "names": [names[id(p)] for p in unique.values()],
    }


def _assert_matches_reference(tree: ModuleTree, model: nn.Module) -> None:
    ref = _reference(model)
    assert tree.paths == ref["paths"]
    assert len(tree.modules) == len(ref["modules"])
    assert all(a is b for a, b in zip(tree.modules, ref["modules"]))
    assert list(tree._parent) == ref["parent"] == tree.node_parent.tolist()
    assert tree.node_end.tolist() == ref["end"] == list(tree._end)
    occ = [(tree.occurrence_path(o), tree.tensors[p]) for o, p in enumerate(tree.occ_param.tolist())]
    assert [name for name, _ in occ] == [name for name, _ in ref["occurrences"]]
    assert all(a is b for (_, a), (_, b) in zip(occ, ref["occurrences"]))
    assert len(tree.tensors) == len(ref["tensors"])
    assert all(a is b for a, b in zip(tree.tensors, ref["tensors"]))
    assert [info.names for info in tree.params] == ref["names"]
    assert tree.numel.tolist() == [p.numel() for p in ref["tensors"]]
    assert tree.requires_grad.tolist() == [p.requires_grad for p in ref["tensors"]]
    assert tree.element_size.tolist() == [p.element_size() for p in ref["tensors"]]
    for i, path in enumerate(ref["paths"]):  # subtree totals: each tensor once, by identity
        prefix = f"{path}." if path else ""
        inside = {id(p): p.numel() for name, p in ref["occurrences"] if name.startswith(prefix)}
        assert tree.total[i] == sum(inside.values()), path
        assert tree.nparams[i] == len(inside), path
    # Every node's rows: its direct parameters, then its children, each knowing its place.
    for node in tree.nodes:
        assert node.has_rows() == (node.child_count() > 0)
        assert node.n_params == len(node.params)
        for row in range(node.child_count()):
            item = node.child_at(row)
            assert item.row == row and item.parent is node
        for entry in node.params:  # the public occurrence number names the same occurrence
            assert tree.occurrence_path(entry.occurrence) == entry.path
            assert tree.occ_node[entry.occurrence] == node.index
    assert tree.occ_node.tolist() == list(tree.occurrence_nodes())


@settings(max_examples=150, deadline=None)
@given(model=module_graphs())
def test_build_matches_a_plain_walk_on_random_graphs(model: nn.Module) -> None:
    _assert_matches_reference(build_tree(model), model)


@pytest.mark.parametrize(
    "make",
    [models.MLP, models.TiedLM, models.SmallConvNet, models.NumberedExperts, lambda: models.wide_model(600)],
    ids=["mlp", "tied", "convnet", "experts", "wide"],
)
def test_build_matches_a_plain_walk_on_fixture_models(make) -> None:
    model = make()
    _assert_matches_reference(build_tree(model), model)


def test_torchscript_module_dicts_are_walked() -> None:
    """TorchScript modules keep their children and parameters in wrappers that are not dicts."""
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated, still loadable
        scripted = torch.jit.script(model)
    tree = build_tree(scripted)
    assert tree.paths == ["", "0", "1", "2"]
    assert [info.names for info in tree.params] == [["0.weight"], ["0.bias"], ["2.weight"], ["2.bias"]]
    assert tree.total_params == sum(p.numel() for p in model.parameters())


def test_a_chain_deeper_than_the_recursion_limit_builds() -> None:
    depth = sys.getrecursionlimit() + 500
    model: nn.Module = nn.Linear(1, 1)
    for _ in range(depth):
        model = nn.Sequential(model)
    tree = build_tree(model)
    assert len(tree.nodes) == depth + 1
    assert tree.node_end.tolist() == [depth + 1] * (depth + 1)
    assert tree.paths[-1] == ".".join(["0"] * depth)
    assert tree.total.tolist() == [2] * (depth + 1)


def test_made_rows_report_what_a_reader_has_made() -> None:
    """The item model signals changes only for rows that exist: the tree says which those are."""
    tree = build_tree(models.SmallConvNet())
    features = tree.index_of("features")
    assert tree.made_node(features) is None and tree.fetched_under(tree.root).tolist() == []
    assert tree.root.made_rows() is None
    tree.root.children  # noqa: B018 - makes the root's child modules
    assert tree.made_node(features) is tree.node("features")
    assert tree.fetched_under(tree.root).tolist() == [0]
    n_kids = len(tree.root.children)
    assert tree.root.made_rows() == (tree.root.n_params, tree.root.n_params + n_kids - 1)
    conv = tree.node("features.0")
    conv.params  # noqa: B018 - parameter rows only
    assert conv.made_rows() == (0, conv.n_params - 1)
    assert set(tree.fetched_under(tree.node("features")).tolist()) == {features, conv.index}
    with pytest.raises(ValueError):
        tree.node_parent[1] = 5  # the public arrays are views of the tree's own: read-only
