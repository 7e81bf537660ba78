"""How the app asks the user something: a small interface, a Qt implementation, and nothing else.

The document controller and the edit commands talk to a :class:`Prompt` they are given, so tests
pass a recording fake instead of patching ``QMessageBox``/``QFileDialog``. Messages are shown by
:mod:`freezegui.app.messages` (cut to fit the screen, the rest behind "Show Details").
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from freezegui.app.messages import show_message


class Answer(enum.Enum):
    """The user's answer to "the selection has unsaved changes"."""

    SAVE = "save"
    DISCARD = "discard"
    CANCEL = "cancel"


class Prompt(Protocol):
    """Every question and message the window's logic puts to the user."""

    def error(self, title: str, text: str) -> None: ...

    def warning(self, title: str, text: str) -> None: ...

    def information(self, title: str, text: str) -> None: ...

    def unsaved_changes(self, text: str) -> Answer: ...

    def open_file(self, title: str, start: str, filters: str) -> str:
        """A path, or ``""`` when cancelled."""
        ...

    def save_file(self, title: str, suggested: str, filters: str) -> str:
        """A path, or ``""`` when cancelled."""
        ...

    def choose(self, title: str, label: str, items: Sequence[str]) -> str | None: ...

    def number(self, title: str, label: str, value: int, lo: int, hi: int) -> int | None: ...

    def real(self, title: str, label: str, value: float) -> float | None:
        """A decimal number (any: the caller checks its range), or None when cancelled."""
        ...

    def confirm_table(
        self, title: str, text: str, headers: Sequence[str], rows: Sequence[Sequence[str]]
    ) -> bool:
        """Show ``rows`` as a table with OK/Cancel; True when accepted."""
        ...


class QtPrompt:
    """:class:`Prompt` with Qt's standard dialogs, parented to ``parent``."""

    def __init__(self, parent: QWidget) -> None:
        self._parent = parent

    # Messages fit the screen: a long one is cut, the whole of it behind "Show Details".
    def error(self, title: str, text: str) -> None:
        show_message(self._parent, title, text, QMessageBox.Icon.Critical)

    def warning(self, title: str, text: str) -> None:
        show_message(self._parent, title, text, QMessageBox.Icon.Warning)

    def information(self, title: str, text: str) -> None:
        show_message(self._parent, title, text, QMessageBox.Icon.Information)

    def unsaved_changes(self, text: str) -> Answer:
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self._parent,
            "Unsaved changes",
            text,
            buttons.Save | buttons.Discard | buttons.Cancel,
            buttons.Save,
        )
        if answer == buttons.Save:
            return Answer.SAVE
        return Answer.DISCARD if answer == buttons.Discard else Answer.CANCEL

    def open_file(self, title: str, start: str, filters: str) -> str:
        path, _ = QFileDialog.getOpenFileName(self._parent, title, start, filters)
        return path

    def save_file(self, title: str, suggested: str, filters: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self._parent, title, suggested, filters)
        return path

    def choose(self, title: str, label: str, items: Sequence[str]) -> str | None:
        choice, ok = QInputDialog.getItem(self._parent, title, label, list(items), 0, False)
        return choice if ok and choice else None

    def number(self, title: str, label: str, value: int, lo: int, hi: int) -> int | None:
        n, ok = QInputDialog.getInt(self._parent, title, label, value, lo, hi)
        return n if ok else None

    def real(self, title: str, label: str, value: float) -> float | None:
        x, ok = QInputDialog.getDouble(self._parent, title, label, value, -1e9, 1e9, 6)
        return x if ok else None

    def confirm_table(
        self, title: str, text: str, headers: Sequence[str], rows: Sequence[Sequence[str]]
    ) -> bool:
        from freezegui.app.dialogs.table_dialog import TableDialog

        return bool(TableDialog(title, text, headers, rows, self._parent).exec())


__all__ = ["Answer", "Prompt", "QtPrompt"]
