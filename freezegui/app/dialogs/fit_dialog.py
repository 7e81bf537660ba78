"""**Fit to GPU…** (the Cost dock's button): the largest usual selection that fits a GPU size.

The search (:func:`freezegui.core.decide.fit.fit_steps`) runs in a superqt worker with the Cost
dock's settings and never touches a widget; each plan it runs is shown as progress, Cancel stops it
at its next op. The choice is previewed read-only in the tree (as a stage view is) and **Apply**
makes it one undoable edit (the flags, the adapters and the LoRA rank together). Closing the dialog
without applying puts the tree back.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from freezegui.app.docks.cost.panel import CostPanel
    from freezegui.app.main_window import MainWindow
    from freezegui.core.editing.document import Document

GIB = 1024**3
# The budget of the last applied fit, per window ("Suggest from probe" stays within it).
FIT_BUDGETS: WeakKeyDictionary[Any, int] = WeakKeyDictionary()


def fit_button(panel: CostPanel) -> QPushButton:
    """The Cost dock's "Fit to GPU…" button (the dock's only hook into this module)."""
    button = QPushButton("Fit to GPU…")
    button.setObjectName("costFit")
    button.setToolTip("Find the most you can train within the GPU size: last N blocks, or LoRA rank r")
    button.clicked.connect(lambda: show_fit_dialog(panel.window_, panel))
    return button


def show_fit_dialog(window: MainWindow, panel: CostPanel) -> FitDialog | None:
    if getattr(window, "document", None) is None:
        return None
    dialog = FitDialog(window, panel)
    dialog.show()
    return dialog


class FitDialog(QDialog):
    """Search, preview, apply (see the module docstring)."""

    def __init__(self, window: MainWindow, panel: CostPanel, parent: QWidget | None = None) -> None:
        super().__init__(parent or window)
        self.setObjectName("fitDialog")
        self.setWindowTitle("Fit to GPU")
        self.window_, self.panel = window, panel
        doc = window.document
        assert doc is not None  # show_fit_dialog opens it only on a document
        self.doc: Document = doc
        self.result: Any = None
        self._worker: Any = None
        self._cancel = threading.Event()
        self.gpu = QDoubleSpinBox()
        self.gpu.setObjectName("fitGpu")
        self.gpu.setRange(0.001, 100_000)
        self.gpu.setDecimals(3)
        self.gpu.setSuffix(" GiB")
        self.gpu.setValue(panel.gpu_bytes() / GIB or 80)
        self.lora = QCheckBox("LoRA adapters (attention / all linear, rank r) instead of whole blocks")
        self.lora.setObjectName("fitLora")
        self.checkpointing = QCheckBox("allow gradient checkpointing (where the model has the switch)")
        self.checkpointing.setChecked(True)
        self.status = QLabel("The batch, length, dtype and optimizer are the Cost dock's.")
        self.status.setObjectName("fitStatus")
        self.status.setWordWrap(True)
        self.text = QPlainTextEdit()
        self.text.setObjectName("fitResult")
        self.text.setReadOnly(True)
        self.buttons = QDialogButtonBox()
        self.search = self.buttons.addButton("Search", QDialogButtonBox.ButtonRole.ActionRole)
        self.apply = self.buttons.addButton("Apply", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.apply.setEnabled(False)
        self.search.clicked.connect(self.start)
        self.apply.clicked.connect(self.apply_choice)
        self.cancel.clicked.connect(self.reject)
        form = QFormLayout()
        form.addRow("GPU memory", self.gpu)
        form.addRow("", self.lora)
        form.addRow("", self.checkpointing)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.text)
        layout.addWidget(self.buttons)
        self.resize(560, 320)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._stop_worker)

    # ------------------------------------------------------------------------------------- search
    def start(self) -> None:
        from superqt.utils import create_worker

        from freezegui.core.decide.fit import fit_steps
        from freezegui.core.plan import PlanOptions
        from freezegui.core.rules.ruleset import Method, NormPolicy, RuleSet

        self._stop_worker()
        self._preview(None)
        self.result = None
        self.apply.setEnabled(False)
        try:
            options = PlanOptions.make(**{**self.panel.options(), "gradient_checkpointing": False})
        except Exception as exc:
            self._failed(exc)
            return
        doc = self.doc
        start = RuleSet(default="freeze", method=Method(doc.method), batchnorm=NormPolicy(doc.batchnorm))
        self._cancel = cancel = threading.Event()
        self.status.setText("Planning…")
        self.text.clear()
        self._worker = create_worker(
            fit_steps,
            doc.model,
            self.gpu.value() * GIB,
            options=options,
            start=start,
            lora=self.lora.isChecked(),
            checkpointing=self.checkpointing.isChecked(),
            tree=doc.tree,
            cancel=cancel.is_set,
            _connect={"yielded": self._step, "returned": self._done, "errored": self._failed},
        )

    def _step(self, step: Any) -> None:
        from freezegui.core.structure.counting import format_bytes

        if self._worker is None:  # cancelled: a late signal
            return
        verdict = "fits" if step.fits else "does not fit"
        self.status.setText(f"Plan {step.planned}: {step.label} — {format_bytes(step.peak_bytes)}, {verdict}")
        self.text.appendPlainText(self.status.text())

    def _done(self, result: Any) -> None:
        if self._worker is None:  # cancelled or closed meanwhile: never preview a stale search
            return
        self._worker = None
        self.result = result
        self.text.setPlainText("\n".join(result.lines()))
        self.status.setText("The tree shows this choice (read-only) until you apply it or close.")
        self.apply.setEnabled(True)
        self._preview(result)

    def _failed(self, exc: BaseException) -> None:
        from freezegui.core.messages import reason
        from freezegui.core.plan import PlanCancelled

        self._worker = None
        if not isinstance(exc, PlanCancelled):
            self.status.setText(f"No fit: {reason(exc)}")

    # ------------------------------------------------------------------------------------- choice
    def _selection_of(self, result: Any) -> tuple[Any, Any, Any]:
        """(trainable mask, adapted modules, LoRA settings or None) of the choice."""
        import numpy as np

        rung = result.candidate
        adapted = (
            rung.adapted if rung.adapted is not None else np.zeros(len(self.doc.tree.modules), dtype=np.bool_)
        )
        return rung.mask, adapted, rung.lora

    def _preview(self, result: Any) -> None:
        model = self.window_.tree_model
        if result is None:
            model.show_stage(None)
            return
        from freezegui.core.editing.selection import Selection

        mask, adapted, lora = self._selection_of(result)
        selection = Selection(self.doc.tree)
        selection.set_adapted_mask(adapted, label="preview", trainable=mask, settings=lora)
        model.show_stage(dataclasses.replace(self.doc, selection=selection))

    def apply_choice(self) -> None:
        """The choice as one undoable edit (and the budget kept for "Suggest from probe")."""
        if self.result is None or self.window_.document is not self.doc:
            return
        mask, adapted, lora = self._selection_of(self.result)
        label = f"Fit to GPU: {self.result.candidate.describe(self.result.gradient_checkpointing)}"
        self._preview(None)
        self.doc.selection.set_adapted_mask(adapted, label=label, trainable=mask, settings=lora)
        if self.result.gradient_checkpointing and not self.panel.checkpointing.isChecked():
            self.panel.checkpointing.setChecked(True)  # the plan the choice fits assumes it
        FIT_BUDGETS[self.window_] = self.result.budget_bytes
        self.accept()

    def _stop_worker(self) -> None:
        """Stop the search at its next op; listed until it ends, so quitting never waits on it."""
        from freezegui.app.commands.loader import abandon_worker

        self._cancel.set()
        if self._worker is not None:
            abandon_worker(self._worker)
            self._worker = None

    def done(self, code: int) -> None:
        self._stop_worker()
        self._preview(None)
        super().done(code)
