"""The training dock inside the real main window: the tree locks while a run uses the selection,
Stop ends the run within one step and gives the window back, closing during a run never hangs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import torch

pytest.importorskip("PySide6.QtCharts")

from PySide6.QtCore import QModelIndex, QSettings, Qt
from PySide6.QtWidgets import QApplication, QLabel, QProgressBar, QPushButton

from freezegui.app.main_window import MainWindow
from freezegui.core.editing.document import Document
from freezegui.core.rules.ruleset import RuleSet
from tests import models
from tests.app.conftest import FakePrompt

CALLS: list[int] = [0]  # forward calls of SlowConvNet, shared with the worker's deep copy
HEAD_ONLY = "default: freeze\nrules: [{train: fc}]"


class SlowConvNet(models.SmallConvNet):
    """Each forward sleeps (releasing the GIL): steps last long enough to look at a running window."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        CALLS[0] += 1
        time.sleep(0.03)
        return super().forward(x)


@pytest.fixture
def window(qtbot, tmp_path) -> Iterator[MainWindow]:
    """The real main window with throw-away settings; "unsaved changes?" is answered Discard."""
    win = MainWindow(
        settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), prompt=FakePrompt()
    )
    qtbot.addWidget(win)
    win.show()
    yield win
    if win.training_panel is not None:
        win.training_panel.shutdown()


def open_convnet(win: MainWindow, *, steps: int) -> Document:
    doc = Document.from_model(SlowConvNet(), "py:tests.models:SmallConvNet")
    win.set_document(doc)
    doc.apply_ruleset(RuleSet.loads(HEAD_ONLY))
    configure(win, steps=steps, batch=4, image=16)
    return doc


def configure(win: MainWindow, *, steps: int, batch: int, image: int) -> None:
    panel = win.training_panel
    assert panel is not None
    panel.raise_()  # the user picks the Training tab (Details is the one shown first)
    qtbot_wait_visible(panel)
    panel.stepsSpin.setValue(steps)
    panel.batchSpin.setValue(batch)
    panel.imageSizeSpin.setValue(image)
    panel.deviceCombo.setCurrentIndex(panel.deviceCombo.findData("cpu"))


def qtbot_wait_visible(panel) -> None:
    QApplication.processEvents()
    assert panel.isVisible()


def widgets(win: MainWindow) -> tuple[QPushButton, QPushButton, QProgressBar]:
    return (
        win.findChild(QPushButton, "trainButton"),
        win.findChild(QPushButton, "stopButton"),
        win.findChild(QProgressBar, "progressBar"),
    )


def all_indexes(win: MainWindow) -> list[QModelIndex]:
    """Every name-column index of the adapter (the tree is small)."""
    model, out, stack = win.tree_model, [], [QModelIndex()]
    while stack:
        parent = stack.pop()
        for row in range(model.rowCount(parent)):
            index = model.index(row, 0, parent)
            out.append(index)
            stack.append(index)
    return out


def checkable(win: MainWindow) -> list[bool]:
    return [bool(win.tree_model.flags(i) & Qt.ItemFlag.ItemIsUserCheckable) for i in all_indexes(win)]


def trainable_count(win: MainWindow) -> str:
    return win.findChild(QLabel, "trainableCount").text()


def test_a_run_locks_the_tree_and_stop_gives_the_window_back(window, qtbot) -> None:
    doc = open_convnet(window, steps=100_000)
    train, stop, bar = widgets(window)
    assert train.isEnabled() and not stop.isEnabled()
    flags_before = checkable(window)
    assert sum(flags_before) >= 10  # every row with parameters (not ReLU, not the pool)
    mask_before = doc.selection.trainable.copy()
    totals_before = trainable_count(window)

    qtbot.mouseClick(train, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bar.value() > 0, timeout=30_000)
    assert window.training_panel.is_running and stop.isEnabled() and not train.isEnabled()

    # Locked: no check box anywhere, clicks/keys/quick actions change nothing.
    assert not any(checkable(window))
    root = window.tree_model.index(0, 0)
    assert window.tree_model.setData(root, Qt.CheckState.Unchecked, Qt.ItemDataRole.CheckStateRole) is False
    window.tree_view.setCurrentIndex(window.view_index(doc.tree.root))
    qtbot.keyClick(window.tree_view, Qt.Key.Key_Space)
    window.edits.freeze_all()
    window.edits.invert()
    assert not window.action("freezeAll").isEnabled() and not window.action("undo").isEnabled()
    assert not window.action("openModel").isEnabled()
    assert (doc.selection.trainable == mask_before).all() and trainable_count(window) == totals_before

    with qtbot.waitSignal(window.training_panel.runEnded, timeout=15_000) as ended:
        qtbot.mouseClick(stop, Qt.MouseButton.LeftButton)
        calls_at_stop = CALLS[0]
    report = ended.args[0]
    assert report.status == "stopped" and report.proof is not None and report.proof.ok
    assert CALLS[0] - calls_at_stop <= 1  # at most the step already under way finished
    assert 0 < bar.value() < 100_000

    # Usable again: unlocked, and a toggle goes through the model to the selection and the totals.
    assert not window.training_panel.is_running and train.isEnabled() and not stop.isEnabled()
    assert checkable(window) == flags_before and window.action("freezeAll").isEnabled()
    assert window.tree_model.setData(root, Qt.CheckState.Checked, Qt.ItemDataRole.CheckStateRole)
    assert doc.selection.trainable.all()
    assert trainable_count(window) == window.findChild(QLabel, "totalCount").text() != totals_before
    window.edits.undo()
    assert (doc.selection.trainable == mask_before).all() and trainable_count(window) == totals_before


def test_closing_during_a_run_stops_the_worker_without_hanging(window, qtbot, qtlog, capfd) -> None:
    open_convnet(window, steps=100_000)
    train, _, bar = widgets(window)
    panel = window.training_panel
    qtbot.mouseClick(train, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bar.value() > 0, timeout=30_000)
    worker = panel._worker
    assert worker is not None and worker.is_running
    assert window.document.selection.is_modified  # the close asks (answered Discard), then stops the run

    started = time.monotonic()
    assert window.close()
    assert time.monotonic() - started < 5  # one step is ~0.1 s here: no waiting on the full run
    assert not worker.is_running and panel._worker is None and not panel.is_running
    assert panel.report is not None and panel.report.status == "stopped"
    assert not [r for r in qtlog.records if "QThread" in r.message]
    assert "QThread" not in capfd.readouterr().err


def test_resnet18_head_only_run_from_the_dock(window, qtbot) -> None:
    doc = Document.load("torchvision:resnet18", num_classes=10)
    window.set_document(doc)
    window.edits.train_head()  # the quick action: only the classification head trains
    assert [str(r) for r in doc.to_ruleset().rules] == ["train: fc"]
    configure(window, steps=2, batch=2, image=32)
    before = {k: v.clone() for k, v in doc.model.state_dict().items()}
    locked_while_running: list[bool] = []
    window.training_panel.runStarted.connect(lambda: locked_while_running.append(not any(checkable(window))))

    with qtbot.waitSignal(window.training_panel.runEnded, timeout=120_000) as ended:
        qtbot.mouseClick(widgets(window)[0], Qt.MouseButton.LeftButton)
    report = ended.args[0]
    assert report is not None and report.status == "completed", report and report.message
    assert report.proof is not None and report.proof.ok
    assert report.proof.trainable_changed_elements > 0
    assert report.proof.frozen_verified_elements == doc.tree.total_params - 5_130  # all but fc
    assert locked_while_running == [True] and any(checkable(window))
    assert "verified bit-identical" in window.findChild(QLabel, "proofLabel").text()
    # The dock trained a copy: the open model is untouched.
    assert all(torch.equal(v, doc.model.state_dict()[k]) for k, v in before.items())
