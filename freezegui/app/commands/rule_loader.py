"""Reading a rule file off the UI thread, with progress and a Cancel that takes effect at once.

The core parses in steps (:meth:`RuleSet.load_steps` yields its progress); a superqt generator
worker runs them and stops between two steps when asked. A 4 MB file takes seconds to parse, so the
window shows a progress dialog with Cancel instead of freezing. The document controller owns one:
``start(path)`` returns at once, ``loaded``/``failed``/``cancelled`` say how it ended.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget
from superqt.utils import create_worker

from freezegui.core.errors import FreezeguiError
from freezegui.core.rules.ruleset import RuleSet

SHOW_AFTER_MS = 400  # a small file loads before the dialog would flash up


def _steps(path: str) -> Generator[int, None, RuleSet]:
    """Percent done, then the rules; any failure is a FreezeguiError with a message for the user."""
    steps = RuleSet.load_steps(path)
    while True:
        try:
            fraction = next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        except FreezeguiError:
            raise
        except (MemoryError, RecursionError) as exc:
            raise FreezeguiError(f"{path}: the rule file is too large or too deeply nested") from exc
        yield int(100 * fraction)


class RuleLoader(QObject):
    """Loads one rule file at a time in a worker thread; results arrive as signals on the UI thread."""

    loaded = Signal(object, str)  # the RuleSet, the path
    failed = Signal(str, str)  # a one-line message, the path
    cancelled = Signal(str)  # the path
    progress = Signal(int)  # percent

    def __init__(self, parent: QWidget | None = None, *, dialog: bool = True) -> None:
        super().__init__(parent)
        self._parent = parent
        self._worker: Any = None
        self._path = ""
        self._dialog: QProgressDialog | None = None
        self._use_dialog = dialog

    @property
    def running(self) -> bool:
        return self._worker is not None

    def start(self, path: str | Path) -> None:
        """Start reading ``path`` (a load already running is cancelled first)."""
        self.cancel()
        self._path = str(path)
        # connected here, not through _connect, so that cancel() can disconnect the same slots
        worker = create_worker(_steps, self._path, _start_thread=False, _ignore_errors=True)
        for name, slot in self._slots():
            getattr(worker, name).connect(slot)
        self._worker = worker
        worker.start()
        if self._use_dialog:
            self._dialog = self._make_dialog()

    def cancel(self) -> None:
        """Stop the running load (its result, if it still arrives, is dropped)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            for name, slot in self._slots():  # a dropped worker never calls back, even after we are gone
                getattr(worker, name).disconnect(slot)
            worker.quit()
            self._close_dialog()
            self.cancelled.emit(self._path)

    # ------------------------------------------------------------------------------------------ slots
    def _slots(self) -> tuple[tuple[str, Any], ...]:
        return (
            ("yielded", self._on_progress),
            ("returned", self._on_done),
            ("errored", self._on_error),
        )

    def _on_progress(self, percent: int) -> None:
        if self._worker is None:
            return
        if self._dialog is not None:
            self._dialog.setValue(percent)
        self.progress.emit(percent)

    def _on_done(self, result: object) -> None:
        if self._worker is None:
            return  # cancelled meanwhile
        self._worker = None
        self._close_dialog()
        if isinstance(result, RuleSet):
            self.loaded.emit(result, self._path)
        else:  # superqt returns a RuntimeError raised inside the generator as the result
            self.failed.emit(f"{self._path}: could not read the rule file ({result})", self._path)

    def _on_error(self, exc: BaseException) -> None:
        if self._worker is None:
            return
        self._worker = None
        self._close_dialog()
        from freezegui.core.messages import error_line

        text = error_line(exc) if isinstance(exc, FreezeguiError) else f"{self._path}: {error_line(exc)}"
        self.failed.emit(text, self._path)

    # ----------------------------------------------------------------------------------------- dialog
    def _make_dialog(self) -> QProgressDialog:
        dlg = QProgressDialog(f"Reading {Path(self._path).name}…", "Cancel", 0, 100, self._parent)
        dlg.setWindowTitle("Open Rules")
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.setMinimumDuration(SHOW_AFTER_MS)
        dlg.setAutoClose(False)
        dlg.setAutoReset(False)
        dlg.canceled.connect(self.cancel)
        dlg.setValue(0)
        return dlg

    def _close_dialog(self) -> None:
        dlg, self._dialog = self._dialog, None
        if dlg is not None:
            dlg.canceled.disconnect(self.cancel)
            dlg.close()
            dlg.deleteLater()
