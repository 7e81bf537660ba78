"""**Probe** and **Suggest from probe** (Edit menu): the RGN column, filled in the background.

The probe (:func:`freezegui.core.decide.probe.probe_steps`) runs on a copy of the open model in a
superqt worker with the Training dock's data, batch size, device and seed, one progress step per
batch; Cancel stops it after the current batch. Its RGN per module fills the tree's RGN column
(heat tint). "Suggest from probe" trains the top-k blocks by RGN and the head, as one undoable edit;
after a Fit to GPU it keeps k within that budget (planned in a worker too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QProgressDialog

if TYPE_CHECKING:
    from freezegui.app.main_window import MainWindow
    from freezegui.core.editing.document import Document

DEFAULT_BATCHES = 4
# What runs per window (kept referenced while it runs): the probe job, the suggestion's worker.
RUNNING: WeakKeyDictionary[Any, dict[str, Any]] = WeakKeyDictionary()


class ProbeJob:
    """One probe run: its worker and its progress dialog (kept on the window while it runs)."""

    def __init__(self, window: MainWindow, batches: int) -> None:
        from superqt.utils import create_worker

        from freezegui.core.decide.probe import probe_steps
        from freezegui.core.training.engine import _model_dir_of

        doc, panel = window.document, window.training_panel
        assert doc is not None and panel is not None  # start_probe checks both
        self.window, self.doc = window, doc
        config = panel.config()
        self.progress = QProgressDialog(f"Probing: batch 0 of {batches}…", "Cancel", 0, batches, window)
        self.progress.setObjectName("probeProgress")
        self.progress.setWindowTitle("Probe")
        self.progress.setWindowModality(Qt.WindowModality.NonModal)
        self.progress.setMinimumDuration(0)
        self.progress.canceled.connect(self.cancel)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)
        self.result: Any = None
        self.worker: Any = create_worker(
            probe_steps,
            self.doc.model,
            data=config.data,
            batches=batches,
            batch_size=config.batch_size,
            seed=config.seed,
            device=config.device,
            seq_len=config.seq_len,
            image_size=config.image_size,
            model_dir=_model_dir_of(self.doc.spec),
            _connect={"yielded": self._step, "returned": self._done, "errored": self._failed},
        )

    def cancel(self) -> None:
        self.stop()
        self.window.statusBar().showMessage("Probe cancelled", 4000)

    def stop(self) -> None:
        """Stop at the next batch; listed until it ends, so quitting never waits on it."""
        from freezegui.app.commands.loader import abandon_worker

        if self.worker is not None:
            abandon_worker(self.worker)
            self.worker = None

    def _step(self, step: Any) -> None:
        if self.worker is None:
            return
        self.progress.setValue(step.batch)
        self.progress.setLabelText(f"Probing: batch {step.batch} of {step.batches}, loss {step.loss:.4f}")

    def _done(self, result: Any) -> None:
        from freezegui.app.tree.columns import COL_RGN
        from freezegui.app.tree.probe_values import set_probe

        if self.worker is None:
            return
        self.worker, self.result = None, result
        self.progress.reset()
        set_probe(self.doc.tree, result.for_tree(self.doc.tree))
        self.window.tree_model.invalidate()
        self.window.tree_view.header().showSection(COL_RGN)  # hidden until a probe has filled it
        self.window.statusBar().showMessage(
            f"Probe: RGN of {len(result.paths)} modules over {result.batches} batches ({result.device})", 6000
        )

    def _failed(self, exc: BaseException) -> None:
        from freezegui.core.messages import reason

        self.worker = None
        self.progress.reset()
        self.window.prompt.error("Cannot probe", reason(exc))


def start_probe(window: MainWindow, batches: int | None = None) -> ProbeJob | None:
    """Start a probe of the open model (asks K when not given); None when there is nothing to probe."""
    if window.document is None or window.training_panel is None:
        return None
    if batches is None:
        batches = window.prompt.number(
            "Probe", "Forward/backward passes (batches):", DEFAULT_BATCHES, 1, 1000
        )
        if batches is None:
            return None
    job = ProbeJob(window, batches)
    RUNNING.setdefault(window, {})["probe"] = job
    return job


def suggest_from_probe(window: MainWindow, k: int | None = None) -> Any:
    """Train the top-k blocks by RGN (+ head): at once, or planned within the Fit budget first."""
    from freezegui.app.tree.probe_values import probe_values
    from freezegui.core.decide.suggest import ranked_blocks

    doc = window.document
    values = probe_values(doc.tree) if doc is not None else None
    if doc is None or values is None:
        window.prompt.information(
            "Suggest from probe", "Run Edit → Probe first: it measures each block's RGN."
        )
        return None
    try:
        count = len(ranked_blocks(doc.tree, values.rgn))
    except Exception as exc:
        window.prompt.error("Suggest from probe", str(exc))
        return None
    if k is None:
        k = window.prompt.number("Suggest from probe", "Blocks to train (highest RGN first):", 2, 1, count)
        if k is None:
            return None
    return _suggest_worker(window, doc, values.rgn, k)


def _suggest_worker(window: MainWindow, doc: Document, rgn: Any, k: int) -> Any:
    from superqt.utils import create_worker

    from freezegui.app.dialogs.fit_dialog import FIT_BUDGETS
    from freezegui.core.decide.suggest import suggest_steps
    from freezegui.core.plan import PlanOptions
    from freezegui.core.rules.ruleset import Method, NormPolicy, RuleSet

    budget = FIT_BUDGETS.get(window)
    cost = window.cost_panel
    options = PlanOptions.make(**cost.options()) if budget and cost is not None else None
    rules = RuleSet(default="train", method=Method(doc.method), batchnorm=NormPolicy(doc.batchnorm))

    def done(found: tuple[int, Any]) -> None:
        n, mask = found
        if window.document is doc:
            doc.selection.set_mask(mask, label=f"Suggest from probe: top {n} blocks by RGN")
            note = f" (of {k}: the Fit budget)" if n < k else ""
            window.statusBar().showMessage(f"Training the top {n} blocks by RGN and the head{note}", 6000)

    def failed(exc: BaseException) -> None:
        from freezegui.core.messages import reason

        window.prompt.error("Suggest from probe", reason(exc))

    worker = create_worker(
        suggest_steps,
        doc.model,
        doc.tree,
        rgn,
        k,
        budget_bytes=budget,
        options=options,
        rules=rules,
        _connect={"returned": done, "errored": failed},
    )
    RUNNING.setdefault(window, {})["suggest"] = worker
    return worker
