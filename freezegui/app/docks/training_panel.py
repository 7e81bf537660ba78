"""The training dock: settings, Start/Stop, progress with ETA, a live loss chart and the final report.

The run is the core's :class:`~freezegui.core.training.TrainingRun` generator, iterated by a superqt
generator worker (:func:`training_batches`), the same background style as model loading. The worker
never touches a widget: it yields batches of step results (at most every 50 ms, so a fast model
cannot flood the event loop) and returns the run; the panel updates its widgets from those signals.
Stop sets the run's stop event, which the engine checks between steps. The run trains a *copy* of
the document's model (made in the worker), so the open model and its selection stay as they were;
"Save weights" writes the fine-tuned copy with its rule file.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QMessageBox,
    QVBoxLayout,
)
from superqt.utils import GeneratorWorker

from freezegui.app.docks.compare_queue import CompareQueue
from freezegui.app.docks.training_widgets import TrainingDockWidgets, duration, proof_text
from freezegui.app.docks.training_worker import Slots, start_worker, training_batches
from freezegui.app.messages import message_box
from freezegui.core.errors import FreezeguiError
from freezegui.core.training.config import SYNTHETIC, TrainingConfig
from freezegui.core.training.engine import TrainingRun
from freezegui.core.training.report import StepResult, TrainingReport

if TYPE_CHECKING:
    from freezegui.app.main_window import MainWindow
    from freezegui.core.editing.document import Document

NORM_TIPS = {
    "frozen_stats": "Frozen BatchNorm layers stay in eval mode: their running statistics do not change",
    "update_stats": "Frozen BatchNorm layers still update their running statistics in training",
}


class TrainingPanel(TrainingDockWidgets):
    """The "Training" dock of the main window (see the module docstring for the threading design)."""

    runStarted = Signal()
    runEnded = Signal(object)  # once the worker has ended: the TrainingReport, or None if it could not start

    def __init__(self, window: MainWindow) -> None:
        super().__init__("Training", window)
        self.setObjectName("trainingPanel")
        self.window_ = window
        self._worker: GeneratorWorker[Any, Any, Any] | None = None
        self._stop = self._done = threading.Event()
        self._last_run: TrainingRun | None = None
        self.report: TrainingReport | None = None
        self._stages = 0  # stages in the schedule of the run (the status says "stage 2 of 3")
        self.error_box: QMessageBox | None = None
        self._build()
        self.queue = CompareQueue(self)  # compare selections: its own module, below the single run
        body = self.widget().layout()
        assert isinstance(body, QVBoxLayout)  # TrainingDockWidgets._build's
        body.addWidget(self.queue, 1)
        self.trainButton.clicked.connect(self.start)
        self.stopButton.clicked.connect(self.stop)
        self.saveButton.clicked.connect(self._save_clicked)
        self._set_running(False)
        changed = getattr(window, "documentChanged", None)
        if changed is not None:
            changed.connect(self._document_changed)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._document_changed()

    # ------------------------------------------------------------------------------------- widgets
    # ------------------------------------------------------------------------------------- state
    @property
    def is_running(self) -> bool:
        return self._worker is not None

    def _document(self) -> Document | None:
        return self.window_.document

    def _document_changed(self, *args: Any) -> None:
        doc = self._document()
        policy = getattr(doc, "batchnorm", None) if doc is not None else None
        self.normLabel.setText(f"{policy} (from the rules)" if policy else "-")
        self.normLabel.setToolTip(NORM_TIPS.get(str(policy), "Set in the rules"))
        self._show_length_rows(doc)
        if not self.is_running:
            self._set_running(False)

    def _show_length_rows(self, doc: Any) -> None:
        """Image size for a vision model, Sequence length for a text model (both when unknown)."""
        kind = ""
        if doc is not None and getattr(doc, "model", None) is not None:
            from freezegui.core.plan import length_kind

            kind = length_kind(doc.model)
        self.settingsForm.setRowVisible(self.imageSizeSpin, kind != "tokens")
        self.settingsForm.setRowVisible(self.seqLenSpin, kind != "pixels")

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
        if self.is_running or self.queue.is_running:
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
        assert doc is not None  # _start_blocker refuses without a document
        source_model, rules = doc.model, doc.to_ruleset()  # the schedule with it: the run applies it
        self._stages = len(rules.schedule)
        spec = str(doc.spec) if doc.spec is not None else None

        def make_run(stop: threading.Event) -> TrainingRun:
            model = copy.deepcopy(source_model)  # in the worker: the open model stays untouched
            return TrainingRun(model, cfg, rules=rules, spec=spec, stop_event=stop)

        self._reset_view(cfg.steps)
        self._start_worker(make_run)
        self._lock(True)
        self._set_running(True)
        self.runStarted.emit()
        return True

    def _reset_view(self, steps: int) -> None:
        self.report = None
        self._last_run = None
        self.lossChart.reset(steps)
        self.progressBar.setRange(0, steps)
        self.progressBar.setValue(0)
        self.progressBar.setFormat("preparing…")
        self.statusLabel.setText("Preparing data and the frozen-weights snapshot…")
        self.speedLabel.setText("")
        self.proofLabel.setText("")
        self.proofLabel.setStyleSheet("")
        self.reportView.clear()

    def _start_worker(self, make_run: Callable[[threading.Event], TrainingRun]) -> None:
        self._stop, self._done = threading.Event(), threading.Event()
        connect: Slots = {  # bound methods of this dock: delivered queued, in the UI thread
            "yielded": self._on_steps,
            "returned": self._on_returned,
            "errored": self._on_errored,  # connected: superqt does not re-raise it
            "finished": self._on_worker_done,
        }
        self._worker = start_worker(training_batches, make_run, self._stop, self._done, connect)

    def stop(self) -> None:
        """Ask the run to end after the current step."""
        if self._worker is not None:
            self._stop.set()
            self.stopButton.setEnabled(False)
            self.statusLabel.setText("Stopping after the current step…")

    def shutdown(self) -> None:
        """Stop the run and wait for the worker (the window calls this when it closes)."""
        self.queue.shutdown()
        if self._worker is None:
            return
        self._stop.set()
        self._done.wait()  # the engine ends the run at the next step boundary
        QApplication.sendPostedEvents(self)  # deliver its last signals while the widgets still exist
        self._on_worker_done()

    def _on_steps(self, results: list[StepResult]) -> None:
        last = results[-1]
        self.progressBar.setValue(last.step)
        self.progressBar.setFormat(f"%v / %m steps · ETA {duration(last.eta)}")
        steps_per_s = last.step / last.elapsed if last.elapsed > 0 else 0.0
        self.speedLabel.setText(f"{steps_per_s:.2f} steps/s · {last.examples_per_s:.1f} examples/s")
        stage = f" · {'before ' if not last.stage else ''}stage {last.stage or 1} of {self._stages}"
        stage = stage if self._stages else ""
        self.statusLabel.setText(f"step {last.step}: loss {last.loss:.4f}{stage}")
        self.lossChart.add(results)

    def _on_returned(self, run: TrainingRun) -> None:
        self._last_run = run
        if run.report is not None:  # a returned run always has its report
            self._on_finished(run.report)

    def _on_errored(self, exc: BaseException) -> None:
        from freezegui.core.messages import error_line

        self._on_failed(error_line(exc))

    def _on_finished(self, report: TrainingReport) -> None:
        self.report = report
        self.progressBar.setFormat(f"%v / %m steps · {report.status}")
        self.statusLabel.setText(report.status + (f": {report.message}" if report.message else ""))
        self.reportView.setPlainText("\n".join(report.lines()))
        if report.proof is not None:
            text, style = proof_text(report.proof)
            self.proofLabel.setText(text)
            self.proofLabel.setStyleSheet(style)

    def _on_failed(self, message: str) -> None:
        self.report = None
        self.progressBar.setFormat("could not start")
        self.statusLabel.setText(message)
        self.reportView.setPlainText(f"The run could not start:\n{message}")
        self._show_error(message)

    def _on_worker_done(self) -> None:
        if self._worker is None:
            return
        self._worker = None
        self._lock(False)
        self._set_running(False)
        self.runEnded.emit(self.report)  # after the worker is gone and the controls are back

    def _lock(self, locked: bool) -> None:
        lock = getattr(self.window_, "set_editing_locked", None)
        if callable(lock):
            lock(locked, "A training run is using the selection" if locked else "")

    # ------------------------------------------------------------------------------------- files
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
        box = message_box(self, "Training", message, QMessageBox.Icon.Warning)  # fits the screen
        box.setObjectName("trainingError")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.error_box = box
        box.open()  # not exec(): the app (and the tests) keep running
