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

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDockWidget,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid
from superqt.utils import create_worker

from freezegui.app.dialogs.fit_dialog import fit_button
from freezegui.app.dialogs.form_widgets import combo, spin
from freezegui.app.docks.cost.bar import GIB, gpu_field, parse_gpu_gib
from freezegui.app.docks.cost.display import CostResults
from freezegui.app.docks.cost.pin import PinBox, Pinned
from freezegui.app.docks.cost.stage import StagePicker
from freezegui.app.docks.cost.worker import plan_stage, stop_check
from freezegui.core.plan.options import PlanCancelled

DEBOUNCE_MS = 300
MAX_BATCH = 65_536  # examples per GPU; a larger number is a typo, not a plan (it would still plan on meta)
FORM_TIPS = {  # a tooltip on every input of the dock
    "Batch": "Examples per step on one GPU",
    "Length": "Tokens per example (text models) or image side in pixels (vision models)",
    "Dtype": "The dtype the weights train in (model's: as loaded)",
    "Optimizer": "AdamW keeps 2 moments per trained parameter, SGD with momentum 1, SGD none",
    "GPU": "Memory of one GPU: a named GPU or any number of GiB",
}

if TYPE_CHECKING:
    from superqt.utils import FunctionWorker

    from freezegui.app.main_window import MainWindow
    from freezegui.core.editing.document import Document
    from freezegui.core.plan import Plan


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
        self.amp.setToolTip("Autocast to bf16 with fp32 master weights and optimizer moments")
        self.optimizer = combo(
            "costOptimizer", [("AdamW", "adamw"), ("SGD momentum", "sgd-momentum"), ("SGD", "sgd")]
        )
        self.checkpointing = QCheckBox("gradient checkpointing (transformers)")
        self.checkpointing.setObjectName("costCheckpointing")
        self.checkpointing.setToolTip(
            "Recompute each block in backward: fewer saved activations, more compute"
        )
        self.gpu = gpu_field()
        rows = (
            ("Batch", self.batch),
            (self.length_label, self.length),
            ("Dtype", self.dtype),
            ("", self.amp),
            ("Optimizer", self.optimizer),
            ("", self.checkpointing),
            ("GPU", self.gpu),
        )
        self.stage = StagePicker(QLabel("Stage"))  # the stage of a schedule planned (hidden without one)
        _add_rows(form, rows)
        form.addRow(self.stage.label, self.stage)
        self.results = CostResults()
        self.compare = PinBox()
        r = self.results  # the parts tests and the window read, by their old names
        self.bar, self.verdict, self.missing, self.breakdown = r.bar, r.verdict, r.missing, r.breakdown
        self.flops, self.ratio, self.status = r.flops, r.ratio, r.status
        layout = QVBoxLayout(body)
        layout.addLayout(form)
        layout.addWidget(self.results)
        layout.addWidget(self.compare)
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
        self.compare.pinRequested.connect(self.pin)
        self.compare.restoreRequested.connect(self.restore_pinned)
        self.compare.unpinRequested.connect(self.unpin)

    # ------------------------------------------------------------------------------------- inputs
    def gpu_bytes(self) -> float:
        """The GPU size typed or picked, in bytes (0 when the text does not start with a positive number)."""
        return parse_gpu_gib(self.gpu.currentText()) * GIB

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
        self.length.setSpecialValueText(default_length_text(self._doc.model, kind))
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

    # ------------------------------------------------------------------------------------- pin
    pinned: Pinned | None = None

    def pin(self) -> None:
        """Pin the current selection as A (its plan, when the one on screen is current)."""
        if self._doc is None:
            return
        self.pinned = Pinned.take(self._doc, self._generation, self.plan if self.is_current else None)
        self._show()

    def unpin(self) -> None:
        self.pinned = None
        self._show()

    def restore_pinned(self) -> None:
        """Selection A back, as one undoable edit (refused while a training run uses the selection)."""
        if self.pinned is None or self.pinned.doc is not self._doc:
            return
        if getattr(getattr(self.window_, "controller", None), "locked", False):
            return
        self.pinned.restore()

    # ------------------------------------------------------------------------------------- display
    def _show(self, *_: Any) -> None:
        plan, gpu = self.plan, self.gpu_bytes()
        stale = not self.is_current
        if plan is None:
            text = "Open a model to plan its cost." if self._doc is None else "Planning…"
            self.results.clear(gpu, stale, text)
        else:
            self.results.show_plan(plan, gpu, stale)
        self._show_compare()

    def _show_compare(self) -> None:
        pinned = self.pinned
        if pinned is not None and pinned.doc is not self._doc:
            self.pinned = pinned = None
        counts = self._doc.selection.counts() if self._doc is not None else None
        if pinned is not None and pinned.plan is None and self.plan_generation == pinned.generation:
            pinned.plan = self.plan if self.is_current else None
        self.compare.show_pair(pinned, counts, self.plan if self.is_current else None)
        totals = getattr(self.window_, "totals", None)
        if totals is not None and hasattr(totals, "show_pinned"):
            totals.show_pinned(pinned.counts if pinned is not None else None)


def default_length_text(model: Any, kind: str) -> str:
    """What "default" means for this model, said: "default (32 tokens)", "default (224 px)"."""
    from freezegui.core.plan.planner import DEFAULT_SEQ_LEN

    if kind == "tokens":
        return f"default ({DEFAULT_SEQ_LEN} tokens)"
    if kind == "pixels":
        side = getattr(getattr(model, "config", None), "image_size", None)
        return f"default ({side if isinstance(side, int) else 64} px)"
    return "default"


def _add_rows(form: QFormLayout, rows: tuple[tuple[str | QLabel, QWidget], ...]) -> None:
    """The form's rows, each input and its label with a tooltip."""
    for caption, field in rows:
        tip = FORM_TIPS.get(caption if isinstance(caption, str) else "Length", "")
        if tip and not field.toolTip():
            field.setToolTip(tip)
        form.addRow(caption, field)
        if isinstance(caption, QLabel):
            caption.setToolTip(tip)
        elif caption:
            label = form.labelForField(field)
            if label is not None:
                label.setToolTip(tip)
