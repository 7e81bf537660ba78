"""Selection: incremental counts always equal a full recount; ties; undo/redo; saved marker."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import freezegui
from freezegui.core.editing.selection import CheckState, Selection
from freezegui.core.structure.tree import build_tree
from tests import models


def _full_recount(sel: Selection) -> tuple[np.ndarray, np.ndarray]:
    return (
        sel.tree.subtree_sums(sel.trainable, elements=True),
        sel.tree.subtree_sums(sel.trainable, elements=False),
    )


def _brute_force(sel: Selection, node) -> int:
    """Unique trainable elements under ``node`` by identity, straight from the tensors' names."""
    seen = {}
    prefix = node.path + "." if node.path else ""
    for p in sel.tree.params:
        if any(n.startswith(prefix) for n in p.names):
            seen[p.index] = p.numel if sel.trainable[p.index] else 0
    return sum(seen.values())


def _tied_tree():
    return build_tree(models.TiedLM())


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.integers(0, 10_000),
            st.booleans(),
            st.sampled_from(["subtree", "param", "invert", "undo", "redo"]),
        ),
        max_size=25,
    )
)
def test_incremental_counts_match_full_recount(ops) -> None:
    tree = _tied_tree()
    sel = Selection(tree)
    entries = [e for n in tree.nodes for e in n.params]
    for pick, value, kind in ops:
        if kind == "subtree":
            sel.set_subtree(tree.nodes[pick % len(tree.nodes)], value)
        elif kind == "param":
            sel.set_param(entries[pick % len(entries)], value)
        elif kind == "invert":
            sel.invert(tree.nodes[pick % len(tree.nodes)])
        elif kind == "undo":
            sel.undo()
        else:
            sel.redo()
        full_elems, full_count = _full_recount(sel)
        assert np.array_equal(sel.node_trainable, full_elems)
        assert np.array_equal(sel.node_ntrain, full_count)
    for node in tree.nodes:
        assert sel.node_trainable[node.index] == _brute_force(sel, node)


def test_tied_weight_toggles_together_and_counts_once() -> None:
    model = models.TiedLM()
    tree = build_tree(model)
    sel = Selection(tree)
    total = sum(p.numel() for p in model.parameters())
    assert sel.counts().total == total
    sel.set_subtree(tree.node("head"), False)
    # The embedding is the same tensor: it froze too, and the root counts it once.
    assert sel.check_state(tree.node("embed")) is CheckState.FREEZE
    assert sel.counts().frozen == model.embed.weight.numel()
    assert sel.node_trainable[tree.node("embed").index] == 0
    sel.apply_to_model()
    assert not model.embed.weight.requires_grad


def test_check_states_and_partial() -> None:
    tree = build_tree(models.SmallConvNet())
    sel = Selection(tree)
    assert sel.check_state(tree.root) is CheckState.TRAIN
    sel.set_subtree(tree.node("features.0"), False)
    assert sel.check_state(tree.node("features")) is CheckState.PARTIAL
    assert sel.check_state(tree.root) is CheckState.PARTIAL
    assert sel.check_state(tree.node("features.2")) is CheckState.EMPTY  # ReLU has no parameters
    sel.set_subtree(tree.root, False)
    assert sel.check_state(tree.root) is CheckState.FREEZE


def test_undo_redo_and_saved_marker() -> None:
    tree = build_tree(models.SmallConvNet())
    sel = Selection(tree)
    assert not sel.is_modified
    start = sel.trainable.copy()
    sel.set_subtree(tree.root, False)
    sel.set_subtree(tree.node("fc"), True)
    assert sel.is_modified and sel.undo_label == "Train fc"
    sel.mark_saved()
    assert not sel.is_modified
    after_fc = sel.trainable.copy()
    sel.invert()
    assert sel.is_modified
    assert sel.undo()
    assert not sel.is_modified and np.array_equal(sel.trainable, after_fc)
    sel.undo()
    sel.undo()
    assert np.array_equal(sel.trainable, start) and not sel.can_undo
    assert sel.is_modified  # differs from the saved point
    sel.redo()
    sel.redo()
    assert not sel.is_modified
    # A new edit after undo discards redo; the saved point is then unreachable by redo.
    sel.undo()
    sel.set_subtree(tree.node("features"), True)
    assert not sel.can_redo and sel.is_modified


def test_no_op_edits_do_not_enter_history() -> None:
    tree = build_tree(models.MLP())
    sel = Selection(tree)
    assert not sel.set_subtree(tree.root, True)
    assert not sel.can_undo


def test_root_toggle_on_wide_model_counts() -> None:
    model = models.wide_model(5_000)
    tree = build_tree(model)
    sel = Selection(tree)
    assert sel.counts().total == sum(p.numel() for p in model.parameters())
    sel.set_subtree(tree.root, False)
    assert sel.counts().trainable == 0
    assert int(sel.node_trainable.max()) == 0


def test_selection_reads_model_flags(resnet18_10) -> None:
    freezegui.apply_rules(resnet18_10, freezegui.RuleSet.loads("default: freeze\nrules: [{train: fc}]"))
    sel = Selection(build_tree(resnet18_10))
    assert sel.counts().trainable == 5_130
    assert torch.is_tensor(sel.tree.tensors[0])
