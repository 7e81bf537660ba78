"""The training dock: settings, Start/Stop, progress with ETA, a live loss chart and the final report.

The run is the core's :class:`~freezegui.core.training.TrainingRun` generator, iterated in a
:class:`TrainingThread`. The worker never touches a widget: it emits batches of step results (at most
every 50 ms, so a fast model cannot flood the event loop) and the report, and the panel updates its
widgets from those signals. Stop sets the run's stop event, which the engine checks between steps.
The run trains a *copy* of the document's model (made in the worker), so the open model and its
selection stay as they were; "Save weights" writes the fine-tuned copy with its rule file.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QValueAxis
from PySide6.QtCore import QMargins, QPointF, Qt, QThread, Signal
from PySide6.QtGui import QDoubleValidator, QPainter
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from freezegui.core.errors import FreezeguiError
from freezegui.core.training.config import SYNTHETIC, TrainingConfig, available_devices
from freezegui.core.training.engine import StepResult, TrainingReport, TrainingRun

_EMIT_INTERVAL = 0.05  # seconds between progress signals from the worker
_MAX_CHART_POINTS = 1000  # the chart keeps about this many points (every k-th step on long runs)


class TrainingThread(QThread):
    """Runs one :class:`TrainingRun` off the UI thread; results arrive through queued signals."""

    stepsReady = Signal(object)  # list[StepResult], batched
    runFinished = Signal(object)  # TrainingReport
    runFailed = Signal(str)  # the run could not start (bad data, bad settings...)

    def __init__(self, make_run: Callable[[threading.Event], TrainingRun], parent: Any = None) -> None:
        super().__init__(parent)
        self._make_run = make_run
        self._stop = threading.Event()
        self.training: TrainingRun | None = None

    def request_stop(self) -> None:
        """Thread-safe: the engine ends the run before its next step."""
        self._stop.set()

    def run(self) -> None:  # QThread entry point, runs in the worker thread
        try:
            self.training = train = self._make_run(self._stop)
            pending: list[StepResult] = []
            last = 0.0
            for result in train.steps():
                pending.append(result)
                now = time.monotonic()
                if now - last >= _EMIT_INTERVAL:
                    self.stepsReady.emit(pending)
                    pending, last = [], now
            if pending:
                self.stepsReady.emit(pending)
            train.release()
            self.runFinished.emit(train.report)
        except FreezeguiError as exc:
            self.runFailed.emit(str(exc))
        except Exception as exc:  # anything else is shown, never a crash of the app
            self.runFailed.emit(f"{type(exc).__name__}: {exc}")


class LossChart(QChartView):
    """A line chart that grows by appending points (never rebuilt), with axes widened as needed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        chart = QChart()
        chart.legend().hide()
        chart.setTitle("Loss")
        chart.setMargins(QMargins(4, 4, 4, 4))
        super().__init__(chart, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.series = QLineSeries()
        chart.addSeries(self.series)
        self.x_axis, self.y_axis = QValueAxis(), QValueAxis()
        self.x_axis.setLabelFormat("%d")
        self.x_axis.setTitleText("step")
        chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)
        self.series.attachAxis(self.x_axis)
        self.series.attachAxis(self.y_axis)
        self.setMinimumHeight(160)
        self.reset(1)

    def reset(self, steps: int) -> None:
        self.series.clear()
        self._stride = max(1, math.ceil(steps / _MAX_CHART_POINTS))
        self._lo, self._hi = math.inf, -math.inf
        self.x_axis.setRange(0, max(1, steps))
        self.y_axis.setRange(0, 1)

    def add(self, results: list[StepResult]) -> None:
        points = [
            QPointF(r.step, r.loss)
            for r in results
            if (r.step % self._stride == 0 or r.step == 1 or r.step == r.steps) and math.isfinite(r.loss)
        ]
        if not points:
            return
        ys = [p.y() for p in points]
        lo, hi = min(self._lo, *ys), max(self._hi, *ys)
        if lo < self._lo or hi > self._hi:
            self._lo, self._hi = lo, hi
            pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 0.1
            self.y_axis.setRange(lo - pad, hi + pad)
        self.series.append(points)

    def point_count(self) -> int:
        return self.series.count()


class TrainingPanel(QDockWidget):
    """The "Training" dock of the main window (see the module docstring for the threading design)."""

    runStarted = Signal()
    runEnded = Signal(object)  # once the worker has ended: the TrainingReport, or None if it could not start

    def __init__(self, window: Any) -> None:
        super().__init__("Training", window)
        self.setObjectName("trainingPanel")
        self.window_ = window
        self._thread: TrainingThread | None = None
        self._last_run: TrainingRun | None = None
        self.report: TrainingReport | None = None
        self.error_box: QMessageBox | None = None
        self._build()
        changed = getattr(window, "documentChanged", None)
        if changed is not None:
            changed.connect(self._document_changed)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._document_changed()

    # ------------------------------------------------------------------------------------- widgets
    def _build(self) -> None:
        body = QWidget(self)
        form = QFormLayout()
        self.stepsSpin = _spin("stepsSpin", 1, 1_000_000, 30)
        self.batchSpin = _spin("batchSizeSpin", 1, 65_536, 8)
        self.lrEdit = QLineEdit("0.001")
        self.lrEdit.setObjectName("lrEdit")
        validator = QDoubleValidator(0.0, 10.0, 10, self.lrEdit)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.lrEdit.setValidator(validator)
        self.optimizerCombo = _combo("optimizerCombo", [("AdamW", "adamw"), ("SGD with momentum", "sgd")])
        self.methodCombo = _combo(
            "methodCombo",
            [
                ("From the selection", None),
                ("requires_grad (method 1)", "requires_grad"),
                ("lr 0 (method 2)", "lr_zero"),
            ],
        )
        self.deviceCombo = _combo("deviceCombo", [("auto", "auto"), *((d, d) for d in available_devices())])
        self.seedSpin = _spin("seedSpin", 0, 2**31 - 1, 0)
        self.imageSizeSpin = _spin("imageSizeSpin", 0, 4096, 0)
        self.imageSizeSpin.setSpecialValueText("auto")
        self.imageSizeSpin.setSuffix(" px")
        self.imageSizeSpin.setToolTip("Image side; auto: 64 px for synthetic images, 224 px for folders")
        self.seqLenSpin = _spin("seqLenSpin", 2, 1_000_000, 32)
        self.seqLenSpin.setSuffix(" tokens")
        self.dataEdit = QLineEdit(SYNTHETIC)
        self.dataEdit.setObjectName("dataEdit")
        self.dataEdit.setToolTip("synthetic, an image folder (ImageFolder layout), or a text file")
        browse = QToolButton()
        browse.setText("…")
        browse.setObjectName("dataBrowse")
        menu = QMenu(browse)
        menu.addAction("Synthetic data", lambda: self.dataEdit.setText(SYNTHETIC))
        menu.addAction("Image folder…", self._choose_folder)
        menu.addAction("Text file…", self._choose_file)
        browse.setMenu(menu)
        browse.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        data_row = QHBoxLayout()
        data_row.addWidget(self.dataEdit, 1)
        data_row.addWidget(browse)
        form.addRow("Steps", self.stepsSpin)
        form.addRow("Batch size", self.batchSpin)
        form.addRow("Learning rate", self.lrEdit)
        form.addRow("Optimizer", self.optimizerCombo)
        form.addRow("Method", self.methodCombo)
        form.addRow("Device", self.deviceCombo)
        form.addRow("Seed", self.seedSpin)
        form.addRow("Data", data_row)
        self.normLabel = QLabel("")
        self.normLabel.setObjectName("normPolicyLabel")
        self.normLabel.setToolTip(
            "Set in the rules: frozen BatchNorm layers keep (or update) their statistics"
        )
        form.addRow("BatchNorm", self.normLabel)
        form.addRow("Image size", self.imageSizeSpin)
        form.addRow("Sequence length", self.seqLenSpin)

        self.trainButton = QPushButton("Start")
        self.trainButton.setObjectName("trainButton")
        self.trainButton.clicked.connect(self.start)
        self.stopButton = QPushButton("Stop")
        self.stopButton.setObjectName("stopButton")
        self.stopButton.clicked.connect(self.stop)
        self.saveButton = QPushButton("Save weights…")
        self.saveButton.setObjectName("saveWeightsButton")
        self.saveButton.setToolTip("Write the fine-tuned copy as model.safetensors with its rule file")
        self.saveButton.clicked.connect(self._save_clicked)
        buttons = QHBoxLayout()
        for b in (self.trainButton, self.stopButton, self.saveButton):
            buttons.addWidget(b)

        self.progressBar = QProgressBar()
        self.progressBar.setObjectName("progressBar")
        self.progressBar.setRange(0, 1)
        self.progressBar.setValue(0)
        self.progressBar.setFormat("idle")
        self.statusLabel = QLabel("")
        self.statusLabel.setObjectName("trainingStatus")
        self.speedLabel = QLabel("")
        self.speedLabel.setObjectName("speedLabel")
        stats = QHBoxLayout()
        stats.addWidget(self.statusLabel, 1)
        stats.addWidget(self.speedLabel)
        self.lossChart = LossChart()
        self.lossChart.setObjectName("lossChart")
        self.proofLabel = QLabel("")
        self.proofLabel.setObjectName("proofLabel")
        self.proofLabel.setWordWrap(True)
        self.reportView = QPlainTextEdit()
        self.reportView.setObjectName("trainingReport")
        self.reportView.setReadOnly(True)
        self.reportView.setMaximumHeight(170)
        self.reportView.setPlaceholderText(
            "The report of the last run, with the frozen-weights proof, appears here."
        )

        layout = QVBoxLayout(body)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progressBar)
        layout.addLayout(stats)
        layout.addWidget(self.lossChart, 1)
        layout.addWidget(self.proofLabel)
        layout.addWidget(self.reportView)
        self.setWidget(body)
        self._settings = [
            self.stepsSpin,
            self.batchSpin,
            self.lrEdit,
            self.optimizerCombo,
            self.methodCombo,
            self.deviceCombo,
            self.seedSpin,
            self.imageSizeSpin,
            self.seqLenSpin,
            self.dataEdit,
            browse,
        ]
        self._set_running(False)

    # ------------------------------------------------------------------------------------- state
    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def _document(self) -> Any:
        return getattr(self.window_, "document", None)

    def _document_changed(self, *args: Any) -> None:
        doc = self._document()
        policy = getattr(doc, "batchnorm", None) if doc is not None else None
        self.normLabel.setText(f"{policy} (from the rules)" if policy else "-")
        self.normLabel.setToolTip(
            {
                "frozen_stats": "Frozen BatchNorm layers stay in eval mode: their running statistics do not change",
                "update_stats": "Frozen BatchNorm layers still update their running statistics in training",
            }.get(str(policy), "Set in the rules")
        )
        if not self.is_running:
            self._set_running(False)

    def _start_blocker(self) -> str:
        doc = self._document()
        if doc is None or getattr(doc, "model", None) is None:
            return "Open a model to train it."
        first = next(iter(doc.model.parameters()), None)
        if first is None:
            return "This model has no parameters."
        if first.is_meta:
            return "The model was opened structure-only (no weights); reopen it with weights to train."
        return ""

    def _set_running(self, running: bool) -> None:
        blocker = "" if running else self._start_blocker()
        self.trainButton.setEnabled(not running and not blocker)
        self.trainButton.setToolTip(blocker or "Train a copy of the model with the current selection")
        self.stopButton.setEnabled(running)
        self.saveButton.setEnabled(
            not running and self._last_run is not None and self.report is not None and self.report.ok
        )
        for w in self._settings:
            w.setEnabled(not running)
        if not running and blocker and self.report is None:
            self.statusLabel.setText(blocker)

    def config(self) -> TrainingConfig:
        """The settings as the engine's config."""
        try:
            lr = float(self.lrEdit.text().replace(",", "."))
        except ValueError:
            lr = float("nan")  # validate() turns it into a clear message
        return TrainingConfig(
            steps=self.stepsSpin.value(),
            batch_size=self.batchSpin.value(),
            lr=lr,
            optimizer=self.optimizerCombo.currentData(),
            method=self.methodCombo.currentData(),
            device=self.deviceCombo.currentData(),
            seed=self.seedSpin.value(),
            data=self.dataEdit.text().strip() or SYNTHETIC,
            image_size=self.imageSizeSpin.value() or None,
            seq_len=self.seqLenSpin.value(),
        )

    # ------------------------------------------------------------------------------------- run
    def start(self) -> bool:
        """Start a run on a copy of the document's model; returns False (with a message) if it cannot."""
        if self.is_running:
            return False
        blocker = self._start_blocker()
        if blocker:
            self._show_error(blocker)
            return False
        cfg = self.config()
        try:
            cfg.validate()
        except FreezeguiError as exc:
            self._show_error(str(exc))
            return False
        doc = self._document()
        source_model = doc.model
        spec = getattr(doc, "spec", None)
        spec = str(spec) if spec is not None else None
        to_ruleset = getattr(doc, "to_ruleset", None)
        rules = to_ruleset() if callable(to_ruleset) else None
        selection = None if rules is not None else doc.selection

        def make_run(stop: threading.Event) -> TrainingRun:
            model = copy.deepcopy(source_model)  # in the worker: the open model stays untouched
            return TrainingRun(model, cfg, rules=rules, selection=selection, spec=spec, stop_event=stop)

        self.report = None
        self._last_run = None
        self.lossChart.reset(cfg.steps)
        self.progressBar.setRange(0, cfg.steps)
        self.progressBar.setValue(0)
        self.progressBar.setFormat("preparing…")
        self.statusLabel.setText("Preparing data and the frozen-weights snapshot…")
        self.speedLabel.setText("")
        self.proofLabel.setText("")
        self.proofLabel.setStyleSheet("")
        self.reportView.clear()
        thread = TrainingThread(make_run)
        thread.stepsReady.connect(self._on_steps)
        thread.runFinished.connect(self._on_finished)
        thread.runFailed.connect(self._on_failed)
        thread.finished.connect(self._on_thread_done)
        self._thread = thread
        self._lock(True)
        self._set_running(True)
        thread.start()
        self.runStarted.emit()
        return True

    def stop(self) -> None:
        """Ask the run to end after the current step."""
        if self._thread is not None:
            self._thread.request_stop()
            self.stopButton.setEnabled(False)
            self.statusLabel.setText("Stopping after the current step…")

    def shutdown(self) -> None:
        """Stop the run and wait for the worker (the window calls this when it closes)."""
        thread = self._thread
        if thread is None:
            return
        thread.request_stop()
        thread.wait()  # the engine ends the run at the next step boundary
        QApplication.sendPostedEvents(self)  # deliver its last signals while the widgets still exist
        self._on_thread_done()

    def _on_steps(self, results: list[StepResult]) -> None:
        last = results[-1]
        self.progressBar.setValue(last.step)
        self.progressBar.setFormat(f"%v / %m steps · ETA {_duration(last.eta)}")
        steps_per_s = last.step / last.elapsed if last.elapsed > 0 else 0.0
        self.speedLabel.setText(f"{steps_per_s:.2f} steps/s · {last.examples_per_s:.1f} examples/s")
        self.statusLabel.setText(f"step {last.step}: loss {last.loss:.4f}")
        self.lossChart.add(results)

    def _on_finished(self, report: TrainingReport) -> None:
        self.report = report
        thread = self._thread
        self._last_run = thread.training if thread is not None else None
        self.progressBar.setFormat(f"%v / %m steps · {report.status}")
        self.statusLabel.setText(report.status + (f": {report.message}" if report.message else ""))
        self.reportView.setPlainText("\n".join(report.lines()))
        proof = report.proof
        if proof is not None:
            ok = proof.ok
            self.proofLabel.setText(
                ("✔ " if ok else "✘ ")
                + f"{proof.frozen_verified_elements:,} frozen parameters verified bit-identical; "
                f"{proof.trainable_changed_elements:,} trainable changed"
                + ("" if ok else f" — FROZEN TENSORS CHANGED: {', '.join(proof.frozen_changed[:3])}")
            )
            self.proofLabel.setStyleSheet("color: #1a7f37;" if ok else "color: #cf222e; font-weight: bold;")

    def _on_failed(self, message: str) -> None:
        self.report = None
        self.progressBar.setFormat("could not start")
        self.statusLabel.setText(message)
        self.reportView.setPlainText(f"The run could not start:\n{message}")
        self._show_error(message)

    def _on_thread_done(self) -> None:
        if self._thread is None or self._thread.isRunning():
            return
        self._thread.deleteLater()
        self._thread = None
        self._lock(False)
        self._set_running(False)
        self.runEnded.emit(self.report)  # after the worker is gone and the controls are back

    def _lock(self, locked: bool) -> None:
        lock = getattr(self.window_, "set_editing_locked", None)
        if callable(lock):
            lock(locked, "A training run is using the selection" if locked else "")

    # ------------------------------------------------------------------------------------- files
    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Image folder (one sub-folder per class)")
        if path:
            self.dataEdit.setText(path)

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Text file", "", "Text (*.txt *.tsv);;All files (*)")
        if path:
            self.dataEdit.setText(path)

    def _save_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Save the fine-tuned weights and rules in")
        if path:
            self.save_weights(path)

    def save_weights(self, directory: str | Path) -> list[Path]:
        """Write the last run's fine-tuned copy (``model.safetensors`` + ``rules.yaml``) atomically."""
        if self._last_run is None:
            self._show_error("Nothing to save: run a training session first.")
            return []
        try:
            paths = self._last_run.save(directory)
        except FreezeguiError as exc:
            self._show_error(str(exc))
            return []
        self.statusLabel.setText(f"Saved to {directory}")
        if self.report is not None:
            self.reportView.setPlainText("\n".join(self.report.lines()))
        return paths

    def _show_error(self, message: str) -> None:
        self.statusLabel.setText(message)
        box = QMessageBox(QMessageBox.Icon.Warning, "Training", message, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("trainingError")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.error_box = box
        box.open()  # not exec(): the app (and the tests) keep running


def _spin(name: str, lo: int, hi: int, value: int) -> QSpinBox:
    s = QSpinBox()
    s.setObjectName(name)
    s.setRange(lo, hi)
    s.setValue(value)
    s.setGroupSeparatorShown(True)
    return s


def _combo(name: str, items: list[tuple[str, Any]]) -> QComboBox:
    c = QComboBox()
    c.setObjectName(name)
    for text, data in items:
        c.addItem(text, data)
    return c


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, s = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
