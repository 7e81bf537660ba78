"""Issue 26 in the Training dock: a LoRA-only selection trains its adapters and saves them as PEFT does."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("PySide6.QtCharts")
pytest.importorskip("peft")

from freezegui.core.rules.ruleset import RuleSet
from tests import models
from tests.app.test_training_panel import FakeDocument, FakeWindow

LORA_ONLY = "default: freeze\nlora:\n  r: 2\n  targets: [model.layers.*.self_attn.q_proj]\n"


class LoraDocument(FakeDocument):
    def to_ruleset(self) -> RuleSet:
        return RuleSet.loads(LORA_ONLY)


def test_the_dock_trains_and_saves_lora_adapters(qtbot, tmp_path) -> None:
    model = models.tiny_llama()
    win = FakeWindow(LoraDocument(model, LORA_ONLY))
    qtbot.addWidget(win)
    win.show()
    panel = win.panel
    panel.stepsSpin.setValue(2)
    panel.batchSpin.setValue(2)
    panel.deviceCombo.setCurrentIndex(panel.deviceCombo.findData("cpu"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with qtbot.waitSignal(panel.runEnded, timeout=60_000) as ended:
        assert panel.start()
    report = ended.args[0]
    assert report.status == "completed" and report.ok, report.message
    assert report.counts.trainable == report.counts.lora > 0
    qtbot.waitUntil(lambda: panel.saveButton.isEnabled())
    paths = panel.save_weights(tmp_path / "out")
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in paths}
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the open model untouched
