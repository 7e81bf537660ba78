"""Issue 22, the window as a first-time user meets it: items 4, 5, 8 and 13.

A window that fits a 1366×768 laptop, columns that show their numbers whole, a rule-syntax help that
is readable, and the small things that got in the way (the Details tab in front, a status that
stayed, Open Rules asking late, clicks on a stage ignored without a word).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from freezegui.app.prompt import Answer
from freezegui.core.editing.document import Document
from freezegui.core.rules.ruleset import RuleSet
from tests.app.conftest import load


def _bert_doc() -> Document:
    from transformers import BertConfig, BertForSequenceClassification

    cfg = BertConfig(
        hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=128, vocab_size=30522
    )
    return Document.from_model(BertForSequenceClassification(cfg), "hf-config:bert")


def _settle(qtbot, n: int = 5) -> None:
    for _ in range(n):
        QApplication.processEvents()
    qtbot.wait(20)


def test_item4_the_minimum_size_fits_a_1366x768_laptop(qtbot, window) -> None:
    window._ensure_core()
    window.set_document(_bert_doc())
    _settle(qtbot)
    hint = window.minimumSizeHint()
    assert hint.width() <= 1366 and hint.height() <= 700, hint  # before: 936×772 (taller than the screen)
    window.resize(1366, 700)
    _settle(qtbot)
    assert window.height() <= 700
    window.cost_panel.compare.pin_button.click()  # A beside B, and the adapters lead the totals ...
    window.action("loraAttention").trigger()
    _settle(qtbot)
    assert window.width() <= 1366 and window.minimumSizeHint().width() <= 1366  # ... still fit
    window.tree_pane.fit_columns()
    _settle(qtbot)
    view = window.tree_view
    header = view.header()
    shown = [c for c in range(header.count()) if not header.isSectionHidden(c)]
    columns = sum(header.sectionSize(c) for c in shown[:-1])
    assert columns <= view.viewport().width()  # every shown column but the stretching last one fits


def test_item5_columns_fit_their_content_on_load_and_on_demand(qtbot, window) -> None:
    window._ensure_core()
    doc = _bert_doc()
    window.set_document(doc)
    window.action("loraAllLinear").trigger()  # LoRA counts like "65.5 K" were cut as "65.…"
    view = window.tree_view
    for path in ("bert", "bert.embeddings"):
        view.expand(window.view_index(doc.tree.node(path)))
    _settle(qtbot)
    header = view.header()
    header.resizeSection(1, 40)  # a user narrows a column ...
    window.action("fitColumns").trigger()  # ... View ▸ Fit columns sizes them all again
    for col in range(header.count() - 1):
        assert header.sectionSize(col) >= view.sizeHintForColumn(col), col
    # the details table needs no horizontal scroll bar: the names give way, cut in the middle
    window.resize(1366, 700)
    window.details_dock.raise_()  # at the dock's default width

    window.tree_pane.reveal("bert.embeddings")
    _settle(qtbot)
    table = window.details.table
    window.details.fit_columns()
    widths = sum(
        table.columnWidth(c) for c in range(table.model().columnCount()) if not table.isColumnHidden(c)
    )
    assert widths <= table.viewport().width() + 2, [table.columnWidth(c) for c in range(6)]
    assert table.isColumnHidden(5)  # no tied tensors: no "Tied with" column


def test_item8_rule_syntax_is_whole_and_aligned(qtbot, window, dialogs) -> None:
    from freezegui.app.dialogs.rule_help import RULE_HELP

    window.action("ruleHelp").trigger()
    from freezegui.app.dialogs.rule_help import RuleHelpDialog

    dialog = window.findChild(RuleHelpDialog)
    assert dialog is not None and dialog.isVisible()
    assert not dialogs.shown  # not a message box cut behind "Show Details"
    text = dialog.text
    assert text.toPlainText() == RULE_HELP
    assert text.fontInfo().fixedPitch()  # the columns line up
    _settle(qtbot)
    assert text.horizontalScrollBar().maximum() == 0 and text.verticalScrollBar().maximum() == 0
    dialog.close()


def test_item13_cost_is_in_front_and_the_status_does_not_stay(qtbot, window) -> None:
    assert load(qtbot, window, "py:tests.models:SmallConvNet")
    _settle(qtbot)
    from PySide6.QtWidgets import QTabBar

    tabs = [b for b in window.findChildren(QTabBar) if b.count() == 3]
    assert tabs and tabs[0].tabText(tabs[0].currentIndex()) == "Cost"  # before: Details, in front
    assert window.busy_label.text() == ""  # before: a late progress text stayed in the status bar
    assert window.statusBar().currentMessage().startswith("Opened")
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == "", timeout=7000)


def test_item13_open_rules_asks_about_unsaved_changes_first(qtbot, window, dialogs, tmp_path: Path) -> None:
    window._ensure_core()
    window.set_document(_bert_doc())
    window.action("freezeAll").trigger()  # an unsaved edit
    dialogs.answer = Answer.CANCEL
    window.action("openRules").trigger()
    kinds = [k for k, _, _ in dialogs.shown]
    assert kinds == ["question"]  # before: the file dialog came first, the question after a pick


def test_item13_a_click_on_a_stage_says_why_nothing_changed(qtbot, window) -> None:
    from tests.models import SmallConvNet

    window._ensure_core()
    doc = Document.from_model(SmallConvNet(), "py:tests.models:SmallConvNet")
    window.set_document(doc)
    doc.apply_ruleset(
        RuleSet.loads(
            "default: freeze\nrules: [{train: fc}]\nschedule:\n- at: {step: 3}\n  rules: [{train: features.3}]\n"
        )
    )
    window.stage_bar.refresh()
    window.stage_bar.show_stage(1)
    _settle(qtbot)
    index = window.view_index(doc.tree.node("features"))
    rect = window.tree_view.visualRect(index)
    before = doc.selection.counts().trainable
    qtbot.mouseClick(
        window.tree_view.viewport(),
        Qt.MouseButton.LeftButton,
        pos=QPoint(rect.left() + 30, rect.center().y()),
    )
    assert doc.selection.counts().trainable == before
    assert (
        "stage" in window.statusBar().currentMessage()
        and "Back to editing" in window.statusBar().currentMessage()
    )
    window.statusBar().clearMessage()
    window.tree_view.setCurrentIndex(index)
    qtbot.keyClick(window.tree_view, Qt.Key.Key_Space)
    assert "Back to editing" in window.statusBar().currentMessage()
    doc.selection.mark_saved()
