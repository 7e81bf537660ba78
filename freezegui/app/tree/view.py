"""The module tree's view: Space toggles, and repaints cover only the rows a change touches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QAccessible, QKeyEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QStyleOptionViewItem, QTreeView

from freezegui.app.tree.row_painter import RowPainter

if TYPE_CHECKING:  # the adapter imports the core (and torch): the view is built before that
    from freezegui.app.tree.model import ModuleTreeModel


class ModuleTreeView(QTreeView):
    """Space toggles the current row's Train box (its LoRA box when that column has the focus).

    Rows of the module tree model are drawn by a :class:`RowPainter` (one Python call per row);
    rows of a search's filter model, and right-to-left layouts, are drawn by Qt.

    Repaints the on-screen rows a ``dataChanged`` range covers, found from its first and last row.
    Qt's own handling works the area out cell by cell and re-asks every row of the range whether it
    has children, each a call back into the Python model; a check-box change alters neither the
    tree's shape nor rows outside the range. Changes too wide to list row by row arrive as the
    adapter's ``wide_change`` instead.
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._painter = RowPainter(self)

    def paintEvent(self, event: QPaintEvent) -> None:  # Qt override
        self._painter.begin_frame()
        try:
            super().paintEvent(event)
        finally:
            self._painter.end_frame()

    def drawRow(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:  # Qt override
        model = index.model()
        if (
            getattr(model, "row_cells", None) is None  # a search's filter model: Qt draws it
            or self.isRightToLeft()
            or not self._painter.paint(
                painter, option, cast(QModelIndex, index), cast("ModuleTreeModel", model)
            )
        ):
            super().drawRow(painter, option, index)

    def dataChanged(  # Qt override
        self,
        top_left: QModelIndex | QPersistentModelIndex,
        bottom_right: QModelIndex | QPersistentModelIndex,
        roles: Any = (),
    ) -> None:
        if QAccessible.isActive():  # assistive tools want Qt's own per-cell notifications
            super().dataChanged(top_left, bottom_right, roles)
            return
        if not top_left.isValid() or not bottom_right.isValid():
            return
        top_left, bottom_right = cast(QModelIndex, top_left), cast(QModelIndex, bottom_right)  # as emitted
        first = self.visualRect(top_left.siblingAtColumn(0))
        if not first.isValid():  # under a collapsed row: nothing on screen
            return
        viewport = self.viewport()
        if bottom_right.row() - top_left.row() < viewport.height():  # can end on screen
            bottom = self.visualRect(bottom_right.siblingAtColumn(0)).bottom()  # same parent: shown
        else:  # it cannot end on screen; finding its last row scans the view's rows (~2 ms)
            bottom = viewport.height()
        area = QRect(0, first.top(), viewport.width(), bottom - first.top() + 1).intersected(viewport.rect())
        if not area.isEmpty():
            viewport.update(area)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and self.currentIndex().isValid():
            proxy = self.model()
            index = (
                proxy.mapToSource(self.currentIndex())
                if hasattr(proxy, "mapToSource")
                else self.currentIndex()
            )
            cast("ModuleTreeModel", index.model()).toggle(index)
            event.accept()
            return
        super().keyPressEvent(event)
