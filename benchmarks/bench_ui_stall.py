"""The UI's largest event-loop stall while the training dock runs (goal: under 100 ms on 2 cores).

A 10 ms QTimer records the gap between its ticks on the UI thread, first with nothing running
(baseline), then during training runs started from the panel. Uses the real main window when it
exists, else a minimal window with a tree view that the benchmark scrolls during the run.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_ui_stall.py [--steps 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch
from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QApplication, QMainWindow, QTreeView

import freezegui
from freezegui.app.docks.training_panel import TrainingPanel
from freezegui.core.editing.selection import Selection
from freezegui.core.rules.ruleset import RuleSet, rules_from_selection
from freezegui.core.structure.tree import build_tree


class Document:
    def __init__(self, model: torch.nn.Module, rules: str) -> None:
        self.model, self.tree = model, build_tree(model)
        self.selection = Selection(self.tree, RuleSet.loads(rules).evaluate(self.tree)[0])
        self.spec, self.method, self.batchnorm = "torchvision:resnet18", "requires_grad", "frozen_stats"

    def to_ruleset(self) -> RuleSet:
        return rules_from_selection(self.tree, self.selection.trainable)


class Window(QMainWindow):
    documentChanged = Signal()

    def __init__(self, document: Document) -> None:
        super().__init__()
        self.document = document
        self.view = QTreeView()
        model = QStandardItemModel()
        for node in document.tree.nodes:
            model.appendRow([QStandardItem(node.path or "(model)"), QStandardItem(node.type_name)])
        self.view.setModel(model)
        self.setCentralWidget(self.view)
        self.panel = TrainingPanel(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.panel)

    def set_editing_locked(self, locked: bool, reason: str = "") -> None:
        self.view.setEnabled(True)  # the tree still scrolls while locked

    def closeEvent(self, event) -> None:
        self.panel.shutdown()
        super().closeEvent(event)


class GapMeter:
    """Ticks every 10 ms on the UI thread and keeps the gaps between ticks."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed() / 1e6
        self.gaps.append(now - self._last)
        self._last = now

    def start(self) -> None:
        self.gaps.clear()
        self.clock.start()
        self._last = 0.0
        self.timer.start()

    def stop(self) -> list[float]:
        self.timer.stop()
        return list(self.gaps)


def summary(gaps: list[float]) -> str:
    gaps = sorted(gaps)
    p99 = gaps[int(0.99 * (len(gaps) - 1))]
    return f"worst {gaps[-1]:6.1f} ms   p99 {p99:5.1f} ms   median {statistics.median(gaps):4.1f} ms   ({len(gaps)} ticks)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    app = QApplication.instance() or QApplication([])
    meter = GapMeter()
    print(f"{os.cpu_count()} cores, torch {torch.get_num_threads()} threads")

    doc = Document(
        freezegui.load_model("torchvision:resnet18", num_classes=10), "default: freeze\nrules: [{train: fc}]"
    )
    win = Window(doc)
    win.resize(1200, 800)
    win.show()
    app.processEvents()

    loop = QEventLoop()
    meter.start()
    QTimer.singleShot(2000, loop.quit)
    loop.exec()
    print(f"{'idle (no run)':<40} {summary(meter.stop())}")

    scroll = QTimer()
    scroll.setInterval(30)
    bar = win.view.verticalScrollBar()
    scroll.timeout.connect(lambda: bar.setValue((bar.value() + 3) % max(1, bar.maximum())))
    for label, rules, size, bs in (
        ("ResNet-18 head-only 64x64 b16", "default: freeze\nrules: [{train: fc}]", 64, 16),
        ("ResNet-18 full fine-tune 64x64 b16", "default: train", 64, 16),
        ("ResNet-18 head-only 32x32 b4 (fast)", "default: freeze\nrules: [{train: fc}]", 32, 4),
    ):
        doc.selection = Selection(doc.tree, RuleSet.loads(rules).evaluate(doc.tree)[0])
        p = win.panel
        p.stepsSpin.setValue(args.steps)
        p.batchSpin.setValue(bs)
        p.deviceCombo.setCurrentIndex(p.deviceCombo.findData("cpu"))
        p.imageSizeSpin.setValue(size)
        done = QEventLoop()
        p.runEnded.connect(done.quit)
        meter.start()
        scroll.start()
        t0 = time.perf_counter()
        assert p.start()
        done.exec()
        scroll.stop()
        gaps = meter.stop()
        p.runEnded.disconnect(done.quit)
        rep = p.report
        assert rep is not None and rep.ok, rep
        print(
            f"{label:<40} {summary(gaps)}   run {time.perf_counter() - t0:.1f} s, {rep.time_per_step * 1000:.0f} ms/step"
        )
    win.close()


if __name__ == "__main__":
    main()
