"""Issue 22, the Cost dock as a first-time user reads it: items 1, 2, 3, 6, 11 and Pin and compare.

Each test reproduces what misled (a typed "8" read as 80 GiB, an incomplete plan shown green, a
LoRA suggestion leaving the base model training, the dock's unexplained wording) and checks the fix.
"""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette

from freezegui.core.editing.document import Document

GIB = 1024**3


def _bert(max_positions: int = 512):
    from transformers import BertConfig, BertForSequenceClassification

    cfg = BertConfig(
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=128,
        vocab_size=300,
        max_position_embeddings=max_positions,
    )
    return BertForSequenceClassification(cfg)


def _show(qtbot, window, model, spec="hf-config:bert", length=16):
    qtbot.waitExposed(window)
    window._ensure_core()
    qtbot.wait(50)
    panel = window.cost_panel
    panel.raise_()
    qtbot.waitUntil(lambda: panel.isVisible() and panel._shown)
    panel.batch.setValue(2)
    panel.length.setValue(length)
    with qtbot.waitSignal(panel.planShown, timeout=120_000):
        window.set_document(Document.from_model(model, spec))
    return panel


def test_item1_a_typed_gpu_size_is_not_completed_to_a_preset(qtbot, window) -> None:
    panel = _show(qtbot, window, _bert())
    for typed, gib in (("8", 8), ("4", 4), ("2", 2), ("1", 1), ("12.5", 12.5)):
        edit = panel.gpu.lineEdit()
        edit.selectAll()
        qtbot.keyClicks(edit, typed)
        qtbot.keyClick(edit, Qt.Key.Key_Return)
        assert panel.gpu.currentText() == typed  # before: "8" + Enter gave "80"
        assert panel.gpu_bytes() == gib * GIB
    assert panel.gpu.count() == 4  # Enter added no item either
    names = [panel.gpu.itemText(i) for i in range(panel.gpu.count())]
    assert any("H100" in n for n in names) and any("H200" in n for n in names)
    assert any("consumer" in n for n in names) and sum("A100" in n for n in names) == 2
    panel.gpu.setCurrentIndex(3)
    assert panel.gpu_bytes() == 141 * GIB


def test_item2_an_incomplete_plan_is_never_green(qtbot, window) -> None:
    panel = _show(qtbot, window, _bert(max_positions=32), length=16)
    assert panel.plan.step_ran and panel.verdict.property("fits") is True
    with qtbot.waitSignal(panel.planShown, timeout=120_000):
        panel.length.setValue(128)  # beyond max_position_embeddings: the forward cannot run
    assert not panel.plan.step_ran
    assert panel.verdict.property("fits") is None  # before: True, "Peak 203.1 MiB — fits"
    assert "at least" in panel.verdict.text() and "fits" not in panel.verdict.text().replace(
        "may not fit", ""
    )
    assert "#1b7f3b" not in panel.verdict.styleSheet()  # not green
    assert "activations" in panel.missing.text() and panel.missing.isVisible()
    assert "unknown" in panel.breakdown["activations"].text()
    panel.gpu.setCurrentText("0.0001")  # even the known part does not fit: that is a sure "no"
    assert panel.verdict.property("fits") is False and "does not fit" in panel.verdict.text()


def test_item3_a_lora_suggestion_freezes_the_base_model_and_leads_the_totals(qtbot, window) -> None:
    panel = _show(qtbot, window, _bert())
    doc = window.document
    window.action("loraAttention").trigger()
    counts = doc.selection.counts()
    head = doc.tree.total[doc.tree.index_of("classifier")]
    assert counts.lora > 0
    assert counts.trainable == counts.lora + head  # before: 90.8 % of the model kept training
    emb = doc.tree.index_of("bert.embeddings")
    assert doc.selection.counts(doc.tree.nodes[emb]).trainable == 0
    lead = window.totals.adapters
    assert lead.isVisible()
    assert re.fullmatch(r"adapters [\d.]+ K \(\d+\.\d %\)", lead.text()), lead.text()
    layout = window.totals.layout()
    assert layout.indexOf(lead) < layout.indexOf(window.totals.trainable)  # it leads
    share = float(lead.text().split("(")[1].split(" ")[0])
    assert share == pytest.approx(100 * counts.lora / counts.total, abs=0.06)
    assert panel is window.cost_panel


def test_item6_plain_words_and_a_tooltip_on_every_part(qtbot, window) -> None:
    from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QSpinBox

    panel = _show(qtbot, window, _bert())
    assert re.fullmatch(
        r"\d+ % of the compute of training everything; \d+ % of the memory of training everything",
        panel.ratio.text(),
    ), panel.ratio.text()  # before: "× of full fine-tuning: compute 1.00×"
    assert "×" not in panel.ratio.text()
    assert panel.length.specialValueText() == "default (32 tokens)"  # before: "default"
    body = panel.widget()
    for kind in (QSpinBox, QComboBox, QCheckBox):
        for w in body.findChildren(kind):
            assert w.toolTip(), w.objectName()
    for w in body.findChildren(QLabel):
        if w.isVisible() and w.text():
            assert w.toolTip(), w.text()
    assert "most of the peak" in panel.breakdown["temporary"].toolTip()
    # the bar has a scale: its right end is the GPU, and a tiny peak still shows as parts one can point at
    bar = panel.bar
    assert bar.scale_bytes == panel.gpu_bytes()
    segments = bar.segments()
    assert segments and all(rect.width() >= bar.MIN_PART_PX for rect, _, _ in segments)
    rect, name, _ = segments[0]
    assert name in bar.tip_at(rect.center())
    window.grab().save("/tmp/ux-cost.png")


def test_item6_image_models_say_their_default_size(qtbot, window) -> None:
    from tests.models import SmallConvNet

    panel = _show(qtbot, window, SmallConvNet(), spec="py:tests.models:SmallConvNet")
    assert panel.length_label.text() == "Image px"
    assert panel.length.specialValueText() == "default (64 px)"


def test_item11_the_cost_bar_follows_a_dark_palette(qtbot, window) -> None:
    panel = _show(qtbot, window, _bert())
    dark = QPalette()
    for role in (QPalette.ColorRole.Window, QPalette.ColorRole.Base, QPalette.ColorRole.AlternateBase):
        dark.setColor(role, QColor("#202124"))
    dark.setColor(QPalette.ColorRole.WindowText, QColor("#e8eaed"))
    panel.bar.setPalette(dark)
    image = panel.bar.grab().toImage()
    track = image.pixelColor(image.width() - 6, 12)  # inside the bar, right of the parts
    assert track.lightness() < 80  # before: a fixed #eeeeee strip


def test_pin_and_compare_shows_a_beside_b_and_restores_a(qtbot, window) -> None:
    panel = _show(qtbot, window, _bert())
    doc = window.document
    full = doc.selection.counts().trainable
    full_peak = panel.plan.per_rank.peak_bytes
    panel.compare.pin_button.click()
    assert panel.pinned is not None and panel.pinned.plan is panel.plan
    with qtbot.waitSignal(panel.planShown, timeout=120_000):
        window.action("trainHead").trigger()  # B: the head only
    head = doc.selection.counts().trainable
    assert head < full
    from freezegui.core.structure.counting import format_bytes, format_count

    assert panel.compare.text("A", "trainable").startswith(format_count(full))
    assert panel.compare.text("B", "trainable").startswith(format_count(head))
    assert panel.compare.text("A", "peak") == format_bytes(full_peak)
    assert panel.compare.text("B", "peak") == format_bytes(panel.plan.per_rank.peak_bytes)
    assert panel.compare.text("A", "step") != panel.compare.text("B", "step")
    assert window.totals.pinned.isVisible() and format_count(full) in window.totals.pinned.text()
    depth = len(doc.selection._undo)
    panel.compare.restore_button.click()
    assert doc.selection.counts().trainable == full
    assert len(doc.selection._undo) == depth + 1  # one undoable edit
    doc.selection.undo()
    assert doc.selection.counts().trainable == head
    panel.compare.unpin_button.click()
    assert panel.pinned is None and not window.totals.pinned.isVisible()
