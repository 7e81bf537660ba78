"""Schedule edits in the core: undoable stage lists, their checks, and the tree as a stage leaves it."""

from __future__ import annotations

import numpy as np
import pytest

from freezegui.core.editing import stages as se
from freezegui.core.editing.document import Document
from freezegui.core.errors import RuleError
from freezegui.core.lr.groups import stage_states
from freezegui.core.rules.keys import Stage
from freezegui.core.rules.ruleset import RuleSet
from tests.models import SmallConvNet, tiny_bert


def _doc() -> Document:
    doc = Document.from_model(SmallConvNet(), "py:tests.models:SmallConvNet")
    doc.apply_ruleset(RuleSet.loads("default: freeze\nrules: [{train: fc}]"))
    doc.selection.mark_saved()
    return doc


def test_parse_stage_rules() -> None:
    rules = se.parse_stage_rules("train: layer4; freeze: layer4.0\nfc.*", 0.5)
    assert [(r.action, r.pattern.text, r.lr_scale) for r in rules] == [
        ("train", "layer4", 0.5),
        ("freeze", "layer4.0", None),
        ("train", "fc.*", 0.5),
    ]
    assert se.parse_stage_rules("param:fc.weight")[0].pattern.params_only
    for text, scale in (("", None), ("train:", None), ("freeze: x", 2.0), ("x", 0.0), ("x", float("nan"))):
        with pytest.raises(RuleError):
            se.parse_stage_rules(text, scale)


def test_insert_keeps_the_file_order_and_joins_a_stage_at_the_same_point() -> None:
    r = se.parse_stage_rules
    stages = se.insert_stage([], "step", 10, r("a"))
    stages = se.insert_stage(stages, "epoch", 1, r("b"))
    stages = se.insert_stage(stages, "step", 5, r("c"))
    stages = se.insert_stage(stages, "step", 10, r("d"))
    assert [(s.label, [x.pattern.text for x in s.rules]) for s in stages] == [
        ("step 5", ["c"]),
        ("step 10", ["a", "d"]),
        ("epoch 1", ["b"]),
    ]
    assert [s.label for s in se.move_stage(stages, 3, -5)] == ["epoch 1", "step 5", "step 10"]
    assert [s.label for s in se.remove_stage(stages, 2)] == ["step 5", "epoch 1"]


def test_set_schedule_is_checked_undoable_and_saved(tmp_path) -> None:
    doc = _doc()
    good = [Stage("step", 3, se.parse_stage_rules("features.3"))]
    depth = len(doc.selection._undo)
    for bad, words in (
        ([Stage("step", 3, se.parse_stage_rules("nope"))], "matches no parameter"),
        ([*good, Stage("step", 2, se.parse_stage_rules("features.0"))], "must come after step 3"),
        ([Stage("step", 3, [])], "has no rule"),
    ):
        with pytest.raises(RuleError, match=words):
            doc.set_schedule(bad)
        assert doc.schedule == [] and len(doc.selection._undo) == depth
    assert doc.set_schedule(good, label="Stage at step 3")
    assert not doc.set_schedule(good)  # the same stages: no edit
    assert doc.selection.is_modified and doc.selection.undo_label == "Stage at step 3"
    path = doc.save_rules(tmp_path / "r.yaml")
    assert [s.label for s in RuleSet.load(path).schedule] == ["step 3"]
    doc.selection.undo()
    assert doc.schedule == [] and doc.selection.is_modified
    doc.selection.redo()
    assert doc.schedule == good and not doc.selection.is_modified


def test_opening_a_file_is_one_undo_step(tmp_path) -> None:
    doc = _doc()
    path = tmp_path / "r.yaml"
    path.write_text(
        "default: freeze\nrules: [{train: fc, lr_scale: 3}]\n"
        "schedule:\n  - at: {step: 2}\n    rules: [{train: features.0}]\n"
    )
    doc.open_rules(path)
    assert doc.selection.undo_label == "Open r.yaml" and len(doc.selection._undo) == 2
    assert doc.selection.lr_scale_of(doc.tree.node("fc")) == 3.0 and len(doc.schedule) == 1
    doc.selection.undo()
    assert doc.schedule == [] and (doc.selection.scales == 1.0).all()


def test_stage_view_equals_the_rules_the_engine_runs() -> None:
    doc = Document.from_model(tiny_bert(), "py:tests.models:tiny_bert")
    doc.apply_ruleset(
        RuleSet.loads(
            "default: freeze\nrules: [{train: classifier, lr_scale: 2}, {train: bert.pooler}]\n"
            "schedule:\n"
            "  - at: {step: 2}\n    rules: [{train: bert.encoder.layer.1, lr_scale: 0.5}]\n"
            "  - at: {step: 4}\n    rules: [{train: bert.encoder.*}, {freeze: bert.pooler}]\n"
        )
    )
    doc.selection.set_lr_scale(doc.tree.node("bert.pooler"), 0.25)
    states = stage_states(doc.tree, doc.to_ruleset())
    for k, (mask, scales) in enumerate(states):
        view = doc.stage_view(k).selection
        assert (view.trainable == mask).all(), k
        assert np.allclose(view.effective_scales(), scales), k
    assert doc.stage_view(0).selection.trainable_names() == doc.selection.trainable_names()
    view = doc.stage_view(2).selection
    assert view.check_state(doc.tree.node("bert.encoder")).value == "train"
    assert view.counts().trainable > doc.selection.counts().trainable
    with pytest.raises(IndexError):
        doc.stage_view(3)
