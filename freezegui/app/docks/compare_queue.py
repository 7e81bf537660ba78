"""The training dock's queue: compare the current selection and saved rule files side by side.

The queued selections run one after another in the background (the core's
:class:`~freezegui.core.training.selections.Comparison` generator in a superqt worker that never
touches a widget); their loss and validation curves share one chart with a legend, the table fills
as each run ends, and the result saves as JSON, CSV or the chart as PNG. Progress, ETA and Stop are
for the whole comparison; a run that fails ends with its message and the next one starts.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)
from superqt.utils import GeneratorWorker

from freezegui.app.docks.compare_chart import CompareChart
from freezegui.app.docks.training_widgets import duration
from freezegui.app.docks.training_worker import Slots, start_worker
from freezegui.core.atomic import atomic_write_text
from freezegui.core.errors import FreezeguiError
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.runtime.apply import as_ruleset
from freezegui.core.training.selections import (
    CompareEvent,
    Comparison,
    SelectionResult,
    overall,
    selections_csv,
)

if TYPE_CHECKING:
    from freezegui.app.docks.training_panel import TrainingPanel

CURRENT = "current selection"
COLUMNS = ("rules", "trainable", "val loss", "metric", "ms/step", "status")
EMIT_INTERVAL = 0.05


def comparison_batches(
    make: Callable[[threading.Event], Comparison], stop: threading.Event
) -> Generator[list[CompareEvent], None, list[SelectionResult]]:
    """In the worker: the comparison's events in batches (a run's start and end at once)."""
    comparison = make(stop)
    pending: list[CompareEvent] = []
    last = 0.0
    for event in comparison.events():
        pending.append(event)
        now = time.monotonic()
        if event.step is None or now - last >= EMIT_INTERVAL:
            yield pending
            pending, last = [], now
    if pending:
        yield pending
    return comparison.results


class CompareQueue(QGroupBox):
    """Queue, Run / Stop, overall progress with ETA, the overlaid chart, the table, Save."""

    def __init__(self, panel: TrainingPanel) -> None:
        super().__init__("Compare selections", panel)
        self.setObjectName("compareQueue")
        self.panel = panel
        self.entries: list[tuple[str, RuleSet | None]] = []  # None: the current selection, taken at Run
        self.results: list[SelectionResult] = []
        self._worker: GeneratorWorker[Any, Any, Any] | None = None
        self._stop = self._done = threading.Event()
        self._steps = 1
        self._build()
        self.add_current()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.queueList = QListWidget()
        self.queueList.setObjectName("compareList")
        self.queueList.setMaximumHeight(90)
        row = QHBoxLayout()
        self.addCurrentButton = self._button(
            "Add current", "Queue the selection as it is now", self.add_current
        )
        self.addFilesButton = self._button("Add rule files…", "Queue saved rule files", self._choose_files)
        self.removeButton = self._button(
            "Remove", "Take the chosen entry off the queue", self.remove_selected
        )
        self.runButton = self._button(
            "Run queue", "Train each queued selection from the same weights", self.start
        )
        self.stopButton = self._button("Stop", "End the comparison after the current step", self.stop)
        self.saveButton = self._button(
            "Save…", "Save the table (JSON, CSV) or the chart (PNG)", self._save_clicked
        )
        for b in (self.addCurrentButton, self.addFilesButton, self.removeButton, self.runButton):
            row.addWidget(b)
        row.addWidget(self.stopButton)
        row.addWidget(self.saveButton)
        self.progressBar = QProgressBar()
        self.progressBar.setObjectName("compareProgress")
        self.progressBar.setFormat("idle")
        self.chart = CompareChart()
        self.chart.setObjectName("compareChart")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("compareTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setMaximumHeight(150)
        for w in (self.queueList,):
            layout.addWidget(w)
        layout.addLayout(row)
        layout.addWidget(self.progressBar)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.table)
        self._set_running(False)

    def _button(self, text: str, tip: str, slot: Callable[[], object]) -> QPushButton:
        b = QPushButton(text)
        b.setToolTip(tip)
        b.clicked.connect(lambda *_: slot())
        return b

    # ------------------------------------------------------------------------------------- queue
    def add_current(self) -> None:
        self.entries.append((CURRENT, None))
        self.queueList.addItem(CURRENT)

    def add_rule_file(self, path: str | Path) -> bool:
        """Queue a rule file (read now: a bad file is one line, and nothing is queued)."""
        try:
            rules = as_ruleset(path)
        except (FreezeguiError, OSError) as exc:
            self.panel._show_error(f"{path}: {exc}" if isinstance(exc, OSError) else str(exc))
            return False
        self.entries.append((str(path), rules))
        self.queueList.addItem(Path(path).name)
        return True

    def _choose_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Queue rule files", "", "Rule files (*.yaml *.yml)")
        for p in paths:
            self.add_rule_file(p)

    def remove_selected(self) -> None:
        row = self.queueList.currentRow()
        if 0 <= row < len(self.entries):
            del self.entries[row]
            self.queueList.takeItem(row)
        self._set_running(self.is_running)

    # ------------------------------------------------------------------------------------- run
    @property
    def is_running(self) -> bool:
        return self._worker is not None

    def _set_running(self, running: bool) -> None:
        blocker = self.panel._start_blocker() if not running else ""
        can_run = not running and not blocker and bool(self.entries) and not self.panel.is_running
        self.runButton.setEnabled(can_run)
        self.runButton.setToolTip(blocker or "Train each queued selection from the same weights")
        self.stopButton.setEnabled(running)
        self.saveButton.setEnabled(not running and bool(self.results))
        for b in (self.addCurrentButton, self.addFilesButton, self.removeButton):
            b.setEnabled(not running)
        self.panel.trainButton.setEnabled(not running and not self.panel.is_running and not blocker)

    def start(self) -> bool:
        """Run the queue on copies of the open model; False (with a message) when it cannot start."""
        if self.is_running or self.panel.is_running or not self.entries:
            return False
        blocker = self.panel._start_blocker()
        cfg = self.panel.config()
        try:
            if blocker:
                raise FreezeguiError(blocker)
            cfg.validate()
        except FreezeguiError as exc:
            self.panel._show_error(str(exc))
            return False
        doc = self.panel._document()
        assert doc is not None  # _start_blocker() said there is a model
        current = doc.to_ruleset()
        entries = [(label, rules if rules is not None else current) for label, rules in self.entries]
        model, spec = doc.model, (str(doc.spec) if doc.spec is not None else None)
        self._steps, self._runs = cfg.steps, len(entries)
        self.results = []
        self.chart.reset(cfg.steps)
        self.table.setRowCount(0)
        self.progressBar.setRange(0, self._runs * cfg.steps)
        self.progressBar.setValue(0)
        self.progressBar.setFormat("preparing…")
        self._stop, self._done = threading.Event(), threading.Event()

        def make(stop: threading.Event) -> Comparison:
            return Comparison(model, cfg, entries, spec=spec, stop_event=stop)  # copies made per run, here

        connect: Slots = {
            "yielded": self._on_events,
            "returned": self._on_returned,
            "errored": self._on_errored,
            "finished": self._on_done,
        }
        self._worker = start_worker(comparison_batches, make, self._stop, self._done, connect)
        self.panel._lock(True)
        self._set_running(True)
        return True

    def _on_errored(self, exc: BaseException) -> None:
        self.panel._show_error(
            str(exc) if isinstance(exc, FreezeguiError) else f"{type(exc).__name__}: {exc}"
        )

    def stop(self) -> None:
        if self._worker is not None:
            self._stop.set()
            self.stopButton.setEnabled(False)
            self.progressBar.setFormat("stopping after the current step…")

    def shutdown(self) -> None:
        """Stop and wait for the worker (the window is closing)."""
        if self._worker is None:
            return
        self._stop.set()
        self._done.wait()
        self._on_done()

    def _on_events(self, events: list[CompareEvent]) -> None:
        steps = [e for e in events if e.step is not None]
        for e in events:
            if e.result is not None:
                self._add_row(e.result)
        if steps:
            last = steps[-1]
            name = Path(last.label).name if last.label != CURRENT else CURRENT
            self.chart.add(last.index, name, [e.step for e in steps if e.step is not None])
            done, _, eta = overall(last, self._runs, self._steps)
            self.progressBar.setValue(done)
            run = f"run {last.index + 1} of {self._runs}"
            self.progressBar.setFormat(f"{run} · %v / %m steps · ETA {duration(eta or 0.0)}")

    def _add_row(self, result: SelectionResult) -> None:
        row = result.as_dict()
        metric = row["val_metric"]
        cells = (
            Path(row["rules"]).name if row["rules"] != CURRENT else CURRENT,
            f"{row['trainable']:,}" if row["trainable"] is not None else "-",
            f"{row['val_loss']:.4f}" if row["val_loss"] is not None else "-",
            "-"
            if metric is None
            else (f"{metric * 100:.1f} %" if row["metric"] == "accuracy" else f"{metric:.3g}"),
            f"{row['ms_per_step']:.1f}" if row["ms_per_step"] is not None else "-",
            row["status"] + (f": {row['message']}" if row["message"] else ""),
        )
        n = self.table.rowCount()
        self.table.insertRow(n)
        for col, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            self.table.setItem(n, col, item)

    def _on_returned(self, results: list[SelectionResult]) -> None:
        self.results = list(results)
        ended = "stopped" if self._stop.is_set() else "done"
        if not self._stop.is_set():
            self.progressBar.setValue(self.progressBar.maximum())  # failed runs end early: still done
        self.progressBar.setFormat(f"{ended}: {len(results)} of {self._runs} runs")

    def _on_done(self) -> None:
        if self._worker is None:
            return
        self._worker = None
        self.panel._lock(False)
        self._set_running(False)

    # ------------------------------------------------------------------------------------- save
    def _save_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the comparison", "comparison.json", "JSON (*.json);;CSV (*.csv);;Chart (*.png)"
        )
        if path:
            self.save(path)

    def save(self, path: str | Path) -> bool:
        """Write the result by the file's suffix: ``.json`` (the CLI's keys), ``.csv``, or ``.png`` (the chart)."""
        target = Path(path)
        try:
            if target.suffix.lower() == ".png":
                if not self.chart.grab().save(str(target)):
                    raise FreezeguiError(f"cannot write the chart to {target}")
            elif target.suffix.lower() == ".csv":
                atomic_write_text(target, selections_csv(self.results))
            else:
                text = json.dumps({"runs": [r.as_dict() for r in self.results]}, indent=2) + "\n"
                atomic_write_text(target, text)
        except (FreezeguiError, OSError) as exc:
            self.panel._show_error(str(exc))
            return False
        return True
