"""The app's LR × column, its row edit and the Layer-wise decay… action (issue 13, the app part)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt

from freezegui.app.tree.columns import COL_LR, COL_NAME
from freezegui.core.editing.document import Document
from freezegui.core.lr.scales import layer_decay_preview
from tests.app.conftest import open_rules
from tests.models import MLP, GroupedViT, tiny_bert

BERT = "py:tests.models:tiny_bert"


def _open(window, model=None, spec: str = BERT) -> Document:
    doc = Document.from_model(model if model is not None else tiny_bert(), spec)
    window.set_document(doc)
    return doc


def _lr(window, path) -> str | None:
    doc = window.document
    if not isinstance(path, str):
        item = path
    else:
        item = doc.tree.node(path) if path in doc.tree.paths else _param(doc, path)
    return window.tree_model.data(window.tree_model.index_of(item).siblingAtColumn(COL_LR))


def _param(doc: Document, path: str):
    owner, name = path.rsplit(".", 1)
    node = doc.tree.node(owner)
    return next(p for p in node.params if p.name == name)


def test_edit_lr_of_a_module_mixed_parent_undo_save_reopen(qtbot, window, dialogs, tmp_path: Path) -> None:
    doc = _open(window)
    attn = "bert.encoder.layer.1.attention"
    assert _lr(window, attn) == "1" and _lr(window, "bert") == "1"
    dialogs.real_answer = 0.25
    window.lr.set_row_scale(doc.tree.node(attn))
    assert _lr(window, f"{attn}.self.query.weight") == "0.25"
    assert _lr(window, attn) == "0.25"
    assert _lr(window, "bert.encoder.layer.1") == "mixed" and _lr(window, "bert") == "mixed"
    assert _lr(window, "classifier") == "1"
    assert doc.selection.is_modified and window.action("undo").isEnabled()
    window.edits.undo()
    assert _lr(window, f"{attn}.self.query.weight") == "1" and _lr(window, "bert") == "1"
    window.edits.redo()
    path = tmp_path / "bert_lr.yaml"
    assert window.controller.save_rules_as(path)
    assert "lr_scale" in path.read_text()
    doc2 = _open(window)
    assert open_rules(qtbot, window, path)  # read off the UI thread, then applied
    assert window.document is doc2 and not doc2.selection.is_modified
    assert _lr(window, f"{attn}.output.dense.bias") == "0.25" and _lr(window, "bert") == "mixed"
    assert (doc2.selection.effective_scales() == doc.selection.effective_scales()).all()


def test_frozen_rows_are_blank_and_bad_input_changes_nothing(window, dialogs) -> None:
    doc = _open(window)
    window.edits.freeze_all()
    assert _lr(window, "classifier") is None and _lr(window, "classifier.weight") is None
    dialogs.real_answer = 4.0
    window.lr.set_row_scale(doc.tree.node("classifier"))  # frozen: says so, changes nothing
    assert "tick it to train first" in dialogs.texts("information")[-1]
    assert (doc.selection.scales == 1.0).all()
    window.edits.train_all()
    before = doc.selection.scales.copy()
    depth = len(doc.selection._undo)
    for bad in (0.0, -2.0, float("nan")):
        dialogs.real_answer = bad
        window.lr.set_row_scale(doc.tree.node("classifier"))
        assert dialogs.texts("critical")[-1].count("\n") == 0
        assert "> 0" in dialogs.texts("critical")[-1]
    assert (doc.selection.scales == before).all() and len(doc.selection._undo) == depth
    dialogs.real_answer = None  # cancelled
    window.lr.set_row_scale(doc.tree.node("classifier"))
    assert (doc.selection.scales == before).all()


def test_double_click_and_f2_edit_and_the_lock(qtbot, window, dialogs) -> None:

    doc = _open(window)
    dialogs.real_answer = 2.0
    window.resize(1400, 700)
    qtbot.waitExposed(window)
    index = window.view_index(doc.tree.node("classifier")).siblingAtColumn(COL_LR)
    window.tree_view.scrollTo(index)
    rect = window.tree_view.visualRect(index)
    assert window.tree_view.viewport().rect().contains(rect.center())
    viewport = window.tree_view.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())  # Qt wants a press first
    qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())
    assert _lr(window, "classifier.weight") == "2"
    window.tree_pane.reveal("bert.pooler")
    dialogs.real_answer = 3.0
    window.action("lrScale").trigger()
    assert _lr(window, "bert.pooler") == "3"
    window.tree_pane.reveal("bert.embeddings")
    window.tree_view.setFocus()
    dialogs.real_answer = 0.5
    qtbot.keyClick(window.tree_view, Qt.Key.Key_F2)  # the key, through the window's shortcut
    assert _lr(window, "bert.embeddings") == "0.5"
    window.set_editing_locked(True, "training")
    assert not window.action("lrScale").isEnabled() and not window.action("layerDecay").isEnabled()
    dialogs.real_answer = 5.0
    window.lr.set_row_scale(doc.tree.node("classifier"))
    window.lr.layer_decay(0.5)
    assert _lr(window, "classifier") == "2" and _lr(window, "bert.pooler") == "3"
    window.set_editing_locked(False)


@pytest.mark.parametrize("factory", [tiny_bert, GroupedViT])
def test_layer_decay_preview_then_column(window, dialogs, factory) -> None:
    doc = _open(window, factory(), spec=f"py:tests.models:{factory.__name__}")
    preview = layer_decay_preview(doc.tree, 0.9)
    dialogs.real_answer = 0.9
    dialogs.table_answer = False  # Cancel: nothing changes
    window.action("layerDecay").trigger()
    assert dialogs.tables[-1] == [(label, f"{s:.4g}") for label, s in preview]
    assert not doc.selection.is_modified
    dialogs.table_answer = True
    window.action("layerDecay").trigger()
    assert doc.selection.is_modified and len({s for _, s in preview}) > 2
    scales = doc.selection.effective_scales()
    for param in _all_params(doc):  # every parameter row shows its own effective scale
        assert _lr(window, param) == f"{scales[param.info.index]:.4g}"
    assert {f"{s:.4g}" for s in scales} == {text for _, text in dialogs.tables[-1]}
    if factory is tiny_bert:  # L = 2: embeddings 0.9^3, layer i 0.9^(2 - i), pooler/classifier 1
        assert _lr(window, "bert.embeddings") == f"{0.9**3:.4g}"
        assert _lr(window, "bert.encoder.layer.0") == "0.81" and _lr(window, "bert.encoder.layer.1") == "0.9"
        assert _lr(window, "classifier") == "1" and _lr(window, "bert") == "mixed"
    window.edits.undo()
    assert (doc.selection.effective_scales() == 1.0).all()


def _all_params(doc: Document):
    for node in doc.tree.nodes:
        yield from node.params


def test_layer_decay_bad_d_and_no_block_list(window, dialogs) -> None:
    doc = _open(window, MLP(), spec="py:tests.models:MLP")
    for bad in (0.0, 1.5):
        dialogs.real_answer = bad
        window.lr.layer_decay()
        assert "(0, 1]" in dialogs.texts("critical")[-1]
    window.lr.layer_decay(0.8)
    assert dialogs.tables == [] and "\n" not in dialogs.texts("critical")[-1]
    assert not doc.selection.is_modified


def test_model_tester_with_the_lr_column(qtmodeltester, window) -> None:
    doc = _open(window)
    window.lr.set_row_scale(doc.tree.node("bert.encoder.layer.0"), 0.5)
    window.tree_view.expandAll()
    qtmodeltester.check(window.tree_model)
    assert window.tree_model.headerData(COL_LR, Qt.Orientation.Horizontal) == "LR ×"
    assert window.tree_model.index(0, COL_NAME, QModelIndex()).isValid()


def test_screenshot_column_and_dialog(window) -> None:
    from freezegui.app.dialogs.table_dialog import TableDialog

    doc = _open(window)
    window.lr.set_row_scale(doc.tree.node("bert.encoder.layer.1.attention"), 0.25)
    window.resize(1700, 700)
    window.tree_view.expandToDepth(3)
    window.tree_view.expand(window.view_index(doc.tree.node("bert.encoder.layer.1")))
    rows = [(label, f"{s:.4g}") for label, s in layer_decay_preview(doc.tree, 0.9)]
    dialog = TableDialog("Layer-wise decay", "Layer-wise decay 0.9", ("Group", "LR ×"), rows, window)
    dialog.show()
    assert dialog.table.rowCount() == len(rows) > 2
    out = os.environ.get("FREEZEGUI_SHOTS")
    if out:
        window.grab().save(f"{out}/lr_window.png")
        dialog.grab().save(f"{out}/lr_dialog.png")
    dialog.close()
