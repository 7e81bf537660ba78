"""Paints a whole row of the module tree from the model's formatted cells, in one Python call.

Qt's own row painting calls back into the Python model about forty times per row (``multiData``
per cell, ``flags``, ``index``, ``parent`` for the selection test...), each crossing costing
microseconds in PySide6: a repaint of the viewport took ~4x what the same cells cost in a C++
``QStandardItemModel``. Here one ``drawRow`` reads the row's cells once and draws them with the
style's own primitives and geometry (``subElementRect`` of a check indicator and of the text, as
``QStyledItemDelegate`` lays them out), so checks land where a click toggles them.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, QPoint, QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QStyle, QStyleOptionFocusRect, QStyleOptionViewItem, QTreeView

from freezegui.app.tree.cells import Cell

if TYPE_CHECKING:
    from freezegui.app.tree.model import ModuleTreeModel

_Feature = QStyleOptionViewItem.ViewItemFeature
_State = QStyle.StateFlag
_CHECK_STATE = {
    Qt.CheckState.Checked: _State.State_On,
    Qt.CheckState.Unchecked: _State.State_Off,
    Qt.CheckState.PartiallyChecked: _State.State_NoChange,
}
_CHECK_BITS = _State.State_On | _State.State_Off | _State.State_NoChange
_PE_ROW = QStyle.PrimitiveElement.PE_PanelItemViewRow
_PE_ITEM = QStyle.PrimitiveElement.PE_PanelItemViewItem
_PE_BRANCH = QStyle.PrimitiveElement.PE_IndicatorBranch
_PE_CHECK = QStyle.PrimitiveElement.PE_IndicatorItemViewItemCheck
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_ELIDE = Qt.TextElideMode.ElideRight
# Geometry of one cell, relative to its top: (check rect or None, text rect), per column layout.
_Geometry = tuple[QRect | None, QRect, QRect]


class _Frame:
    """What is the same for every row of one paint event (asked of Qt once, not once per row)."""

    def __init__(self, view: QTreeView) -> None:
        header = view.header()
        self.columns = [
            (header.sectionViewportPosition(c), header.sectionSize(c)) for c in range(header.count())
        ]
        self.indent = view.indentation()
        self.decorated = int(view.rootIsDecorated())
        self.alternating = view.alternatingRowColors()
        self.offset = view.verticalOffset()
        self.style = view.style()
        self.selection = view.selectionModel()
        current = view.currentIndex()
        focused = view.hasFocus() or view.viewport().hasFocus()
        self.focus_item = current.internalPointer() if focused and current.isValid() else None
        self.qt_only = view.allColumnsShowFocus()  # a focus frame across the row: left to Qt
        self.focus_column = current.column()
        self.per_pixel = view.verticalScrollMode() == QTreeView.ScrollMode.ScrollPerPixel
        self.branch_state = (_State.State_Enabled if view.isEnabled() else _State.State_None) | (
            _State.State_Active if view.hasFocus() else _State.State_None
        )
        self.lines = _draws_lines(self.style, view)
        self.group = QPalette.ColorGroup.Active if view.isActiveWindow() else QPalette.ColorGroup.Inactive
        self.colours: dict[bool, Any] = {}  # selected -> text colour, from the first row's palette
        self.check_states: dict[Any, dict[Qt.CheckState, Any]] = {}
        trust = _TRUST.get(self.style)
        if trust is None:
            trust = _TRUST[self.style] = set()
        self.trust: bool | set[tuple[Any, ...]] = trust  # False: left to Qt


class RowPainter:
    """Draws rows of a :class:`ModuleTreeModel` in a tree view; other models are left to Qt.

    The view calls :meth:`begin_frame` / :meth:`end_frame` around its paint event.
    """

    def __init__(self, view: QTreeView) -> None:
        self.view = view
        self._frame: _Frame | None = None
        self._geometry: dict[tuple[int, int, int, int, bool], _Geometry] = {}
        self._elided: dict[tuple[str, int, bool], str] = {}

    def begin_frame(self) -> None:
        self._frame = _Frame(self.view)

    def end_frame(self) -> None:
        self._frame = None

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex, model: ModuleTreeModel
    ) -> bool:
        """Draw ``index``'s row; False when it is not a row this painter can draw (Qt draws it).

        The first row of each kind (selection, focus, arrow, check states, fonts) a style shows is
        drawn both ways into images and compared; a style whose rows differ from Qt's own (a native
        theme this was not written against) is left to Qt for good.
        """
        frame = self._frame or _Frame(self.view)
        cells = model.row_cells(index)
        trust = frame.trust
        if cells is None or frame.qt_only or isinstance(trust, bool):
            return False
        selected = frame.selection.isSelected(index)
        alternate = frame.alternating and bool(
            (option.rect.y() + frame.offset) // max(option.rect.height(), 1) % 2
        )
        kind = self._kind(frame, index, cells, selected, alternate)
        if kind not in trust:
            if not self._same_as_qt(option, index, cells, frame, selected, alternate):
                _TRUST[frame.style] = False
                frame.trust = False
                return False
            trust.add(kind)
        self._draw(painter, option, index, cells, frame, selected, alternate)
        return True

    def _kind(
        self, frame: _Frame, index: QModelIndex, cells: tuple[Cell, ...], selected: bool, alternate: bool
    ) -> tuple[Any, ...]:
        item = index.internalPointer()
        arrow = _has_rows(item) and self.view.isExpanded(index)
        looks = tuple(
            (c.check, c.font is not None, c.foreground is not None, c.alignment, c.background is not None)
            for c in cells
        )
        return (selected, frame.focus_item is item, arrow, looks, alternate)

    def _same_as_qt(
        self,
        option: QStyleOptionViewItem,
        index: QModelIndex,
        cells: tuple[Cell, ...],
        frame: _Frame,
        selected: bool,
        alternate: bool,
    ) -> bool:
        images = []
        for ours in (True, False):
            image = QImage(max(option.rect.right() + 1, 1), max(option.rect.height(), 1), _FORMAT)
            image.fill(0)
            painter = QPainter(image)
            painter.translate(0, -option.rect.y())
            painter.setFont(option.font)
            if ours:
                self._draw(painter, option, index, cells, frame, selected, alternate)
            else:
                QTreeView.drawRow(self.view, painter, option, index)
            painter.end()
            images.append(image)
        return images[0] == images[1]

    def _draw(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex,
        cells: tuple[Cell, ...],
        frame: _Frame,
        selected: bool,
        alternate: bool,
    ) -> None:
        view = self.view
        style = frame.style
        opt = QStyleOptionViewItem(option)
        rect = option.rect
        top, height = rect.y(), rect.height()
        if alternate:  # as Qt's drawRow: every other row of the flattened tree
            opt.features |= _Feature.Alternate
        if selected:
            opt.state |= _State.State_Selected
        opt.palette.setCurrentColorGroup(frame.group)  # as Qt's drawRow does for each cell
        style.drawPrimitive(_PE_ROW, opt, painter, view)
        first = frame.columns[0][0]
        indent = frame.indent * (_level(index) + frame.decorated)
        if selected:
            opt.rect = QRect(first + indent, top, rect.right() - first - indent + 1, height)
            style.drawPrimitive(_PE_ITEM, opt, painter, view)
        row_state = opt.state
        self._draw_branches(painter, opt, frame, index, first + indent, top, height, selected)
        opt.state = row_state
        colour = frame.colours.get(selected)
        if colour is None:
            colour = frame.colours[selected] = _text_colour(opt, selected)
        checks = frame.check_states.get(opt.state)
        if checks is None:
            base = opt.state & ~_CHECK_BITS
            checks = frame.check_states[opt.state] = {k: base | v for k, v in _CHECK_STATE.items()}
        focus = frame.focus_column if frame.focus_item is index.internalPointer() else -1
        for column, cell in enumerate(cells):
            x, width = frame.columns[column]
            if column == 0:
                x, width = x + indent, width - indent
            if width <= 0 or (cell.text is None and cell.check is None and column != focus):
                continue
            check_rect, text_rect, focus_rect = self._cell_geometry(opt, column, x, width, height, cell)
            if cell.background is not None and not selected:
                painter.fillRect(QRect(x, top, width, height), cell.background)
            if check_rect is not None and cell.check is not None:
                opt.rect = check_rect.translated(0, top)
                opt.state = checks[cell.check]
                style.drawPrimitive(_PE_CHECK, opt, painter, view)
            if cell.text:
                pen = colour if selected or cell.foreground is None else cell.foreground.color()
                self._draw_text(painter, cell, text_rect.translated(0, top), pen, opt)
            if column == focus:
                self._draw_focus(painter, opt, row_state, focus_rect.translated(0, top))

    def _draw_branches(
        self,
        painter: QPainter,
        opt: QStyleOptionViewItem,
        frame: _Frame,
        index: QModelIndex,
        right: int,
        top: int,
        height: int,
        selected: bool,
    ) -> None:
        """The expand arrow and the levels left of it, as QTreeView::drawBranches draws them, with
        the tree's shape read from the core nodes instead of asked of the model level by level."""
        item = index.internalPointer()
        level = _level(index)
        outer = 1 - frame.decorated
        if level < outer:
            return
        extra = frame.branch_state | (_State.State_Selected if selected else _State.State_None)
        x = right - frame.indent
        state = extra | _State.State_Item
        if _more_siblings(item):
            state |= _State.State_Sibling
        if _has_rows(item):
            state |= _State.State_Children
            if self.view.isExpanded(index):
                state |= _State.State_Open
        if not frame.lines and not state & _State.State_Children:
            return  # the style draws nothing but arrows (Fusion, macOS...): no call for empty levels
        origin = painter.brushOrigin()
        if frame.per_pixel:
            painter.setBrushOrigin(QPoint(0, frame.offset))
        opt.rect, opt.state = QRect(x, top, frame.indent, height), state
        frame.style.drawPrimitive(_PE_BRANCH, opt, painter, self.view)
        current = item.parent
        for _ in range(level - 1, outer - 1, -1) if frame.lines else ():
            x -= frame.indent
            opt.rect = QRect(x, top, frame.indent, height)
            opt.state = extra | _State.State_Sibling if _more_siblings(current) else extra
            frame.style.drawPrimitive(_PE_BRANCH, opt, painter, self.view)
            current = current.parent
        painter.setBrushOrigin(origin)

    def _draw_text(
        self, painter: QPainter, cell: Cell, rect: QRect, pen: QColor, opt: QStyleOptionViewItem
    ) -> None:
        text, bold = cell.text or "", cell.font is not None
        key = (text, rect.width(), bold)
        shown = self._elided.get(key)
        if cell.font is not None:
            painter.save()
            painter.setFont(cell.font)
        if shown is None:
            metrics = painter.fontMetrics() if bold else opt.fontMetrics
            fits = metrics.horizontalAdvance(text) <= rect.width()
            shown = text if fits else metrics.elidedText(text, _ELIDE, rect.width())
            if len(self._elided) > 50_000:
                self._elided.clear()
            self._elided[key] = shown
        painter.setPen(pen)
        painter.drawText(rect, int(cell.alignment or _LEFT), shown)
        if bold:
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
        focus = style.subElementRect(QStyle.SubElement.SE_ItemViewItemFocusRect, probe, view)
        found = self._geometry[key] = (check, text.adjusted(margin, 0, -margin, 0), focus)
        return found

    def _draw_focus(
        self, painter: QPainter, opt: QStyleOptionViewItem, state: QStyle.StateFlag, rect: QRect
    ) -> None:
        """The current cell's focus frame, as CE_ItemViewItem draws it for State_HasFocus."""
        focus = QStyleOptionFocusRect()
        focus.initFrom(self.view)
        focus.rect = rect
        focus.state = state | _State.State_HasFocus | _State.State_KeyboardFocusChange | _State.State_Item
        group = QPalette.ColorGroup.Normal if state & _State.State_Enabled else QPalette.ColorGroup.Disabled
        role = QPalette.ColorRole.Highlight if state & _State.State_Selected else QPalette.ColorRole.Window
        focus.backgroundColor = opt.palette.color(group, role)
        self.view.style().drawPrimitive(QStyle.PrimitiveElement.PE_FrameFocusRect, focus, painter, self.view)


def _text_colour(opt: QStyleOptionViewItem, selected: bool) -> QColor:
    group = QPalette.ColorGroup.Active if opt.state & _State.State_Active else QPalette.ColorGroup.Inactive
    return opt.palette.color(
        group, QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
    )


_FORMAT = QImage.Format.Format_ARGB32_Premultiplied
# Per style object: False once a row it drew differed from Qt's, else the row kinds found equal.
_TRUST: weakref.WeakKeyDictionary[QStyle, bool | set[tuple[Any, ...]]] = weakref.WeakKeyDictionary()
_LINES: weakref.WeakKeyDictionary[QStyle, bool] = (
    weakref.WeakKeyDictionary()
)  # per style object: whether its branch indicator draws lines


def _draws_lines(style: QStyle, view: QTreeView) -> bool:
    """Whether the style draws anything for a branch level without an arrow (the tree lines of
    the classic Windows style do; Fusion draws nothing), found by drawing one into an image."""
    found = _LINES.get(style)
    if found is not None:
        return found
    image = QImage(16, 16, QImage.Format.Format_ARGB32_Premultiplied)
    option = QStyleOptionViewItem()
    option.initFrom(view)
    option.rect = image.rect()
    drawn = False
    for extra in (_State.State_None, _State.State_Selected | _State.State_Active):
        for state in (_State.State_Item, _State.State_Sibling, _State.State_Item | _State.State_Sibling):
            image.fill(0)
            painter = QPainter(image)
            option.state = option.state | state | extra
            style.drawPrimitive(_PE_BRANCH, option, painter, view)
            painter.end()
            drawn = drawn or any(image.pixel(x, y) for x in range(16) for y in range(16))
    _LINES[style] = drawn
    return drawn


def _has_rows(item: Any) -> bool:
    """Whether a module row has rows under it (parameter rows have none). Duck-typed: this module
    is imported before torch is, and the core's tree module imports torch."""
    has_rows = getattr(item, "has_rows", None)
    return has_rows is not None and bool(has_rows())


def _more_siblings(item: Any) -> bool:
    """Whether rows follow ``item`` under its parent (the root has none)."""
    parent = item.parent
    return parent is not None and item.row < parent.child_count() - 1


def _level(index: QModelIndex) -> int:
    """How deep the row is in the view (the model's root row is level 0)."""
    item = index.internalPointer()
    depth = getattr(item, "depth", None)
    return int(depth if depth is not None else item.parent.depth + 1)
