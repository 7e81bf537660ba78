"""The app's LoRA column, counts, settings dialog and Suggest actions (issue 14, the app part)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from PySide6.QtCore import QModelIndex, Qt
from torch import nn

from freezegui.app.tree.model import COL_LORA, COL_NAME, COL_TRAINABLE
from freezegui.core.editing.document import Document
from freezegui.core.structure.counting import format_count
from tests.app.conftest import open_rules
from tests.models import tiny_llama

SPEC = "py:tests.models:tiny_llama"
CHECK = Qt.ItemDataRole.CheckStateRole
CHECKED, PARTIAL = Qt.CheckState.Checked, Qt.CheckState.PartiallyChecked


def _open(window) -> Document:
    doc = Document.from_model(tiny_llama(), SPEC)
    window.set_document(doc)
    return doc


def _lora_index(window, path: str) -> QModelIndex:
    return window.tree_model.index_of(window.document.tree.node(path)).siblingAtColumn(COL_LORA)


def _tick(window, path: str, column: int = COL_LORA, state=CHECKED) -> bool:
    index = _lora_index(window, path).siblingAtColumn(column)
    return window.tree_model.setData(index, state, CHECK)


def _shown(window, name: str) -> int:
    return int(window.totals.findChild(object, name).text().replace(",", ""))


def _linear_adapters(module: nn.Module, r: int) -> int:
    """r·(in + out) for every Linear under ``module``: what the counts must grow by."""
    return sum(r * (m.in_features + m.out_features) for m in module.modules() if isinstance(m, nn.Linear))


def test_tick_lora_on_subtree_counts_undo_save_reopen(qtbot, window, dialogs, tmp_path: Path) -> None:
    doc = _open(window)
    window.edits.freeze_all()
    sel, model = doc.selection, window.tree_model
    before = _shown(window, "trainableCount")
    attn = "model.layers.1.self_attn"
    assert model.flags(_lora_index(window, attn)) & Qt.ItemFlag.ItemIsUserCheckable
    assert _tick(window, attn)
    expected = _linear_adapters(doc.tree.node(attn).module, sel.lora_settings.r)
    assert expected == 8 * ((16 + 16) * 2 + (16 + 8) * 2)  # q, o: 16->16; k, v: 16->8 (one KV head)
    assert _shown(window, "trainableCount") == before + expected
    assert _shown(window, "loraCount") == expected
    assert window.totals.lora.isVisibleTo(window.totals)
    assert sel.adapted_names() == [f"{attn}.{p}" for p in ("q_proj", "k_proj", "v_proj", "o_proj")]
    # The column: ticked on the subtree, partial above it, no box where PEFT adapts nothing.
    assert model.data(_lora_index(window, attn), CHECK) == CHECKED
    assert model.data(_lora_index(window, "model.layers.1"), CHECK) == PARTIAL
    assert model.data(_lora_index(window, "model.layers.1.input_layernorm"), CHECK) is None
    assert (
        not model.flags(_lora_index(window, "model.layers.1.input_layernorm"))
        & Qt.ItemFlag.ItemIsUserCheckable
    )
    root = model.index_of(doc.tree.root).siblingAtColumn(COL_TRAINABLE)
    assert model.data(root) == format_count(expected)  # the row counts include the adapters too
    window.edits.undo()
    assert sel.adapted_names() == [] and _shown(window, "trainableCount") == before
    assert not window.totals.lora.isVisibleTo(window.totals)
    window.edits.redo()
    assert _shown(window, "loraCount") == expected
    path = tmp_path / "llama_lora.yaml"
    assert window.controller.save_rules_as(path)
    saved = yaml.safe_load(path.read_text())["lora"]
    assert saved["r"] == 8 and saved["targets"]
    # Reopen: a fresh document of the same model, the rule file through the controller.
    doc2 = _open(window)
    assert open_rules(qtbot, window, path)  # read off the UI thread, then applied
    assert doc2.selection.adapted_names() == sel.adapted_names()
    assert _shown(window, "loraCount") == expected and not doc2.selection.is_modified


def test_train_and_lora_on_one_module_is_refused_with_a_message(window, dialogs) -> None:
    doc = _open(window)  # everything trains: an adapter would clash with the trained weights
    sel = doc.selection
    trainable = sel.trainable.copy()
    assert not _tick(window, "model.layers.0.self_attn.q_proj")
    assert "trained fully" in dialogs.texts("warning")[-1]
    assert (sel.trainable == trainable).all() and not sel.adapted.any() and not sel.can_undo
    window.edits.freeze_all()
    assert _tick(window, "model.layers.0.self_attn.q_proj")
    depth = len(dialogs.shown)
    assert not _tick(window, "model.layers.0", column=COL_NAME)  # Train on a subtree with an adapter
    assert "adapted" in dialogs.texts("warning")[-1] and len(dialogs.shown) == depth + 1
    assert not sel.trainable.any() and sel.adapted_names() == ["model.layers.0.self_attn.q_proj"]


def test_lora_column_respects_the_training_lock(window) -> None:
    doc = _open(window)
    window.edits.freeze_all()
    window.set_editing_locked(True, "training")
    index = _lora_index(window, "model.layers.0.mlp")
    assert not window.tree_model.flags(index) & Qt.ItemFlag.ItemIsUserCheckable
    assert not window.tree_model.setData(index, CHECKED, CHECK)
    window.action("loraAttention").trigger()
    assert not doc.selection.adapted.any()
    window.set_editing_locked(False)


def test_suggest_actions(window, dialogs) -> None:
    doc = _open(window)
    sel, tree = doc.selection, doc.tree
    window.action("loraAttention").trigger()  # also freezes the projections' own weights
    attn = [p for p in tree.paths if p.endswith(("q_proj", "k_proj", "v_proj", "o_proj"))]
    assert sel.adapted_names() == attn and len(attn) == 12
    window.action("loraAllLinear").trigger()
    linear = [tree.paths[i] for i, m in enumerate(tree.modules) if isinstance(m, nn.Linear)]
    assert sel.adapted_names() == [p for p in linear if p != "lm_head"]
    assert sel.counts().lora == sum(_linear_adapters(tree.node(p).module, 8) for p in sel.adapted_names())
    dialogs.number_answer = 1
    window.action("loraLastBlocks").trigger()
    assert sel.adapted_names() == [p for p in linear if p.startswith("model.layers.2.")]
    assert sel.undo_label == "LoRA on the last 1 blocks"
    window.action("loraRemove").trigger()
    assert not sel.adapted.any()


def test_settings_dialog_changes_rank_undoably_and_is_saved(qtbot, window, tmp_path: Path) -> None:
    from freezegui.app.dialogs.lora_settings import show_lora_settings

    doc = _open(window)
    window.edits.freeze_all()
    _tick(window, "model.layers.0.mlp")
    mlp = doc.tree.node("model.layers.0.mlp").module
    assert _shown(window, "loraCount") == _linear_adapters(mlp, 8)
    dialog = show_lora_settings(window)
    assert dialog is not None and dialog.rank.value() == 8
    dialog.rank.setValue(4)
    dialog.dora.setChecked(True)
    dialog.bias.setCurrentIndex(dialog.bias.findData("lora_only"))
    dialog.grab().save(str(tmp_path / "lora_settings.png"))
    dialog.accept()
    dora = 32 + 32 + 16  # a magnitude per output feature: gate, up (->32), down (->16)
    assert _shown(window, "loraCount") == _linear_adapters(mlp, 4) + dora
    assert doc.selection.undo_label == "LoRA settings" and doc.selection.is_modified
    path = tmp_path / "rules.yaml"
    window.controller.save_rules_as(path)
    saved = yaml.safe_load(path.read_text())["lora"]
    assert (saved["r"], saved["use_dora"], saved["bias"]) == (4, True, "lora_only")
    window.edits.undo()
    assert doc.selection.lora_settings.r == 8 and _shown(window, "loraCount") == _linear_adapters(mlp, 8)


def test_app_counts_equal_peft(window) -> None:
    """q_proj/v_proj adapted by ticking, lm_head trained: the totals bar shows PEFT's trainable count."""
    pytest.importorskip("peft")
    from peft import LoraConfig, get_peft_model

    doc = _open(window)
    window.edits.freeze_all()
    for path in doc.tree.paths:
        if path.endswith((".q_proj", ".v_proj")):
            assert _tick(window, path)
    assert _tick(window, "lm_head", column=COL_NAME)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], modules_to_save=["lm_head"])
    peft_model = get_peft_model(tiny_llama(), config)
    assert _shown(window, "trainableCount") == peft_model.get_nb_trainable_parameters()[0]


def test_model_tester_with_adapters(qtmodeltester, window) -> None:
    doc = _open(window)
    window.edits.freeze_all()
    window.edits.suggest_last_blocks(2)
    assert doc.selection.adapted.any()
    qtmodeltester.check(window.tree_model)


def test_space_in_the_lora_column_toggles_the_lora_box(qtbot, window) -> None:
    doc = _open(window)
    doc.selection.set_subtree(doc.tree.root, False)  # LoRA goes on frozen modules
    index = _lora_index(window, "model.layers.0.self_attn.q_proj")
    window.tree_pane.reveal("model.layers.0.self_attn.q_proj")
    window.tree_view.setCurrentIndex(index)  # no search: the view shows the adapter itself
    window.tree_view.setFocus()
    qtbot.keyClick(window.tree_view, Qt.Key.Key_Space)
    assert index.data(CHECK) == CHECKED
    assert doc.selection.lora_parameters() > 0
    assert index.siblingAtColumn(COL_NAME).data(CHECK) == Qt.CheckState.Unchecked  # Train untouched
    qtbot.keyClick(window.tree_view, Qt.Key.Key_Space)
    assert index.data(CHECK) != CHECKED
