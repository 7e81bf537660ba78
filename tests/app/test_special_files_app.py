"""Issue 26, case 2 in the window: a FIFO dropped or opened is refused at once, never opened."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from freezegui.core.editing.document import Document
from tests.app.conftest import drop, drop_rules
from tests.fifo_guard import FifoGuard
from tests.models import MLP, tiny_llama


def test_dropped_adapter_folder_with_a_fifo_config_does_not_freeze(
    qtbot, window, dialogs, tmp_path: Path
) -> None:
    window.set_document(Document.from_model(tiny_llama(), "py:tests.models:tiny_llama"))
    folder = tmp_path / "adapter"
    folder.mkdir()
    guard = FifoGuard(folder / "adapter_config.json")
    start = time.monotonic()
    drop(window, folder)
    assert time.monotonic() - start < 10
    assert guard.close(), "the window opened the FIFO"
    (text,) = dialogs.texts("critical")
    assert "named pipe (FIFO)" in text and "\n" not in text
    assert window.document.selection.adapted_names() == []


def test_dropped_fifo_rule_file_is_refused(qtbot, window, dialogs, tmp_path: Path) -> None:
    window.set_document(Document.from_model(MLP()))
    before = window.document.selection.trainable.copy()
    guard = FifoGuard(tmp_path / "rules.yaml")
    assert not drop_rules(qtbot, window, tmp_path / "rules.yaml")
    assert guard.close(), "the rule reader opened the FIFO"
    assert "named pipe (FIFO)" in dialogs.texts("critical")[0]
    assert (window.document.selection.trainable == before).all()


APP = """
import sys
from PySide6.QtCore import QThreadPool, QTimer
from PySide6.QtWidgets import QApplication
from freezegui.app.main_window import MainWindow
from freezegui.core.editing.document import Document
from tests.app.conftest import FakePrompt
from tests.models import MLP

app = QApplication([])
win = MainWindow(prompt=FakePrompt())
win.set_document(Document.from_model(MLP()))
win.show()
win.controller.rulesFinished.connect(lambda ok: QTimer.singleShot(500, win.close))
QTimer.singleShot(0, lambda: win.controller.open_rules(sys.argv[1]))
app.exec()
print("closed", QThreadPool.globalInstance().waitForDone(30_000))  # no worker left blocked in a read
"""


def test_the_app_exits_after_a_fifo_rule_file_and_close(tmp_path: Path) -> None:
    fifo = tmp_path / "rules.yaml"
    guard = FifoGuard(fifo)
    env = {"QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", APP, str(fifo)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert guard.close()
    assert proc.returncode == 0 and "closed True" in proc.stdout, proc.stderr
    assert "Traceback" not in proc.stderr
