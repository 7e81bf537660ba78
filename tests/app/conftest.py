"""App test fixtures: a main window with temporary settings and a recording prompt (never blocking)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from freezegui.app.prompt import Answer


class FakePrompt:
    """The window's :class:`~freezegui.app.prompt.Prompt`: records every message, answers from fields."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, str, str]] = []
        self.answer = Answer.DISCARD  # to "unsaved changes?"
        self.paths: list[str] = []  # answers to file dialogs, in order ("" = cancelled)
        self.choice: str | None = None
        self.number_answer: int | None = None
        self.real_answer: float | None = None
        self.table_answer = True  # accept a confirm_table dialog
        self.tables: list[list[tuple[str, ...]]] = []  # the rows each confirm_table showed

    def texts(self, kind: str | None = None) -> list[str]:
        return [text for k, _, text in self.shown if kind is None or k == kind]

    def error(self, title: str, text: str) -> None:
        self.shown.append(("critical", title, text))

    def warning(self, title: str, text: str) -> None:
        self.shown.append(("warning", title, text))

    def information(self, title: str, text: str) -> None:
        self.shown.append(("information", title, text))

    def unsaved_changes(self, text: str) -> Answer:
        self.shown.append(("question", "Unsaved changes", text))
        return self.answer

    def open_file(self, title: str, start: str, filters: str) -> str:
        self.shown.append(("open_file", title, start))
        return self.paths.pop(0) if self.paths else ""

    def save_file(self, title: str, suggested: str, filters: str) -> str:
        self.shown.append(("save_file", title, suggested))
        return self.paths.pop(0) if self.paths else ""

    def choose(self, title: str, label: str, items: Sequence[str]) -> str | None:
        self.shown.append(("choose", title, label))
        return self.choice

    def number(self, title: str, label: str, value: int, lo: int, hi: int) -> int | None:
        self.shown.append(("number", title, label))
        return self.number_answer

    def real(self, title: str, label: str, value: float) -> float | None:
        self.shown.append(("real", title, label))
        return self.real_answer

    def confirm_table(
        self, title: str, text: str, headers: Sequence[str], rows: Sequence[Sequence[str]]
    ) -> bool:
        self.shown.append(("table", title, text))
        self.tables.append([tuple(r) for r in rows])
        return self.table_answer


@pytest.fixture
def dialogs() -> FakePrompt:
    return FakePrompt()


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings, dialogs):
    from freezegui.app.main_window import MainWindow

    win = MainWindow(settings=settings, prompt=dialogs)
    qtbot.addWidget(win)
    win.show()
    yield win
    if win.document is not None:
        win.document.selection.mark_saved()
    panel = win.cost_panel  # Cost is in front: a plan may be in flight; the next test inherits none
    if panel is not None and panel._running:
        ended = panel._ended
        panel.shutdown()
        qtbot.waitUntil(ended.is_set, timeout=60_000)


def wait_for_workers(qtbot, timeout: int = 60_000) -> None:
    """Until no background worker runs: a dropped one stops at its next step, and must not outlive
    the objects its test made (a worker calling into a deleted QObject crashes the process)."""
    from PySide6.QtCore import QThreadPool

    pool = QThreadPool.globalInstance()
    qtbot.waitUntil(lambda: pool.activeThreadCount() == 0, timeout=timeout)


@pytest.fixture(autouse=True)
def _no_worker_outlives_its_test(qtbot):
    """Torn down before qtbot closes the test's widgets: a worker still running then would call into
    objects being deleted (a segfault, once in a few hundred runs)."""
    yield
    wait_for_workers(qtbot)


def load(qtbot, win, spec: str, **kwargs) -> bool:
    """Open a model through the real (threaded) loading path and wait for it."""
    with qtbot.waitSignal(win.loadFinished, timeout=120_000) as blocker:
        win.open_model(spec, **kwargs)
    if blocker.args[0]:
        assert win.training_panel is not None  # the late Training dock, in place before the test goes on
        qtbot.wait(1)  # its layout change is painted
    return bool(blocker.args[0])


def open_rules(qtbot, win, path) -> bool:
    """Open a rule file through the real (threaded) reading path and wait until it is applied or not."""
    with qtbot.waitSignal(win.controller.rulesFinished, timeout=120_000) as blocker:
        win.controller.open_rules(path)
    return bool(blocker.args[0])


def drop(window, path) -> None:
    """A file dropped on the window."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)


def drop_rules(qtbot, win, path) -> bool:
    """Drop a rule file on the window and wait for it to be applied (or refused)."""
    with qtbot.waitSignal(win.controller.rulesFinished, timeout=120_000) as blocker:
        drop(win, path)
    return bool(blocker.args[0])
