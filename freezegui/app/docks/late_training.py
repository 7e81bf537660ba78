"""The Training dock, added after the first tree is on screen.

Its modules (QtCharts and the training engine) take ~0.3 s to import; imported before the model
shows, they delay the tree users look at first. They are imported in a worker once the tree is
shown, and the dock is added when they are in; code that needs the dock sooner gets it at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from freezegui.app.commands.loader import abandon_worker, import_optional

if TYPE_CHECKING:
    from superqt.utils import FunctionWorker

    from freezegui.app.docks.training_panel import TrainingPanel
    from freezegui.app.main_window import MainWindow

TRAINING_MODULE = "freezegui.app.docks.training_panel"


class LateTrainingDock:
    """Owns the window's Training dock: made once, in the background or on first use."""

    def __init__(self, window: MainWindow) -> None:
        self._window = window
        self._panel: TrainingPanel | None = None
        self._unavailable = False  # no QtCharts: the window works without the training dock
        self._worker: FunctionWorker[bool] | None = None
        self._closed = False

    def panel(self) -> TrainingPanel | None:
        """The dock, made now if the background import has not finished yet."""
        if self._panel is None and not self._unavailable:
            self._add()
        return self._panel

    def import_in_background(self) -> None:
        if self._worker is not None or self._panel is not None or self._unavailable:
            return
        from superqt.utils import create_worker

        worker: FunctionWorker[Any] = create_worker(import_optional, TRAINING_MODULE, _start_thread=False)
        worker.returned.connect(self._imported)
        self._worker = worker
        worker.start()

    def _imported(self, ok: bool) -> None:
        if self._closed:
            return
        if ok:
            self._add()
        else:
            self._unavailable = True

    def _add(self) -> None:
        if self._panel is not None:
            return
        try:
            from freezegui.app.docks.training_panel import TrainingPanel
        except ImportError:
            self._unavailable = True
            return
        self._panel = TrainingPanel(self._window)
        self._window.add_dock(self._panel, "Training", "trainingPanel")

    def shutdown(self) -> None:
        """The window closes: a run is stopped, an import still running is left to finish unseen."""
        self._closed = True
        abandon_worker(self._worker)
        if self._panel is not None:
            self._panel.shutdown()
