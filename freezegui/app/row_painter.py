"""Paints a whole row of the module tree from the model's formatted cells, in one Python call.

Qt's own row painting calls back into the Python model about forty times per row (``multiData``
per cell, ``flags``, ``index``, ``parent`` for the selection test...), each crossing costing
microseconds in PySide6: a repaint of the viewport took ~4x what the same cells cost in a C++
``QStandardItemModel``. Here one ``drawRow`` reads the row's cells once and draws them with the
style's own primitives and geometry (``subElementRect`` of a check indicator and of the text, as
``QStyledItemDelegate`` lays them out), so checks land where a click toggles them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QRect, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QStyle, QStyleOptionFocusRect, QStyleOptionViewItem, QTreeView

from freezegui.app.tree_cells import Cell

if TYPE_CHECKING:
    from freezegui.app.tree_model import ModuleTreeModel

_Feature = QStyleOptionViewItem.ViewItemFeature
_State = QStyle.StateFlag
_CHECK_STATE = {
    Qt.CheckState.Checked: _State.State_On,
    Qt.CheckState.Unchecked: _State.State_Off,
    Qt.CheckState.PartiallyChecked: _State.State_NoChange,
}
_CHECK_BITS = _State.State_On | _State.State_Off | _State.State_NoChange
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_ELIDE = Qt.TextElideMode.ElideRight
# Geometry of one cell, relative to its top: (check rect or None, text rect), per column layout.
_Geometry = tuple[QRect | None, QRect]


class RowPainter:
    """Draws rows of a :class:`ModuleTreeModel` in a tree view; other models are left to Qt."""

    def __init__(self, view: QTreeView) -> None:
        self.view = view
        self._geometry: dict[tuple[int, int, int, bool], _Geometry] = {}

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex, model: ModuleTreeModel
    ) -> bool:
        """Draw ``index``'s row; False when it is not a row this painter can draw (Qt draws it)."""
        cells = model.row_cells(index)
        if cells is None:
            return False
        view = self.view
        style = view.style()
        header = view.header()
        opt = QStyleOptionViewItem(option)
        rect = option.rect
        top, height = rect.y(), rect.height()
        if view.alternatingRowColors() and (top + view.verticalOffset()) // max(height, 1) % 2:
            opt.features |= _Feature.Alternate  # as Qt's drawRow: every other row of the flattened tree
        selected = view.selectionModel().isSelected(index)
        if selected:
            opt.state |= _State.State_Selected
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewRow, opt, painter, view)
        first = header.sectionViewportPosition(0)
        indent = view.indentation() * (_level(index) + int(view.rootIsDecorated()))
        if selected:
            opt.rect = QRect(first + indent, top, rect.right() - first - indent + 1, height)
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, painter, view)
        view.drawBranches(painter, QRect(rect.x(), top, first + indent - rect.x(), height), index)
        group = (
            QPalette.ColorGroup.Active if opt.state & _State.State_Active else QPalette.ColorGroup.Inactive
        )
        text_colour = opt.palette.color(
            group, QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        metrics = opt.fontMetrics
        for column, cell in enumerate(cells):
            x = header.sectionViewportPosition(column)
            width = header.sectionSize(column)
            if column == 0:
                x, width = x + indent, width - indent
            if width <= 0 or (cell.text is None and cell.check is None):
                continue
            check_rect, text_rect = self._cell_geometry(opt, column, x, width, height, cell)
            if check_rect is not None and cell.check is not None:
                opt.rect = check_rect.translated(0, top)
                opt.state = (opt.state & ~_CHECK_BITS) | _CHECK_STATE[cell.check]
                style.drawPrimitive(QStyle.PrimitiveElement.PE_IndicatorItemViewItemCheck, opt, painter, view)
            if cell.text:
                self._draw_text(painter, cell, text_rect.translated(0, top), text_colour, selected, metrics)
        self._draw_focus(painter, opt, index, top, height)
        return True

    def _draw_text(self, painter: QPainter, cell: Cell, rect: QRect, colour, selected: bool, metrics) -> None:  # type: ignore[no-untyped-def]
        assert cell.text is not None
        if cell.font is not None:
            painter.save()
            painter.setFont(cell.font)
            metrics = painter.fontMetrics()
        painter.setPen(colour if selected or cell.foreground is None else cell.foreground.color())
        text = cell.text
        if metrics.horizontalAdvance(text) > rect.width():
            text = metrics.elidedText(text, _ELIDE, rect.width())
        painter.drawText(rect, int(cell.alignment or _LEFT), text)
        if cell.font is not None:
            painter.restore()

    def _cell_geometry(
        self, opt: QStyleOptionViewItem, column: int, x: int, width: int, height: int, cell: Cell
    ) -> _Geometry:
        """Where the style puts a cell's check box and text (cached per column layout)."""
        key = (column, x, width, height, cell.check is not None)
        found = self._geometry.get(key)
        if found is not None:
            return found
        if len(self._geometry) > 256:  # columns resized many times
            self._geometry.clear()
        style, view = self.view.style(), self.view
        probe = QStyleOptionViewItem(opt)
        probe.rect = QRect(x, 0, width, height)
        probe.features = _Feature.HasDisplay | (
            _Feature.HasCheckIndicator if cell.check is not None else _Feature.None_
        )
        probe.text = cell.text or ""
        check = (
            style.subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, probe, view)
            if cell.check is not None
            else None
        )
        text = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, probe, view)
        margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, view) + 1
        found = self._geometry[key] = (check, text.adjusted(margin, 0, -margin, 0))
        return found

    def _draw_focus(
        self, painter: QPainter, opt: QStyleOptionViewItem, index: QModelIndex, top: int, height: int
    ) -> None:
        view = self.view
        current = view.currentIndex()
        if (
            not view.hasFocus()
            or current.internalPointer() is not index.internalPointer()
            or not current.isValid()
        ):
            return
        header = view.header()
        focus = QStyleOptionFocusRect()
        focus.initFrom(view)
        focus.rect = QRect(
            header.sectionViewportPosition(current.column()),
            top,
            header.sectionSize(current.column()),
            height,
        )
        focus.state = opt.state | _State.State_KeyboardFocusChange | _State.State_Item
        focus.backgroundColor = opt.palette.color(
            QPalette.ColorRole.Highlight if opt.state & _State.State_Selected else QPalette.ColorRole.Window
        )
        view.style().drawPrimitive(QStyle.PrimitiveElement.PE_FrameFocusRect, focus, painter, view)


def _level(index: QModelIndex) -> int:
    """How deep the row is in the view (the model's root row is level 0)."""
    item = index.internalPointer()
    depth = getattr(item, "depth", None)
    return depth if depth is not None else item.parent.depth + 1
