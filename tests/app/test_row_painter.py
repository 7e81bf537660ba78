"""The module view's row painter draws exactly what Qt's own row painting draws, pixel for pixel:
trained, frozen (grey), partial, tied, LoRA, scaled, selected and current rows, scrolled by any
offset (alternating colours follow the flattened row), and clicks on its check boxes toggle them."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QItemSelectionModel, QPoint, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QStyle, QStyleFactory, QStyleOptionViewItem

from freezegui.app.tree import row_painter
from freezegui.app.tree.model import COL_LORA, COL_NAME, ModuleTreeModel
from freezegui.app.tree.row_painter import RowPainter
from freezegui.app.tree.view import ModuleTreeView
from freezegui.core.editing.document import Document
from tests import models


@pytest.fixture
def view(qtbot):
    doc = Document.from_model(models.TiedLM())
    sel, tree = doc.selection, doc.tree
    first = tree.root.child_at(tree.root.n_params)  # the first child module
    sel.set_subtree(first, False)  # frozen: greyed
    sel.set_adapted(tree.node("head"), True)
    model = ModuleTreeModel()
    model.set_document(doc)
    v = ModuleTreeView()
    qtbot.addWidget(v)
    v.setUniformRowHeights(True)
    v.setAlternatingRowColors(True)
    v.setSelectionMode(ModuleTreeView.SelectionMode.ExtendedSelection)
    v.setModel(model)
    v.resize(700, 160)  # shorter than the tree: it scrolls
    with qtbot.waitExposed(v):
        v.show()
    v.expandAll()
    qtbot.wait(10)
    yield v
    model.set_document(None)


def _grab(v: ModuleTreeView) -> QImage:
    v.viewport().repaint()
    return v.viewport().grab().toImage()


def _qt_grab(v: ModuleTreeView, monkeypatch) -> QImage:
    with monkeypatch.context() as m:
        m.setattr(RowPainter, "paint", lambda *args: False)  # every row through Qt's drawRow
        return _grab(v)


@pytest.mark.parametrize("style", ["Fusion", "Windows"])  # Windows draws tree lines: every level
@pytest.mark.parametrize("scroll", [0, 1, 3])
def test_rows_look_as_qt_draws_them(view, monkeypatch, scroll, style) -> None:
    theme = QStyleFactory.create(style)
    assert theme is not None
    view.setStyle(theme)
    view.verticalScrollBar().setValue(scroll)
    index = view.indexAt(QPoint(5, 40))
    view.selectionModel().select(
        index, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    )
    view.setCurrentIndex(view.indexBelow(index).siblingAtColumn(2))
    view.setFocus()
    ours, qts = _grab(view), _qt_grab(view, monkeypatch)
    assert ours.size() == qts.size()
    assert ours == qts
    if style == "Fusion":  # the painter draws these rows itself (other styles may be left to Qt)
        assert row_painter._TRUST[theme] is not False


def test_a_style_it_does_not_match_is_left_to_qt(view, monkeypatch) -> None:
    """A row drawn differently from Qt's (here: every text one pixel lower) turns the painter off."""
    original = RowPainter._draw_text

    def lower(self, painter, cell, rect, pen, opt) -> None:
        original(self, painter, cell, rect.translated(0, 1), pen, opt)

    monkeypatch.setattr(RowPainter, "_draw_text", lower)
    theme = QStyleFactory.create("Fusion")
    view.setStyle(theme)
    ours = _grab(view)
    assert row_painter._TRUST[theme] is False
    assert ours == _qt_grab(view, monkeypatch)


@pytest.mark.parametrize(("path", "column"), [("embed", COL_NAME), ("head", COL_LORA)])
def test_a_click_on_a_painted_check_box_toggles_it(view, qtbot, path, column) -> None:
    model = view.model()
    cell = model.index_of(model.document.tree.node(path)).siblingAtColumn(column)
    view.scrollTo(cell)
    before = cell.data(Qt.ItemDataRole.CheckStateRole)
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    option.rect = view.visualRect(cell)
    option.features = (
        QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
        | QStyleOptionViewItem.ViewItemFeature.HasDisplay
    )
    box = view.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, option, view)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=box.center())
    assert before is not None
    assert cell.data(Qt.ItemDataRole.CheckStateRole) != before
