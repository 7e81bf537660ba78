"""The real main window, driven as a user would: acceptance flows of the desktop app."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtWidgets import QLabel

from freezegui.app.docks.details import COLUMNS
from freezegui.app.main_window import MainWindow
from freezegui.app.prompt import Answer
from freezegui.cli.main import main as cli_main
from freezegui.core.models.options import LoadOptions
from freezegui.core.rules.ruleset import RuleSet
from tests.app.conftest import drop_rules, load, open_rules

CHECK = Qt.ItemDataRole.CheckStateRole


def counts(win: MainWindow) -> tuple[str, str, str]:
    return tuple(
        win.findChild(QLabel, name).text() for name in ("trainableCount", "frozenCount", "totalCount")
    )


def set_check(win: MainWindow, path: str, state: Qt.CheckState) -> None:
    index = win.tree_pane.reveal(path)
    assert win.tree_view.model().setData(index, state, CHECK)


def test_resnet18_head_only_save_reopen_check(qtbot, window, settings, dialogs, tmp_path: Path) -> None:
    assert load(qtbot, window, "torchvision:resnet18", num_classes=10)
    assert counts(window) == ("11,181,642", "0", "11,181,642")
    set_check(window, "", Qt.CheckState.Unchecked)  # untick the root
    set_check(window, "fc", Qt.CheckState.Checked)  # tick fc
    assert counts(window) == ("5,130", "11,176,512", "11,181,642")
    assert window.isWindowModified()
    rules = tmp_path / "head.yaml"
    assert window.controller.save_rules_as(rules)
    assert not window.isWindowModified() and "head.yaml" in window.windowTitle()
    assert [str(r) for r in RuleSet.load(rules).rules] == ["train: fc"]

    fresh = MainWindow(settings=settings, prompt=dialogs)
    qtbot.addWidget(fresh)
    assert load(qtbot, fresh, "torchvision:resnet18", num_classes=10, rules=str(rules))
    assert counts(fresh) == ("5,130", "11,176,512", "11,181,642")
    assert not fresh.isWindowModified()
    assert not dialogs.shown
    assert cli_main(["check", "torchvision:resnet18", "--num-classes", "10", str(rules)]) == 0


def test_bert_base_search_and_train_matches(qtbot, window, dialogs, tmp_path: Path) -> None:
    from transformers import BertConfig

    cfg = BertConfig()
    cfg.architectures = ["BertModel"]
    cfg.save_pretrained(tmp_path)
    assert load(qtbot, window, f"hf-config:{tmp_path}", structure_only=True)
    window.edits.freeze_all()
    for query in ("encoder.layer.1[01]", "pooler"):
        window.search(query)
        assert window.search_bar.train_button.isEnabled()
        qtbot.mouseClick(window.search_bar.train_button, Qt.MouseButton.LeftButton)
    assert counts(window)[0] == "14,766,336"
    window.search("re:nothing.like.this")
    assert (
        window.search_bar.match_label.text() == "0 matches" and not window.search_bar.train_button.isEnabled()
    )
    window.search("encoder.layer.[")
    assert window.search_bar.match_label.text() == "bad pattern"
    window.search("")
    assert window.tree_view.model() is window.tree_model  # no filter proxy without a search
    assert counts(window)[0] == "14,766,336"


def test_undo_after_bulk_action_and_unsaved_marker(qtbot, window, resnet18_10) -> None:
    from freezegui.core.editing.document import Document

    window.set_document(Document.from_model(resnet18_10, LoadOptions("torchvision:resnet18", num_classes=10)))
    assert not window.isWindowModified()
    window.edits.train_head()
    assert counts(window)[0] == "5,130" and window.isWindowModified()
    before = window.document.selection.trainable.copy()
    window.edits.invert()
    assert counts(window)[0] == "11,176,512"
    qtbot.keyClick(window.tree_view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (window.document.selection.trainable == before).all()
    assert counts(window)[0] == "5,130"
    window.edits.undo()
    assert counts(window)[0] == "11,181,642" and not window.isWindowModified()
    window.edits.redo()
    assert window.isWindowModified() and counts(window)[0] == "5,130"


def test_quick_actions(qtbot, window, tmp_path: Path) -> None:
    from transformers import BertConfig

    cfg = BertConfig(num_hidden_layers=4)
    cfg.architectures = ["BertModel"]
    cfg.save_pretrained(tmp_path)
    assert load(qtbot, window, f"hf-config:{tmp_path}", structure_only=True)
    doc = window.document
    window.edits.train_last_blocks(2)
    trainable = set(doc.selection.trainable_names())
    assert any(n.startswith("encoder.layer.3.") for n in trainable)
    assert not any(n.startswith("encoder.layer.1.") for n in trainable)
    assert "pooler.dense.weight" in trainable
    window.edits.train_all()
    window.edits.freeze_norms()
    assert not any("LayerNorm" in n for n in doc.selection.trainable_names())
    window.edits.set_type("BertSelfAttention", False)
    assert not any(".attention.self." in n for n in doc.selection.trainable_names())


def test_space_toggles_current_row(qtbot, window, resnet18_10) -> None:
    from freezegui.core.editing.document import Document

    window.set_document(Document.from_model(resnet18_10))
    window.tree_pane.reveal("layer1")
    window.tree_view.setFocus()
    qtbot.keyClick(window.tree_view, Qt.Key.Key_Space)
    assert counts(window)[1] == "147,968"
    qtbot.keyClick(window.tree_view, Qt.Key.Key_Space)
    assert counts(window)[1] == "0"


def test_broken_rule_file_shows_dialog_and_keeps_state(
    qtbot, window, dialogs, resnet18_10, tmp_path: Path
) -> None:
    from freezegui.core.editing.document import Document

    window.set_document(Document.from_model(resnet18_10))
    window.edits.train_head()
    bad = tmp_path / "bad.yaml"
    bad.write_text("default: freeze\nrules:\n  - bogus\n")
    assert not open_rules(qtbot, window, bad)
    assert "bad.yaml:3: each rule must be one" in dialogs.texts("critical")[0]
    assert counts(window)[0] == "5,130"
    typo = tmp_path / "typo.yaml"
    typo.write_text("default: freeze\nrules:\n  - train: fc\n  - train: layer9\n")
    assert open_rules(qtbot, window, typo)
    assert "`train: layer9` (line 4) matches no parameter" in dialogs.texts("warning")[-1]
    assert counts(window)[0] == "5,130"


def test_checkpoint_that_fails_to_load_keeps_previous_model(qtbot, window, dialogs, tmp_path: Path) -> None:
    assert load(qtbot, window, "py:tests.models:SmallConvNet")
    previous = window.document
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint at all")
    assert not load(qtbot, window, str(broken))
    assert "not a readable PyTorch checkpoint" in dialogs.texts("critical")[-1]
    assert window.document is previous and window.busy.isHidden()
    assert load(qtbot, window, "py:tests.models:MLP")  # the app still works


def test_factory_that_raises_shows_dialog(qtbot, window, dialogs) -> None:
    assert not load(qtbot, window, "py:tests.models:factory_raises")
    assert "raised RuntimeError: boom" in dialogs.texts("critical")[-1]
    assert window.document is None
    assert load(qtbot, window, "py:tests.models:MLP")


def test_close_with_unsaved_changes_asks(qtbot, window, dialogs, resnet18_10) -> None:
    from freezegui.core.editing.document import Document

    window.set_document(Document.from_model(resnet18_10))
    window.edits.freeze_all()
    dialogs.answer = Answer.CANCEL
    assert not window.close()
    assert dialogs.texts("question")
    dialogs.answer = Answer.DISCARD
    assert window.close()


def test_exports(qtbot, window, resnet18_10, tmp_path: Path) -> None:
    from freezegui.core.editing.document import Document

    window.set_document(Document.from_model(resnet18_10))
    window.edits.train_head()
    assert window.controller.export("names", tmp_path / "names.txt")
    assert (tmp_path / "names.txt").read_text().split() == ["fc.weight", "fc.bias"]
    assert window.controller.export("python1", tmp_path / "freeze.py")
    namespace: dict = {}
    exec((tmp_path / "freeze.py").read_text(), namespace)  # the snippet runs without freezegui
    import torchvision

    fresh = torchvision.models.resnet18(num_classes=10)
    namespace["apply_freeze"](fresh)
    assert {n for n, p in fresh.named_parameters() if p.requires_grad} == {"fc.weight", "fc.bias"}


def test_drop_rule_file_and_recent_files(qtbot, window, settings, resnet18_10, tmp_path: Path) -> None:
    from freezegui.core.editing.document import Document

    window.set_document(Document.from_model(resnet18_10, "torchvision:resnet18"))
    rules = tmp_path / "drop.yaml"
    rules.write_text("default: freeze\nrules: [{train: fc}]\n")
    assert drop_rules(qtbot, window, rules)  # read off the UI thread, then applied
    assert counts(window)[0] == "5,130"
    assert window.controller.recent("rules")[0] == str(rules)
    window.close()
    assert settings.value("window/geometry") is not None


def test_editing_locked(qtbot, window, resnet18_10) -> None:
    from freezegui.core.editing.document import Document

    window.set_document(Document.from_model(resnet18_10))
    window.set_editing_locked(True, "Training in progress")
    root = window.tree_model.index(0, 0)
    assert not (window.tree_model.flags(root) & Qt.ItemFlag.ItemIsUserCheckable)
    window.edits.freeze_all()
    assert counts(window)[1] == "0"
    assert not window.action("undo").isEnabled() and not window.action("openRules").isEnabled()
    window.set_editing_locked(False)
    window.edits.freeze_all()
    assert counts(window)[0] == "0"


@pytest.mark.parametrize("spec", ["torchvision:resnet18"])
def test_run_app_default_model(qtbot, monkeypatch, spec: str) -> None:
    """`freezegui` with no arguments opens ResNet-18; the event loop is replaced by a wait."""
    from PySide6.QtWidgets import QApplication

    from freezegui.app import main as app_main

    windows: list[MainWindow] = []
    monkeypatch.setattr(QApplication, "exec", lambda self: 0)
    original = MainWindow.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        windows.append(self)

    monkeypatch.setattr(MainWindow, "__init__", init)
    assert app_main.run_app([]) == 0
    win = windows[0]
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.document is not None, timeout=60_000)
    assert win.document.spec == spec
    total = sum(p.numel() for p in win.document.model.parameters())
    assert total == 11_689_512 and counts(win) == (f"{total:,}", "0", f"{total:,}")


class _PaintRegions(QObject):
    """Records the region of every paint event of a widget."""

    def __init__(self) -> None:
        super().__init__()
        self.regions: list[QRect] = []

    def eventFilter(self, obj, event) -> bool:  # Qt override
        if event.type() == QEvent.Type.Paint:
            self.regions.append(event.region().boundingRect())
        return False


def test_tree_repaints_the_rows_a_change_covers(qtbot, window) -> None:
    """A click repaints the changed rows on screen, not the whole tree; a wide change repaints all."""
    assert load(qtbot, window, "torchvision:resnet18", num_classes=10)
    view = window.tree_view
    viewport = view.viewport()
    index = window.tree_pane.reveal("fc")
    qtbot.wait(50)
    recorder = _PaintRegions()
    viewport.installEventFilter(recorder)

    # Untick fc: its row, its two parameter rows (if shown) and the root's counts change.
    view.collapse(index)
    qtbot.wait(20)
    recorder.regions.clear()
    assert view.model().setData(index, Qt.CheckState.Unchecked, CHECK)
    qtbot.waitUntil(lambda: bool(recorder.regions), timeout=2000)
    painted = recorder.regions[0]
    for source in (window.tree_model.index(0, 0), window.source_index(index)):
        assert painted.intersects(view.visualRect(window.view_index(source.internalPointer())))
    assert painted.height() < viewport.height() / 2  # not the whole viewport

    # The adapter's signal for changes too wide to list row by row repaints every row.
    recorder.regions.clear()
    window.tree_model.wide_change.emit()
    qtbot.waitUntil(lambda: bool(recorder.regions), timeout=2000)
    assert recorder.regions[0].height() >= viewport.height() - 1


def test_details_repaint_only_the_trainable_column_on_a_change(qtbot, window) -> None:
    """With the root current, the details table lists 500 parameters; a toggle rewrites their
    Trainable cells, and only that column of the table is repainted (and shows the new value)."""
    assert load(qtbot, window, "torchvision:resnet18", num_classes=10)
    window.details_dock.raise_()  # Cost is in front on a first run
    qtbot.waitUntil(lambda: window.details.table.viewport().height() > 100, timeout=5000)
    table = window.details.table
    model = table.model()
    column = COLUMNS.index("Trainable")
    assert model.rowCount() > 50 and table.viewport().height() > table.rowHeight(0) * 3
    table.scrollTo(model.index(0, column))
    qtbot.wait(20)
    table.viewport().repaint()  # whatever was pending from the load is painted now
    recorder = _PaintRegions()
    table.viewport().installEventFilter(recorder)

    assert window.tree_model.setData(window.tree_model.index(0, 0), Qt.CheckState.Unchecked, CHECK)
    qtbot.waitUntil(lambda: bool(recorder.regions), timeout=2000)
    painted = recorder.regions[0]
    strip = QRect(
        table.columnViewportPosition(column), 0, table.columnWidth(column), table.viewport().height()
    )
    assert strip.intersected(table.viewport().rect()).contains(painted)
    assert painted.width() >= min(table.columnWidth(column), table.viewport().width()) / 2
    assert painted.width() < table.viewport().width() / 2
    assert model.data(model.index(0, column)) == "frozen"


def test_details_name_parameters_relative_to_the_selected_module(qtbot, window) -> None:
    assert load(qtbot, window, "torchvision:resnet18", num_classes=10)
    window.tree_pane.reveal("layer4")
    model = window.details.table.model()
    name, trains = COLUMNS.index("Parameter"), COLUMNS.index("Trainable")
    assert model.rowCount() == 15
    assert model.data(model.index(0, name)) == "0.conv1.weight"  # as layer4.named_parameters() says
    assert model.data(model.index(0, name), Qt.ItemDataRole.ToolTipRole) == "layer4.0.conv1.weight"
    assert model.data(model.index(0, COLUMNS.index("Count"))) == "1,179,648"
    assert model.data(model.index(0, trains)) == "yes"
    set_check(window, "layer4", Qt.CheckState.Unchecked)
    assert model.data(model.index(0, trains)) == "frozen"
