"""Loading a model off the UI thread: first PyTorch itself, then the model, as one generator worker.

The window is shown before ``torch`` is imported (it takes seconds). :func:`load_steps` imports
torch, then only the library the spec needs (torchvision / transformers / timm), then the
torch-side modules of the app, and says so at each stage; the model is built right after, so
nothing waits in series on top of what the imports cost. A load the user abandons (a newer one
started, or the window closed) keeps running to its end but its result is dropped; if its
factory never returns, :func:`abandoned_loads` tells the entry point to end the process anyway.
"""

from __future__ import annotations

import contextlib
import enum
import importlib
import sys
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from freezegui.app import heap
from freezegui.core import collector
from freezegui.core.errors import FreezeguiError, LoadError
from freezegui.core.messages import error_line
from freezegui.core.models.options import LoadOptions

if TYPE_CHECKING:
    from superqt.utils import GeneratorWorker

    from freezegui.core.editing.document import Document

# Imported by the worker once torch is in, so the UI thread never waits on an import lock.
APP_MODULES = (
    "freezegui.core.editing.document",
    "freezegui.core.editing.presets",
    "freezegui.app.tree.model",
)


class Stage(enum.Enum):
    IMPORTING = "importing"  # text: what is being imported
    CORE_READY = "core-ready"  # torch and the app's torch-side modules are importable at no cost
    BUILDING = "building"


@dataclass(frozen=True)
class Progress:
    stage: Stage
    text: str


def spec_library(spec: str) -> str | None:
    """The model library a spec will import (a prefetch hint only: the loader imports what it needs)."""
    if spec.startswith("torchvision:"):
        return "torchvision"
    if spec.startswith(("hf:", "hf-config:")):
        return "transformers"
    if spec.startswith("timm:"):
        return "timm"
    path = Path(spec)
    if path.is_dir() and (path / "config.json").exists():
        return "transformers"
    return None


def import_optional(name: str) -> bool:
    """Import a module the app can do without (the Training dock needs QtCharts): whether it could."""
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _import(name: str) -> None:
    """Import with the collector paused (never across a yield), then keep what it made out of later
    collections: on 2 cores, collections walking torch's new objects and the window's took ~0.4 s of
    the start."""
    if name in sys.modules:  # nothing new to keep (a later load): what is alive stays collectable
        return
    with collector.paused():
        importlib.import_module(name)
        heap.keep_imported()


def load_steps(options: LoadOptions) -> Generator[Progress, None, Document]:
    """Import what the spec needs, then load it; any failure (even ``SystemExit`` from a factory)
    ends as a :class:`FreezeguiError`, so the window shows an error instead of loading forever."""
    try:
        for name in ("torch", spec_library(options.spec)):
            if name is not None and name not in sys.modules:
                yield Progress(Stage.IMPORTING, f"Loading {'PyTorch' if name == 'torch' else name}…")
                with contextlib.suppress(ImportError):  # the loader then says what to install
                    _import(name)
        for name in APP_MODULES:
            _import(name)
        yield Progress(Stage.CORE_READY, "")
        yield Progress(Stage.BUILDING, f"Loading {options.spec}…")
        from freezegui.core.editing.document import Document

        return Document.load(options)
    except (FreezeguiError, GeneratorExit):  # GeneratorExit: an abandoned load being closed
        raise
    except Exception as exc:
        raise LoadError(error_line(exc)) from exc
    except BaseException as exc:  # SystemExit / KeyboardInterrupt from user code must not kill the worker
        raise LoadError(f"the loader stopped with {error_line(exc)}") from None


_ABANDONED: list[Callable[[], bool]] = []  # "still running?" of workers (loads, plans) nobody waits for
_ABANDONED_LOCK = threading.Lock()


def abandon_worker(worker: Any, running: Callable[[], bool] | None = None) -> None:
    """Drop a superqt worker: ask it to stop and keep it listed while ``running()`` (default: its
    ``is_running``, False until a pool thread picks it up) says it has not ended.

    While one is listed the entry point ends the process without finalising the interpreter under
    it (that would delete the worker's signal object and print "Signal source has been deleted").
    """
    if worker is None:
        return
    still = running or (lambda: bool(worker.is_running))
    if still():
        with _ABANDONED_LOCK:
            _ABANDONED.append(still)
    worker.quit()


def abandoned_loads() -> int:
    """How many dropped workers (loads, plans) still run (e.g. a factory that never returns): the entry point ends
    the process without waiting for them."""
    with _ABANDONED_LOCK:
        _ABANDONED[:] = [still for still in _ABANDONED if still()]
        return len(_ABANDONED)


class _Relay(QObject):
    """Receives one worker's signals in the UI thread and passes them on while that load is current."""

    def __init__(self, loader: ModelLoader, options: LoadOptions) -> None:
        super().__init__(loader)
        self.loader, self.options = loader, options

    def current(self) -> bool:
        return self.loader._relay is self

    def on_yielded(self, progress: Progress) -> None:
        if self.current():
            self.loader.progress.emit(progress)

    def on_returned(self, doc: Document) -> None:
        if self.current():
            self.loader._relay = None
            self.loader.loaded.emit(doc, self.options)

    def on_errored(self, exc: BaseException) -> None:
        if self.current():
            self.loader._relay = None
            self.loader.failed.emit(error_line(exc), self.options)

    def on_finished(self) -> None:
        self.deleteLater()


class ModelLoader(QObject):
    """Runs one load at a time for the window; a new load (or :meth:`abandon`) drops the previous one."""

    progress = Signal(object)  # Progress
    loaded = Signal(object, object)  # Document, LoadOptions
    failed = Signal(str, object)  # message, LoadOptions

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._relay: _Relay | None = None
        self._worker: GeneratorWorker[Any, Any, Any] | None = None

    @property
    def busy(self) -> bool:
        return self._relay is not None

    def start(self, options: LoadOptions) -> None:
        """Load in the background; the result arrives as ``loaded`` or ``failed`` (never both)."""
        from superqt.utils import create_worker  # ~1 s to import on 2 cores: after the first paint

        self.abandon()
        relay = _Relay(self, options)
        # Bound methods of a QObject living in the UI thread: queued, so slots run in the UI thread.
        # (`errored` connected here also stops superqt from re-raising the error in the UI thread.)
        connect: dict[str, Callable[..., Any] | Sequence[Callable[..., Any]]] = {
            "yielded": relay.on_yielded,
            "returned": relay.on_returned,
            "errored": relay.on_errored,
            "finished": relay.on_finished,
        }
        worker: GeneratorWorker[Any, Any, Any] = create_worker(
            load_steps, options, _start_thread=False, _connect=connect
        )
        self._relay, self._worker = relay, worker
        worker.start()

    def abandon(self) -> None:
        """Drop the current load: it stops at its next stage, or runs to its end unseen."""
        worker, self._worker, self._relay = self._worker, None, None
        abandon_worker(worker)


__all__ = [
    "ModelLoader",
    "Progress",
    "Stage",
    "abandon_worker",
    "abandoned_loads",
    "load_steps",
    "spec_library",
]
