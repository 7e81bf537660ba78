"""App test fixtures: a main window with temporary settings and recorded (never blocking) dialogs."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox


class Dialogs:
    """Records every message box the app shows; answers questions with ``answer``."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, str, str]] = []
        self.answer = QMessageBox.StandardButton.Discard

    def texts(self, kind: str | None = None) -> list[str]:
        return [text for k, _, text in self.shown if kind is None or k == kind]


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> Dialogs:
    rec = Dialogs()

    def make(kind: str):
        def show(parent, title, text, *args, **kwargs):
            rec.shown.append((kind, title, text))
            return rec.answer if kind == "question" else QMessageBox.StandardButton.Ok

        return show

    for kind in ("critical", "warning", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind, make(kind))
    return rec


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings, dialogs):
    from freezegui.app.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    if win.document is not None:
        win.document.selection.mark_saved()


def load(qtbot, win, spec: str, **kwargs) -> bool:
    """Open a model through the real (threaded) loading path and wait for it."""
    with qtbot.waitSignal(win.loadFinished, timeout=120_000) as blocker:
        win.open_model(spec, **kwargs)
    return bool(blocker.args[0])
