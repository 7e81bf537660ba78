"""The app's Schedule editor, the tree at a stage and stage marks on the loss chart (issue 13, the app)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QModelIndex, Qt

from freezegui.app.tree.columns import COL_LR, COL_NAME, COL_TRAINABLE
from freezegui.core.editing.document import Document
from freezegui.core.rules.ruleset import RuleSet
from tests.models import SmallConvNet

HEAD_ONLY = "default: freeze\nrules: [{train: fc}]"
SCALED_SCHEDULE = """\
default: freeze
rules:
  - {train: fc, lr_scale: 2.0}
schedule:
  - at: {step: 3}
    rules: [{train: features.3, lr_scale: 0.5}]
  - at: {epoch: 1}
    rules: [{train: features.0}]
"""


def _open(window) -> Document:
    doc = Document.from_model(SmallConvNet(), "py:tests.models:SmallConvNet")
    window.set_document(doc)
    doc.apply_ruleset(RuleSet.loads(HEAD_ONLY))
    doc.selection.mark_saved()
    return doc


def _editor(window, *, unit: str = "step", at: int = 3, rules: str = "", scale: str = ""):
    window.action("schedule").trigger()
    dialog = window.schedule_dialog
    dialog.unitCombo.setCurrentIndex(dialog.unitCombo.findData(unit))
    dialog.atSpin.setValue(at)
    dialog.rulesEdit.setText(rules)
    dialog.scaleEdit.setText(scale)
    return dialog


def _cells(dialog) -> list[tuple[str, ...]]:
    table = dialog.table
    return [tuple(table.item(r, c).text() for c in range(3)) for r in range(table.rowCount())]


def _cell(window, path: str, column: int, role=Qt.ItemDataRole.DisplayRole):
    doc = window.document
    index = window.tree_model.index_of(doc.tree.node(path)).siblingAtColumn(column)
    return window.tree_model.data(index, role)


def test_add_a_stage_save_undo_redo(window, dialogs, tmp_path: Path) -> None:
    doc = _open(window)
    dialog = _editor(window, at=3, rules="train: features.3", scale="0.5")
    dialog.buttons["add"].click()
    assert _cells(dialog) == [("step 3", "train: features.3", "0.5")]
    assert [(s.unit, s.at) for s in doc.schedule] == [("step", 3)]
    assert doc.selection.is_modified and window.action("undo").isEnabled()
    assert doc.selection.undo_label == "Stage at step 3"
    path = tmp_path / "staged.yaml"
    assert window.controller.save_rules_as(path)
    saved = RuleSet.load(path)
    assert "schedule:" in path.read_text() and saved.schedule[0].rules[0].lr_scale == 0.5
    assert not doc.selection.is_modified
    window.action("undo").trigger()
    assert doc.schedule == [] and dialog.table.rowCount() == 0 and doc.selection.is_modified
    assert "schedule" not in doc.to_ruleset().to_dict()
    window.action("redo").trigger()
    assert _cells(dialog) == [("step 3", "train: features.3", "0.5")] and not doc.selection.is_modified
    dialog.atSpin.setValue(3)  # the same point again: the rules join that stage
    dialog.rulesEdit.setText("freeze: features.3.bias")
    dialog.scaleEdit.clear()
    dialog.buttons["add"].click()
    assert _cells(dialog) == [("step 3", "train: features.3 · freeze: features.3.bias", "0.5")]


def test_bad_input_says_one_line_and_changes_nothing(window, dialogs) -> None:
    doc = _open(window)
    dialog = _editor(window, at=5, rules="train: features.3")
    dialog.buttons["add"].click()
    depth = len(doc.selection._undo)
    cases = [
        ("train: nope", "", "matches no parameter"),
        ("train: features.[", "", "features.["),
        ("", "", "at least one rule"),
        ("train: features.0", "abc", "must be a number"),
        ("train: features.0", "-1", "> 0"),
        ("freeze: features.0", "2", "train:"),
    ]
    for rules, scale, words in cases:
        dialog.rulesEdit.setText(rules)
        dialog.scaleEdit.setText(scale)
        assert not dialog.add()
        message = dialogs.texts("critical")[-1]
        assert words in message and "\n" not in message, (rules, message)
    assert len(doc.schedule) == 1 and len(doc.selection._undo) == depth
    dialog.atSpin.setValue(9)
    dialog.rulesEdit.setText("train: features.0")
    dialog.scaleEdit.clear()
    assert dialog.add()
    dialog.table.selectRow(1)
    assert not dialog.move_selected(-1)  # step 9 before step 5: out of order, refused
    assert "must come after" in dialogs.texts("critical")[-1]
    assert [s.at for s in doc.schedule] == [5, 9]
    dialog.unitCombo.setCurrentIndex(dialog.unitCombo.findData("epoch"))
    dialog.atSpin.setValue(1)
    dialog.rulesEdit.setText("train: features.1")
    assert dialog.add()
    dialog.table.selectRow(2)
    assert dialog.move_selected(-1) and [s.label for s in doc.schedule] == ["step 5", "epoch 1", "step 9"]
    assert dialog.selected_stage() == 2
    assert dialog.remove_selected() and [s.label for s in doc.schedule] == ["step 5", "step 9"]
    dialog.table.selectRow(0)  # picking a stage fills the form; Replace stores the edited form
    assert (dialog.atSpin.value(), dialog.rulesEdit.text()) == (5, "train: features.3")
    dialog.atSpin.setValue(7)
    dialog.rulesEdit.setText("train: features.3; freeze: features.3.bias")
    dialog.scaleEdit.setText("0.25")
    dialog.buttons["replace"].click()
    assert _cells(dialog)[0] == ("step 7", "train: features.3 · freeze: features.3.bias", "0.25")
    assert doc.selection.undo_label == "Edit stage 1"
    dialog.table.selectRow(0)
    dialog.atSpin.setValue(12)  # after step 9: out of order, refused
    assert not dialog.replace() and "must come after" in dialogs.texts("critical")[-1]
    assert [s.at for s in doc.schedule] == [7, 9]


def test_unfreeze_the_selected_module_and_the_lock(window, dialogs) -> None:
    doc = _open(window)
    dialog = _editor(window, at=4)
    window.tree_pane.reveal("features.0")
    assert dialog.unfreeze_selected()  # no stage picked: a stage at the step above
    assert _cells(dialog) == [("step 4", "train: features.0", "")]
    dialog.table.selectRow(0)
    window.tree_pane.reveal("features.1")
    dialog.buttons["unfreeze"].click()  # into the picked stage
    assert _cells(dialog)[0][1] == "train: features.0 · train: features.1"
    window.set_editing_locked(True, "training")
    assert not dialog.buttons["add"].isEnabled() and not dialog.buttons["remove"].isEnabled()
    dialog.rulesEdit.setText("train: features.3")
    assert not dialog.add() and not dialog.remove_selected() and len(doc.schedule) == 1
    window.set_editing_locked(False)
    assert dialog.buttons["add"].isEnabled()


def test_opening_a_file_with_scales_and_a_schedule_is_one_undo_step(window, tmp_path: Path) -> None:
    doc = _open(window)
    path = tmp_path / "scaled.yaml"
    path.write_text(SCALED_SCHEDULE)
    before = len(doc.selection._undo)
    doc.open_rules(path)
    assert len(doc.selection._undo) == before + 1 and not doc.selection.is_modified
    assert len(doc.schedule) == 2 and doc.selection.lr_scale_of(doc.tree.node("fc")) == 2.0
    doc.selection.undo()
    assert doc.schedule == [] and (doc.selection.scales == 1.0).all()
    assert doc.selection.trainable_names() == ["fc.weight", "fc.bias"]
    doc.selection.redo()
    assert len(doc.schedule) == 2 and not doc.selection.is_modified


def test_the_tree_at_a_stage_is_read_only_with_a_banner(qtbot, window, tmp_path: Path) -> None:
    doc = _open(window)
    path = tmp_path / "scaled.yaml"
    path.write_text(SCALED_SCHEDULE)
    doc.open_rules(path)
    window.set_document(doc)  # as the window shows a document with a schedule
    bar = window.stage_bar
    assert bar.isVisible() and bar.picker.count() == 3
    assert bar.picker.itemText(1) == "Stage 1 — at step 3" and not bar.banner.isVisible()
    check = Qt.ItemDataRole.CheckStateRole
    assert _cell(window, "features.3", COL_NAME, check) == Qt.CheckState.Unchecked
    resets: list[int] = []
    window.tree_model.modelReset.connect(lambda: resets.append(1))
    base_total = doc.selection.counts().trainable
    bar.picker.setCurrentIndex(1)
    assert bar.banner.isVisible()
    stage_total = base_total + doc.selection.counts(doc.tree.node("features.3")).total
    assert window.totals.trainable.text() == f"{stage_total:,}"  # the totals follow the tree
    assert bar.banner_label.text() == "Showing stage 1 of 2 (at step 3, read-only) —"
    assert _cell(window, "features.3", COL_NAME, check) == Qt.CheckState.Checked
    assert _cell(window, "features.3", COL_LR) == "0.5" and _cell(window, "fc", COL_LR) == "2"
    assert _cell(window, "features.0", COL_NAME, check) == Qt.CheckState.Unchecked
    conv = doc.tree.node("features.3")
    assert _cell(window, "features.3", COL_TRAINABLE) == f"{doc.selection.counts(conv).total:,}"
    index = window.tree_model.index_of(doc.tree.node("features.0"))
    assert not window.tree_model.flags(index) & Qt.ItemFlag.ItemIsUserCheckable
    assert not window.tree_model.setData(index, Qt.CheckState.Checked, check)
    bar.picker.setCurrentIndex(2)
    assert "stage 2 of 2 (at epoch 1" in bar.banner_label.text()
    assert _cell(window, "features.0", COL_NAME, check) == Qt.CheckState.Checked
    qtbot.mouseClick(bar.back, Qt.MouseButton.LeftButton)
    assert not bar.banner.isVisible() and bar.picker.currentIndex() == 0 and not resets
    assert window.totals.trainable.text() == f"{base_total:,}"
    assert _cell(window, "features.3", COL_NAME, check) == Qt.CheckState.Unchecked
    assert window.tree_model.flags(index) & Qt.ItemFlag.ItemIsUserCheckable
    bar.picker.setCurrentIndex(2)
    doc.selection.undo()  # the file's step goes: no schedule, the picker hides and editing is back
    assert not bar.isVisible() and bar.shown == 0
    assert window.tree_model.flags(index) & Qt.ItemFlag.ItemIsUserCheckable


def test_model_tester_on_a_stage(qtmodeltester, window, tmp_path: Path) -> None:
    doc = _open(window)
    path = tmp_path / "scaled.yaml"
    path.write_text(SCALED_SCHEDULE)
    doc.open_rules(path)
    window.stage_bar.refresh()
    window.stage_bar.show_stage(1)
    qtmodeltester.check(window.tree_model)
    assert window.tree_model.rowCount(QModelIndex()) == 1


@pytest.mark.slow
def test_a_run_marks_the_stage_on_the_loss_chart(qtbot, window) -> None:
    pytest.importorskip("PySide6.QtCharts")
    doc = _open(window)
    dialog = _editor(window, at=3, rules="train: features.3")
    assert dialog.add()
    panel = window.training_panel
    panel.stepsSpin.setValue(6)
    panel.batchSpin.setValue(4)
    panel.imageSizeSpin.setValue(16)
    panel.deviceCombo.setCurrentIndex(panel.deviceCombo.findData("cpu"))
    texts: list[str] = []
    set_text = panel.statusLabel.setText
    panel.statusLabel.setText = lambda text: (texts.append(text), set_text(text))
    with qtbot.waitSignal(panel.runEnded, timeout=120_000) as ended:
        assert panel.start()
    report = ended.args[0]
    assert report is not None and report.ok, report.lines()
    chart = panel.lossChart
    assert [(m.step, m.stage) for m in chart.marks] == [(3, 1)]
    line = chart.marks[0].line
    xs = {line.at(i).x() for i in range(line.count())}
    assert xs == {3.0} and line.count() == 2 and line in chart.chart().series()
    assert line.at(0).y() == chart.y_axis.min() and line.at(1).y() == chart.y_axis.max()
    assert any(t.endswith("· stage 1 of 1") for t in texts) and any(
        "· before stage 1 of 1" in t for t in texts
    )
    assert np.isfinite([p.y() for p in chart.series.points()]).all()
    chart.reset(5)
    assert chart.marks == [] and line not in chart.chart().series()
    assert len(doc.schedule) == 1 and not window.controller.locked  # the run changed no document state
