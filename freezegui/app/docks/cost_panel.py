"""The Cost dock: what training the current selection costs, beside a GPU size, recomputed in the background.

Every edit (a toggle, a setting) restarts a short debounce timer; when it fires, the core planner
runs in a superqt worker on a snapshot of the selection. One plan runs at a time: an edit made while
one runs marks it stale and a new plan starts when it returns. Each request carries a generation
number and a result from an older generation is dropped, so a stale plan is never shown as current
(while a newer one computes, the last numbers stay greyed out under "updating…"). The worker never
touches a widget; a toggle on a 70B tree costs the UI one timer restart. A hidden dock (a tab
behind another) plans nothing until it is shown.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFormLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid
from superqt.utils import create_worker

from freezegui.app.dialogs.fit_dialog import fit_button
from freezegui.app.dialogs.form_widgets import combo, spin
from freezegui.app.docks.cost_stage import StagePicker
from freezegui.app.docks.cost_worker import plan_stage, stop_check
from freezegui.core.plan.options import PlanCancelled
from freezegui.core.plan.result import format_flops
from freezegui.core.structure.counting import format_bytes

GIB = 1024**3
GPU_PRESETS = ("24", "40", "80", "141")
DEBOUNCE_MS = 300
MAX_BATCH = 65_536  # examples per GPU; a larger number is a typo, not a plan (it would still plan on meta)
SEGMENTS = (  # (attribute of Cost, legend, colour)
    ("weights_bytes", "weights", "#5b7fbf"),
    ("gradients_bytes", "gradients", "#d08a3c"),
    ("optimizer_bytes", "optimizer", "#8c6bb1"),
    ("activations_bytes", "activations", "#4e9a5b"),
    ("temporary_bytes", "temporary", "#9e9e9e"),
)

if TYPE_CHECKING:
    from superqt.utils import FunctionWorker

    from freezegui.app.main_window import MainWindow
    from freezegui.core.editing.document import Document
    from freezegui.core.plan import Plan


class CostBar(QWidget):
    """A stacked bar of one rank's memory, with the GPU size as a vertical line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("costBar")
        self.setMinimumHeight(28)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.parts: list[tuple[int, str]] = []
        self.gpu_bytes = 0.0
        self.stale = False

    def sizeHint(self) -> QSize:
        return QSize(300, 28)

    def set_parts(self, parts: list[tuple[int, str]], gpu_bytes: float, stale: bool) -> None:
        self.parts, self.gpu_bytes, self.stale = parts, gpu_bytes, stale
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = QRectF(self.rect()).adjusted(1, 4, -1, -4)
        painter.fillRect(rect, QColor("#eeeeee"))
        total = sum(n for n, _ in self.parts)
        scale = max(total, self.gpu_bytes, 1)
        x = rect.left()
        for n, colour in self.parts:
            w = rect.width() * n / scale
            c = QColor(colour)
            if self.stale:
                c.setAlpha(90)
            painter.fillRect(QRectF(x, rect.top(), w, rect.height()), c)
            x += w
        if self.gpu_bytes:
            gx = rect.left() + rect.width() * self.gpu_bytes / scale
            painter.setPen(QPen(QColor("#c62828"), 2))
            painter.drawLine(int(gx), int(rect.top()) - 3, int(gx), int(rect.bottom()) + 3)
        painter.end()


class CostPanel(QDockWidget):
    """The "Cost" dock (see the module docstring for how it stays responsive)."""

    planShown = Signal(object)  # the Plan now on screen (current, never stale)
    planStale = Signal()  # an edit: the plan on screen no longer matches
    per_module = False  # also every module's numbers (the tree's cost columns ask for them)

    def __init__(self, window: MainWindow) -> None:
        super().__init__("Cost", window)
        self.setObjectName("costPanel")
        self.window_ = window
        self._doc: Document | None = None
        self._generation = 0
        self._running = False
        self._worker: FunctionWorker[Any] | None = None
        self._ended = threading.Event()  # set by the worker when its plan has ended
        self._cancel: threading.Event | None = None  # set to stop the running plan at its next op
        self._stale: threading.Event | None = None  # set by an edit: the running plan pauses
        self._full: Plan | None = None  # the last full fine-tune plan (reused while the settings stay)
        self.plan: Plan | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._start)
        self._build()
        self._closed = False
        self._shown = False  # from visibilityChanged: a tabified dock behind another reports isVisible()
        changed = getattr(window, "documentChanged", None)
        if changed is not None:
            changed.connect(self._document_changed)
        self.visibilityChanged.connect(self._visibility_changed)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._document_changed()

    def shutdown(self) -> None:
        """Stop planning: a plan in flight is dropped (the entry point does not wait for it)."""
        from freezegui.app.commands.loader import abandon_worker

        self._closed = True
        if self._stale is not None and self._stale.is_set():
            self._stop_running()  # a stale plan sleeps until stopped; a current one may run on
        self._timer.stop()
        self._generation += 1
        worker, self._worker = self._worker, None
        if self._running:  # queued or running: listed until its plan ends
            ended = self._ended
            abandon_worker(worker, lambda: not ended.is_set())

    # ------------------------------------------------------------------------------------- widgets
    def _build(self) -> None:
        body = QWidget(self)
        form = QFormLayout()
        self.batch = spin("costBatch", 1, MAX_BATCH, 8)
        self.batch.setToolTip(f"Examples per GPU (1 to {MAX_BATCH:,})")
        self.length = spin("costLength", 0, 1_000_000, 0, "default")
        self.length_label = QLabel("Length")
        self.dtype = combo(
            "costDtype", [("model's", None), ("fp32", "fp32"), ("bf16", "bf16"), ("fp16", "fp16")]
        )
        self.amp = QCheckBox("mixed precision (fp32 master weights, moments)")
        self.amp.setObjectName("costAmp")
        self.optimizer = combo(
            "costOptimizer", [("AdamW", "adamw"), ("SGD momentum", "sgd-momentum"), ("SGD", "sgd")]
        )
        self.checkpointing = QCheckBox("gradient checkpointing (transformers)")
        self.checkpointing.setObjectName("costCheckpointing")
        self.gpu = QComboBox()
        self.gpu.setObjectName("costGpu")
        self.gpu.setEditable(True)
        self.gpu.addItems(GPU_PRESETS)
        self.gpu.setCurrentText("80")
        self.gpu.setToolTip("GPU memory in GiB: a preset or any number")
        form.addRow("Batch", self.batch)
        form.addRow(self.length_label, self.length)
        form.addRow("Dtype", self.dtype)
        form.addRow("", self.amp)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("", self.checkpointing)
        form.addRow("GPU (GiB)", self.gpu)
        self.stage = StagePicker(QLabel("Stage"))  # the stage of a schedule planned (hidden without one)
        form.addRow(self.stage.label, self.stage)
        self.bar = CostBar()
        self.verdict = _label("costVerdict", "font-weight: 600; font-size: 14px;")
        self.breakdown = _label("costBreakdown", "")
        self.flops = _label("costFlops", "")
        self.ratio = _label("costRatio", "")
        self.status = _label("costStatus", "color: #666;")
        self.status.setWordWrap(True)
        self.breakdown.setWordWrap(True)
        layout = QVBoxLayout(body)
        layout.addLayout(form)
        for w in (self.bar, self.verdict, self.breakdown, self.flops, self.ratio, self.status):
            layout.addWidget(w)
        layout.addWidget(fit_button(self))
        layout.addStretch(1)
        self.setWidget(body)
        for field in (self.batch, self.length):
            field.valueChanged.connect(self.schedule)
        for choice in (self.dtype, self.optimizer, self.stage):
            choice.currentIndexChanged.connect(self.schedule)
        for box in (self.amp, self.checkpointing):
            box.toggled.connect(self.schedule)
        self.gpu.currentTextChanged.connect(self._show)

    # ------------------------------------------------------------------------------------- inputs
    def gpu_bytes(self) -> float:
        """The GPU size typed or picked, in bytes (0 when the text is not a positive number)."""
        text = self.gpu.currentText().strip().lower().removesuffix("gib").strip()
        try:
            value = float(text)
        except ValueError:
            return 0.0
        return value * GIB if value > 0 else 0.0

    def options(self) -> dict[str, Any]:
        """The planner's keyword arguments from the inputs."""
        length = self.length.value() or None
        kind = self.length_label.property("kind")
        return {
            "batch_size": self.batch.value(),
            "seq_len": length if kind == "tokens" else None,
            "image_size": length if kind == "pixels" else None,
            "dtype": self.dtype.currentData(),
            "amp": self.amp.isChecked(),
            "optimizer": self.optimizer.currentData(),
            "gradient_checkpointing": self.checkpointing.isChecked(),
        }

    # ------------------------------------------------------------------------------------- document
    def _document_changed(self, *_: Any) -> None:
        if self._doc is not None:
            self._doc.selection.changed.disconnect(self.schedule)
        self._doc = getattr(self.window_, "document", None)
        self._full = None
        self.plan = None
        self._generation += 1  # anything in flight is for the old document
        if self._doc is None:
            self._timer.stop()
            self._show()
            return
        from freezegui.core.plan import length_kind

        kind = length_kind(self._doc.model)
        self.length_label.setText({"tokens": "Tokens", "pixels": "Image px"}.get(kind, "Length"))
        self.length_label.setProperty("kind", kind)
        self.length.setEnabled(bool(kind))
        self._doc.selection.changed.connect(self.schedule)
        self.stage.follow(self._doc.schedule)
        self.schedule()

    def schedule(self, *_: Any) -> None:
        """An edit: the plan on screen is now stale; recompute after a short quiet period (when shown).

        A plan still running is stale too: it sleeps at its next op (leaving the interpreter to the
        UI while the user edits) and is stopped when the next plan starts."""
        self._generation += 1
        self.planStale.emit()
        if self._stale is not None:
            self._stale.set()
        if not self._shown:
            self._stop_running()
        if self._shown and not self._closed:
            self._timer.start(DEBOUNCE_MS)  # explicit: start(0) elsewhere changes the interval
        self._show()

    def _stop_running(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def _visibility_changed(self, visible: bool) -> None:
        self._shown = visible
        if not visible and not self.is_current:
            self._stop_running()  # a stale plan would sleep until the dock is shown again
        if visible and self._doc is not None and not self.is_current and not self._timer.isActive():
            self._timer.start(0)

    # ------------------------------------------------------------------------------------- worker
    @property
    def is_current(self) -> bool:
        """True when the plan on screen belongs to the current selection and settings."""
        return self.plan is not None and self.plan_generation == self._generation

    plan_generation = -1

    def _start(self) -> None:
        doc = self._doc
        if doc is None or self._closed or not self._shown:
            return
        if self._running:  # one at a time: the stale one stops at its next op, _failed starts this one
            self._stop_running()  # (not at the edit itself: unwinding a 70B step takes a while)
            return
        from freezegui.core.plan import PlanOptions

        gen = self._generation
        try:
            options = PlanOptions.make(**self.options())
        except Exception as exc:
            self._failed(gen, exc)
            return
        self.stage.follow(doc.schedule)
        snapshot = doc.snapshot()  # later toggles do not reach the worker; it plans doc.to_ruleset()
        full = self._full if self._full is not None and self._full.options == options else None
        self._running = True
        self._ended = ended = threading.Event()
        self._cancel, self._stale = cancel, stale = threading.Event(), threading.Event()
        self._worker = create_worker(
            plan_stage,
            ended,
            snapshot,
            self.stage.stage(),
            options,
            full_finetune=full,
            cancel=stop_check(stale, cancel),
            per_module=self.per_module,
            _connect={
                "returned": functools.partial(self._done, gen, doc),
                "errored": functools.partial(self._failed, gen),
            },
        )

    def _done(self, gen: int, doc: Any, plan: Any) -> None:
        if self._closed or not isValid(self):
            return
        self._running = False
        if doc is self._doc:
            self._full = plan.full_finetune
        if gen == self._generation and doc is self._doc:
            self.plan, self.plan_generation = plan, gen
            self._show()
            self.planShown.emit(plan)
        elif self._doc is not None and not self._timer.isActive():
            self._timer.start(0)  # edits arrived meanwhile: plan the newest state

    def _failed(self, gen: int, exc: BaseException) -> None:
        if self._closed or not isValid(self):
            return
        self._running = False
        if gen == self._generation and not isinstance(exc, PlanCancelled):
            self.plan = None
            from freezegui.core.messages import error_line

            self.status.setText(f"Cannot plan: {error_line(exc)}")
        elif self._doc is not None and not self._timer.isActive():
            self._timer.start(0)

    # ------------------------------------------------------------------------------------- display
    def _show(self, *_: Any) -> None:
        plan, gpu = self.plan, self.gpu_bytes()
        stale = not self.is_current
        if plan is None:
            self.bar.set_parts([], gpu, stale)
            for label in (self.verdict, self.breakdown, self.flops, self.ratio):
                label.setText("")
            self.status.setText("Open a model to plan its cost." if self._doc is None else "Planning…")
            return
        rank = plan.per_rank
        self.bar.set_parts([(getattr(rank, a), c) for a, _, c in SEGMENTS], gpu, stale)
        fits = gpu > 0 and plan.fits(gpu)
        verdict = "fits" if fits else "does not fit"
        colour = "#999999" if stale else ("#1b7f3b" if fits else "#c62828")
        self.verdict.setText(
            f"Peak {format_bytes(rank.peak_bytes)} — {verdict}" + (" (stale)" if stale else "")
        )
        self.verdict.setStyleSheet(f"font-weight: 600; font-size: 14px; color: {colour};")
        self.verdict.setProperty("fits", fits)
        self.breakdown.setText(
            " · ".join(
                f'<span style="color:{c}">■</span> {name} {format_bytes(getattr(rank, a))}'
                for a, name, c in SEGMENTS
                if getattr(rank, a)
            )
        )
        self.flops.setText(
            f"Step: {format_flops(plan.step_flops)}FLOPs" if plan.step_ran else "Step FLOPs: unknown"
        )
        ratio = plan.ratio("step_flops")
        peak_ratio = plan.ratio("peak_bytes")
        self.ratio.setText(
            f"× of full fine-tuning: compute {ratio:.2f}×"
            + (f", memory {peak_ratio:.2f}×" if peak_ratio else "")
            if ratio is not None
            else ""
        )
        self.status.setText("Updating…" if stale else (plan.message or "Current."))


def _label(name: str, style: str) -> QLabel:
    label = QLabel("")
    label.setObjectName(name)
    if style:
        label.setStyleSheet(style)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label
