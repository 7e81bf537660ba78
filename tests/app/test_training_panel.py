"""The training dock in a minimal window: run, live progress, Stop within one step, close during a run."""

from __future__ import annotations

import time

import pytest
import torch

pytest.importorskip("PySide6.QtCharts")

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QMainWindow, QProgressBar, QPushButton

from freezegui.app.docks.training_panel import TrainingPanel
from freezegui.core.editing.selection import Selection
from freezegui.core.rules.ruleset import RuleSet, rules_from_selection
from freezegui.core.structure.tree import build_tree
from tests import models

CALLS: list[int] = [0]  # forward calls of SlowMLP (shared across the worker's deep copy)


class SlowMLP(models.MLP):
    """Each forward sleeps (releasing the GIL), so steps are long enough to stop in the middle."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        CALLS[0] += 1
        time.sleep(0.03)
        return super().forward(x)


class FakeDocument:
    """What the main window's document offers the panel (model, tree, selection, spec, rules)."""

    def __init__(self, model: torch.nn.Module, rules: str, spec: str | None = None) -> None:
        self.model = model
        self.tree = build_tree(model)
        mask, _ = RuleSet.loads(rules).evaluate(self.tree)
        self.selection = Selection(self.tree, mask)
        self.spec = spec
        self.method = "requires_grad"
        self.batchnorm = "frozen_stats"

    def to_ruleset(self) -> RuleSet:
        rs = rules_from_selection(self.tree, self.selection.trainable)
        rs.method, rs.batchnorm = self.method, self.batchnorm  # type: ignore[assignment]
        return rs


class FakeWindow(QMainWindow):
    documentChanged = Signal()

    def __init__(self, document: FakeDocument | None) -> None:
        super().__init__()
        self.document = document
        self.locks: list[tuple[bool, str]] = []
        self.panel = TrainingPanel(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.panel)

    def set_editing_locked(self, locked: bool, reason: str = "") -> None:
        self.locks.append((locked, reason))

    def closeEvent(self, event) -> None:  # Qt override
        self.panel.shutdown()
        super().closeEvent(event)


@pytest.fixture
def window(qtbot):
    def make(model=None, rules="default: freeze\nrules: [{train: fc2}]", **settings):
        win = FakeWindow(FakeDocument(model if model is not None else models.MLP(), rules))
        qtbot.addWidget(win)
        win.show()
        p = win.panel
        p.stepsSpin.setValue(settings.get("steps", 5))
        p.batchSpin.setValue(settings.get("batch", 4))
        p.deviceCombo.setCurrentIndex(p.deviceCombo.findData("cpu"))
        return win

    return make


def _widgets(win: FakeWindow):
    find = win.findChild
    return (
        find(QPushButton, "trainButton"),
        find(QPushButton, "stopButton"),
        find(QProgressBar, "progressBar"),
        win.panel.lossChart,
    )


def test_object_names_and_a_complete_run(window, qtbot) -> None:
    win = window(models.SmallConvNet(), rules="default: freeze\nrules: [{train: fc}]", steps=6)
    train, stop, bar, chart = _widgets(win)
    assert win.findChild(TrainingPanel, "trainingPanel") is win.panel
    assert chart.objectName() == "lossChart" and train.isEnabled() and not stop.isEnabled()
    assert "frozen_stats" in win.panel.normLabel.text()
    before = {k: v.clone() for k, v in win.document.model.state_dict().items()}
    with qtbot.waitSignal(win.panel.runEnded, timeout=60_000) as ended:
        qtbot.mouseClick(train, Qt.MouseButton.LeftButton)
    report = ended.args[0]
    assert report.status == "completed" and report.ok
    assert bar.value() == bar.maximum() == 6
    assert chart.point_count() == 6  # every step appended once
    assert "verified bit-identical" in win.panel.proofLabel.text()
    assert "trainable parameters changed" in win.panel.reportView.toPlainText()
    assert "plan: predicted peak" in win.panel.reportView.toPlainText()  # the plan beside the measured
    win.panel.grab().save("/tmp/training_report.png")
    assert win.locks == [(True, "A training run is using the selection"), (False, "")]
    qtbot.waitUntil(lambda: train.isEnabled())
    # The panel trained a copy: the open model is untouched.
    assert all(torch.equal(v, win.document.model.state_dict()[k]) for k, v in before.items())


def test_stop_takes_effect_within_one_step_and_window_stays_usable(window, qtbot) -> None:
    win = window(SlowMLP(), steps=100_000)
    train, stop, bar, _ = _widgets(win)
    qtbot.mouseClick(train, Qt.MouseButton.LeftButton)
    assert win.panel.is_running and not train.isEnabled() and stop.isEnabled()
    qtbot.waitUntil(lambda: bar.value() >= 3, timeout=30_000)
    with qtbot.waitSignal(win.panel.runEnded, timeout=10_000) as ended:
        qtbot.mouseClick(stop, Qt.MouseButton.LeftButton)
        calls_at_stop = CALLS[0]
    report = ended.args[0]
    assert report.status == "stopped" and report.proof.ok
    assert CALLS[0] - calls_at_stop <= 1  # at most the step already under way finished
    qtbot.waitUntil(lambda: not win.panel.is_running)
    assert train.isEnabled() and not stop.isEnabled() and win.locks[-1] == (False, "")
    # Usable: a second run starts and completes.
    win.panel.stepsSpin.setValue(3)
    with qtbot.waitSignal(win.panel.runEnded, timeout=30_000) as again:
        assert win.panel.start()
    assert again.args[0].status == "completed" and bar.value() == 3


def test_close_during_a_run_stops_it_cleanly(window, qtbot, qtlog) -> None:
    win = window(SlowMLP(), steps=100_000)
    train, _, bar, _ = _widgets(win)
    qtbot.mouseClick(train, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bar.value() >= 1, timeout=30_000)
    worker = win.panel._worker
    assert worker is not None and worker.is_running
    t0 = time.monotonic()
    win.close()
    assert time.monotonic() - t0 < 5
    assert not worker.is_running
    assert win.panel._worker is None and win.locks[-1] == (False, "")
    assert win.panel.report is not None and win.panel.report.status == "stopped"
    assert not [r for r in qtlog.records if "QThread" in r.message]


def test_bad_data_shows_an_error_and_unlocks(window, qtbot, tmp_path) -> None:
    win = window()
    win.panel.dataEdit.setText(str(tmp_path / "missing"))
    with qtbot.waitSignal(win.panel.runEnded, timeout=30_000) as ended:
        win.panel.start()
    assert ended.args[0] is None
    assert "no such data folder" in win.panel.error_box.text()
    qtbot.waitUntil(lambda: not win.panel.is_running)
    assert win.locks[-1] == (False, "") and _widgets(win)[0].isEnabled()
    win.panel.error_box.close()


def test_invalid_settings_and_structure_only(window, qtbot) -> None:
    win = window()
    win.panel.lrEdit.setText("")
    assert not win.panel.start() and "learning rate" in win.panel.error_box.text()
    win.panel.error_box.close()
    import freezegui

    meta = window(freezegui.load_model("torchvision:resnet18", structure_only=True), rules="default: train")
    assert not _widgets(meta)[0].isEnabled()
    assert "structure-only" in _widgets(meta)[0].toolTip()
    meta.document = None
    meta.documentChanged.emit()
    assert not _widgets(meta)[0].isEnabled()


def test_save_weights_after_a_run(window, qtbot, tmp_path) -> None:
    win = window(steps=3)
    with qtbot.waitSignal(win.panel.runEnded, timeout=30_000):
        win.panel.start()
    qtbot.waitUntil(lambda: win.panel.saveButton.isEnabled())
    paths = win.panel.save_weights(tmp_path / "out")
    assert {p.name for p in paths} == {"model.safetensors", "rules.yaml", "training_report.json"}
    assert [str(r) for r in RuleSet.load(tmp_path / "out" / "rules.yaml").rules] == ["train: fc2"]
