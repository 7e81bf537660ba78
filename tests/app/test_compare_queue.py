"""The training dock's queue: selections run one after another, one chart with a legend, the table, saving."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("PySide6.QtCharts")

from tests import models
from tests.app.test_training_panel import FakeDocument, FakeWindow


def _image_folder(root):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
    return root


def test_the_queue_runs_each_selection_and_a_failing_one_does_not_stop_the_others(qtbot, tmp_path) -> None:
    doc = FakeDocument(models.SmallConvNet(num_classes=2), "default: freeze\nrules:\n- train: fc\n")
    window = FakeWindow(doc)
    qtbot.addWidget(window)
    panel, queue = window.panel, window.panel.queue
    panel.dataEdit.setText(str(_image_folder(tmp_path / "img")))
    panel.stepsSpin.setValue(3)
    panel.batchSpin.setValue(4)
    panel.imageSizeSpin.setValue(8)
    panel.deviceCombo.setCurrentIndex(panel.deviceCombo.findData("cpu"))
    (tmp_path / "all.yaml").write_text("default: train\n", encoding="utf-8")
    (tmp_path / "typo.yaml").write_text("default: freeze\nrules:\n- train: fcc\n", encoding="utf-8")
    assert queue.add_rule_file(tmp_path / "all.yaml") and queue.add_rule_file(tmp_path / "typo.yaml")
    assert not queue.add_rule_file(tmp_path / "absent.yaml")  # one line, nothing queued
    assert queue.queueList.count() == 3
    assert queue.start()
    assert not panel.start()  # one thing trains at a time
    qtbot.waitUntil(lambda: not queue.is_running, timeout=60_000)
    assert [r.label for r in queue.results] == [
        "current selection",
        str(tmp_path / "all.yaml"),
        str(tmp_path / "typo.yaml"),
    ]
    first, full, typo = queue.results
    assert first.ok and full.ok and typo.report is None and "fcc" in typo.message
    assert queue.table.rowCount() == 3 and queue.table.item(2, 5).text().startswith("failed: ")
    assert queue.table.item(0, 3).text().endswith("%")  # accuracy on the held-out images
    names = queue.chart.legend_names()
    assert "current selection" in names and "all.yaml (val)" in names
    assert queue.progressBar.value() == queue.progressBar.maximum()
    assert (
        queue.save(tmp_path / "c.json") and queue.save(tmp_path / "c.csv") and queue.save(tmp_path / "c.png")
    )
    runs = json.loads((tmp_path / "c.json").read_text())["runs"]
    assert runs[0]["val_digest"] == runs[1]["val_digest"] and runs[0]["trainable"] < runs[1]["trainable"]
    assert (tmp_path / "c.csv").read_text().count("\n") == 4 and (tmp_path / "c.png").stat().st_size > 0
    window.grab().save("/tmp/runs-queue.png")


def test_stop_ends_the_whole_comparison(qtbot, tmp_path) -> None:
    from tests.app.test_training_panel import SlowMLP

    doc = FakeDocument(SlowMLP(), "default: train\n")
    window = FakeWindow(doc)
    qtbot.addWidget(window)
    queue = window.panel.queue
    window.panel.stepsSpin.setValue(200)
    queue.add_current()
    assert queue.start()
    qtbot.waitUntil(lambda: queue.progressBar.value() >= 2, timeout=30_000)
    queue.stop()
    qtbot.waitUntil(lambda: not queue.is_running, timeout=30_000)
    assert len(queue.results) == 1 and queue.results[0].report.status == "stopped"
    assert queue.runButton.isEnabled()
