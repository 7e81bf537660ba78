"""Issue 22, items 11 and 12: the loss chart follows a dark palette; the Training dock asks only for
the length its model takes, and its report's counts and timings agree with each other and the proof."""

from __future__ import annotations

import re

import pytest
from PySide6.QtGui import QColor, QPalette

from freezegui.core.editing.document import Document
from freezegui.core.rules.ruleset import RuleSet
from tests.models import SmallConvNet, tiny_bert

pytest.importorskip("PySide6.QtCharts")

SCHEDULE = """\
default: freeze
rules: [{train: fc}]
schedule:
- at: {step: 2}
  rules: [{train: features}]
"""


def test_item11_the_loss_chart_follows_a_dark_palette(qtbot, window) -> None:
    window._ensure_core()
    chart = window.training_panel.lossChart
    dark = QPalette()
    for role in (QPalette.ColorRole.Window, QPalette.ColorRole.Base):
        dark.setColor(role, QColor("#202124"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e8eaed"))
    chart.setPalette(dark)
    assert chart.chart().backgroundBrush().color().lightness() < 80  # before: white in a dark window
    assert chart.x_axis.labelsBrush().color().lightness() > 180


def test_item12_only_the_length_the_model_takes(qtbot, window) -> None:
    window._ensure_core()
    panel = window.training_panel
    form = panel.settingsForm
    window.set_document(Document.from_model(tiny_bert(), "hf-config:bert"))
    assert form.isRowVisible(panel.seqLenSpin) and not form.isRowVisible(panel.imageSizeSpin)
    window.set_document(Document.from_model(SmallConvNet(), "py:tests.models:SmallConvNet"))
    assert form.isRowVisible(panel.imageSizeSpin) and not form.isRowVisible(panel.seqLenSpin)


def test_item12_report_counts_and_times_agree() -> None:
    from freezegui.core.training.config import TrainingConfig
    from freezegui.core.training.engine import TrainingRun

    cfg = TrainingConfig(steps=4, batch_size=2, lr=1e-3, image_size=16, device="cpu", predict=False)
    run = TrainingRun(SmallConvNet(), cfg, rules=RuleSet.loads(SCHEDULE))
    report = run.run()
    text = "\n".join(report.lines())
    proof = report.proof
    assert proof is not None and proof.stages
    # before: "trainable 514" beside "trainable parameters changed: 1,580,034"
    assert f"{proof.trainable_elements:,} " in text.split("parameters: trainable")[1].split("\n")[0]
    mean = float(re.search(r"([\d.]+) ms/step mean", text).group(1))
    rate = float(re.search(r"([\d.]+) examples/s", text).group(1))
    assert mean * rate / 1000 == pytest.approx(cfg.batch_size, rel=0.02)  # one number said two ways
    assert "median after the first step" in text
