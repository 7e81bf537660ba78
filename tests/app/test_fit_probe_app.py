"""Fit to GPU (Cost dock) previews and applies one undoable edit; Probe fills the RGN column."""

from __future__ import annotations

import numpy as np

from freezegui.app.tree.columns import COL_RGN
from freezegui.core.editing.document import Document
from tests.plan_models import ARCHS

GIB = 1024**3


def _open(qtbot, window, arch: str) -> Document:
    qtbot.waitExposed(window)
    window._ensure_core()
    model = next(a for a in ARCHS if a.name == arch).make()
    doc = Document.from_model(model, "torchvision:resnet18")
    window.set_document(doc)
    return doc


def test_fit_dialog_previews_then_applies_one_undoable_edit(qtbot, window) -> None:
    from freezegui.app.dialogs.fit_dialog import show_fit_dialog

    doc = _open(qtbot, window, "resnet18")
    panel = window.cost_panel
    panel.batch.setValue(2)
    panel.length.setValue(32)
    before = doc.selection.trainable.copy()
    dialog = show_fit_dialog(window, panel)
    assert dialog is not None and window.findChild(type(panel.gpu), "costGpu") is not None
    dialog.gpu.setValue(0.1)  # between head only (~50 MiB) and the whole model (~190 MiB)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.result is not None or "No fit" in dialog.status.text(), timeout=120_000)
    assert dialog.result is not None, dialog.status.text()
    result = dialog.result
    assert (
        result.peak_bytes <= result.budget_bytes
        and result.next_plan.per_rank.peak_bytes > result.budget_bytes
    )
    assert window.tree_model._stage is not None  # the preview, read-only
    assert np.array_equal(doc.selection.trainable, before)  # nothing applied yet
    dialog.apply.click()
    assert window.tree_model._stage is None
    assert np.array_equal(doc.selection.trainable, result.candidate.mask)
    assert doc.selection.undo_label.startswith("Fit to GPU")
    doc.selection.undo()
    assert np.array_equal(doc.selection.trainable, before)


def test_fit_dialog_says_why_in_one_line_and_cancel_changes_nothing(qtbot, window) -> None:
    from freezegui.app.dialogs.fit_dialog import show_fit_dialog

    doc = _open(qtbot, window, "convnet")  # no repeated block list
    dialog = show_fit_dialog(window, window.cost_panel)
    dialog.gpu.setValue(100)
    dialog.start()
    qtbot.waitUntil(lambda: "No fit" in dialog.status.text(), timeout=60_000)
    assert "no repeated block list" in dialog.status.text() and "\n" not in dialog.status.text()
    dialog.reject()
    assert window.tree_model._stage is None and not doc.selection.can_undo


def test_probe_fills_the_rgn_column_and_suggest_trains_top_blocks(qtbot, window, dialogs) -> None:
    from freezegui.app.docks.probe_runner import start_probe, suggest_from_probe
    from freezegui.app.tree.probe_values import probe_values

    doc = _open(qtbot, window, "bert")
    window.training_panel.batchSpin.setValue(2)
    window.training_panel.seqLenSpin.setValue(8)
    job = start_probe(window, batches=2)
    qtbot.waitUntil(lambda: job.result is not None, timeout=120_000)
    values = probe_values(doc.tree)
    assert values is not None and np.isfinite(values.rgn[doc.tree.index_of("bert.encoder.layer.3")])
    model = window.tree_model
    root = model.index(0, 0)
    bert = model.index(0, 0, root)
    cell = model.cell(bert.siblingAtColumn(COL_RGN))
    assert cell.text and cell.background is not None
    worker = suggest_from_probe(window, k=2)
    qtbot.waitUntil(lambda: doc.selection.can_undo, timeout=60_000)
    assert worker is not None and doc.selection.undo_label.startswith("Suggest from probe")
    trained = [
        i for i in range(12) if doc.selection.counts(doc.tree.node(f"bert.encoder.layer.{i}")).trainable
    ]
    ranked = sorted(range(12), key=lambda i: -values.rgn[doc.tree.index_of(f"bert.encoder.layer.{i}")])
    assert sorted(trained) == sorted(ranked[:2])
    assert doc.selection.counts(doc.tree.node("classifier")).trainable > 0
