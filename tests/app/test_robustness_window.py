"""Issue 11 in the window: hostile rule files, the background rule loader and messages that fit."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QPushButton

from freezegui.app.commands.rule_loader import RuleLoader
from freezegui.app.messages import message_box, split_message
from freezegui.core.rules.ruleset import RuleSet
from tests.app.conftest import drop_rules, open_rules, wait_for_workers
from tests.test_robustness import laughs, million_rules


def counts(win) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    return tuple(win.findChild(QLabel, n).text() for n in ("trainableCount", "frozenCount", "totalCount"))


HOSTILE = {
    "billion laughs": laughs(),
    "a million rules": million_rules(),
    "nested": "rules: " + "[" * 100_000,
    "binary": "\udcff",  # written as bytes below
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_rule_file_shows_an_error_and_keeps_the_selection(
    case: str, qtbot, window, dialogs, resnet18_10, tmp_path: Path
) -> None:
    from freezegui.core.editing.document import Document

    window.set_document(Document.from_model(resnet18_10))
    window.edits.train_head()
    before = (counts(window), window.document.selection.trainable.copy(), window.isWindowModified())
    path = tmp_path / "hostile.yaml"
    if case == "binary":
        path.write_bytes(b"rules:\n  - train: \xff\xfe\n")
    else:
        path.write_text(HOSTILE[case])
    assert not open_rules(qtbot, window, path)  # read in the background: the window stays responsive
    assert len(dialogs.texts("critical")) == 1
    assert str(path) in dialogs.texts("critical")[0]
    assert counts(window) == before[0]
    assert (window.document.selection.trainable == before[1]).all()
    assert window.isWindowModified() == before[2]


def test_rule_loader_loads_in_the_background(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("default: freeze\nrules:\n" + "".join(f"  - train: layer{i}\n" for i in range(30_000)))
    loader = RuleLoader(dialog=False)
    seen: list[int] = []
    loader.progress.connect(seen.append)
    with qtbot.waitSignal(loader.loaded, timeout=120_000) as blocker:
        loader.start(path)
        assert loader.running  # start() returned while the parse goes on
    rules, where = blocker.args
    assert isinstance(rules, RuleSet) and len(rules.rules) == 30_000 and where == str(path)
    assert seen and seen == sorted(seen) and not loader.running


def test_rule_loader_cancel_drops_the_result(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n" + "  - train: fc\n" * 90_000)
    loader = RuleLoader(dialog=False)
    results: list[object] = []
    loader.loaded.connect(lambda rules, p: results.append(rules))
    loader.failed.connect(lambda text, p: results.append(text))
    with qtbot.waitSignal(loader.cancelled, timeout=5_000):
        loader.start(path)
        loader.cancel()
    assert not loader.running
    wait_for_workers(qtbot)  # the dropped worker stops at its next step and ends
    qtbot.wait(50)
    assert results == []


def test_a_cancelled_read_gives_the_garbage_collector_back(qtbot, tmp_path: Path) -> None:
    """The reader pauses the collector while it reads; the worker dropped mid-read must not keep it off."""
    import gc
    import time

    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n" + "  - train: fc\n" * 90_000)
    loader = RuleLoader(dialog=False)
    loader.start(path)
    qtbot.waitUntil(lambda: not gc.isenabled(), timeout=10_000)  # the read is under way
    time.sleep(0.05)
    loader.cancel()
    wait_for_workers(qtbot)
    qtbot.waitUntil(gc.isenabled, timeout=5_000)


def test_rule_loader_reports_a_hostile_file(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(laughs())
    loader = RuleLoader(dialog=False)
    with qtbot.waitSignal(loader.failed, timeout=60_000) as blocker:
        loader.start(path)
    text, where = blocker.args
    assert "aliases expand" in text and str(path) in text and where == str(path)


def test_rule_loader_progress_dialog_cancel(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n" + "  - train: fc\n" * 90_000)
    loader = RuleLoader()
    loader.start(path)
    dialog = loader._dialog
    assert dialog is not None
    with qtbot.waitSignal(loader.cancelled, timeout=5_000):
        dialog.findChild(QPushButton).click()  # the user presses Cancel
    assert not loader.running and loader._dialog is None
    wait_for_workers(qtbot)


def test_long_messages_fit_with_details(qtbot) -> None:
    long = "transformers does not know model_type 'x'; it knows " + ", ".join(f"m{i}" for i in range(2000))
    shown, details = split_message(long)
    assert len(shown) < 500 and details == long
    assert split_message("short") == ("short", "")
    box = message_box(None, "Could not open the model", long)
    qtbot.addWidget(box)
    box.show()
    assert box.detailedText() == long and len(box.text()) < 500
    screen = QApplication.primaryScreen().availableGeometry()
    assert box.sizeHint().height() <= screen.height() and box.sizeHint().width() <= screen.width()


def test_factory_that_exits_shows_a_load_error(qtbot, window, dialogs, tmp_path: Path) -> None:
    from tests.app.conftest import load

    script = tmp_path / "user_model.py"
    script.write_text("import sys\ndef build():\n    sys.exit(2)\n")
    assert not load(qtbot, window, f"{script}:build")
    assert "SystemExit(2)" in dialogs.texts("critical")[-1]
    assert window.document is None and window.busy.isHidden()


def test_cancel_while_reading_keeps_the_selection(qtbot, window, dialogs, tmp_path: Path) -> None:
    from freezegui.core.editing.document import Document
    from tests.models import MLP

    doc = Document.from_model(MLP(), "py:tests.models:MLP")
    window.set_document(doc)
    path = tmp_path / "big.yaml"
    path.write_text("default: freeze\nrules:\n" + "  - train: fc1\n" * 90_000)
    with qtbot.waitSignal(window.controller.rulesFinished, timeout=10_000) as blocker:
        assert window.controller.open_rules(path)
        window.controller.rule_loader.cancel()  # the progress dialog's Cancel
    assert blocker.args == [False] and not dialogs.shown
    assert doc.rules_path is None and doc.selection.trainable.all()


def test_dropped_rule_file_is_read_in_the_background_and_applied(qtbot, window, tmp_path: Path) -> None:
    from freezegui.core.editing.document import Document
    from tests.models import MLP

    doc = Document.from_model(MLP(), "py:tests.models:MLP")
    window.set_document(doc)
    path = tmp_path / "r.yaml"
    path.write_text("default: freeze\nrules: [{train: fc2}]\n")
    assert drop_rules(qtbot, window, path)
    assert doc.rules_path == path and doc.selection.trainable_names() == ["fc2.weight", "fc2.bias"]


def test_qt_prompt_error_fits_the_screen(qtbot) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox, QWidget

    from freezegui.app.prompt import QtPrompt

    parent = QWidget()
    qtbot.addWidget(parent)
    long = "unknown model_type 'x'; known: " + ", ".join(f"m{i}" for i in range(2000))
    seen: list[tuple[str, str, int]] = []

    def close_box() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        seen.append((box.text(), box.detailedText(), box.sizeHint().height()))
        box.done(0)

    QTimer.singleShot(50, close_box)
    QtPrompt(parent).error("Could not open the model", long)
    shown, details, height = seen[0]
    assert len(shown) < 500 and details == long
    assert height <= QApplication.primaryScreen().availableGeometry().height()
