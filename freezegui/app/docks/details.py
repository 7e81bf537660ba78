"""Details of the selected module: its parameters with shape, dtype, count, trainable, tied-with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

if TYPE_CHECKING:  # the core's tree imports torch; this pane is built before torch is
    from typing_extensions import TypeIs

    from freezegui.core.editing.document import Document
    from freezegui.core.structure.tree import ModuleNode, ParamEntry

MAX_ROWS = 500
MIN_NAME_WIDTH = 90  # a subtree can hold 10^5 tensors; the table lists the first ones
# What decides a freeze first: the name and whether it trains, then the size; the dock is narrow.
COLUMNS = ("Parameter", "Trainable", "Count", "Shape", "dtype", "Tied with")
COL_NAME, COL_TRAINS, COL_COUNT, COL_SHAPE, COL_DTYPE, COL_TIED = range(len(COLUMNS))


class ParamTableModel(QAbstractTableModel):
    """The parameter entries under one module; cells are computed only when a view paints them."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._doc: Document | None = None
        self._entries: list[ParamEntry] = []
        self._prefix = 0  # characters of the shown module's path (and its dot) left off the names

    def set_entries(self, doc: Document | None, entries: list[ParamEntry], under: str = "") -> None:
        """Show ``entries``, named relative to the module at path ``under`` (as its
        ``named_parameters()`` names them); the full path is in the tooltip."""
        self.beginResetModel()
        self._doc, self._entries = doc, entries
        self._prefix = len(under) + 1 if under else 0
        self.endResetModel()

    def selection_changed(self) -> None:
        if self._entries:
            top, bottom = self.index(0, COL_TRAINS), self.index(len(self._entries) - 1, COL_TRAINS)
            self.dataChanged.emit(top, bottom, [Qt.ItemDataRole.DisplayRole])

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._entries)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or self._doc is None:
            return None
        entry = self._entries[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.TextAlignmentRole and col == COL_COUNT:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        info = entry.info
        if col == COL_NAME:
            return entry.path if role == Qt.ItemDataRole.ToolTipRole else entry.path[self._prefix :]
        if col == COL_TRAINS:
            return "yes" if self._doc.selection.trainable[info.index] else "frozen"
        if col == COL_COUNT:
            return f"{info.numel:,}"
        if col == COL_SHAPE:
            return "×".join(map(str, info.shape)) or "scalar"
        if col == COL_DTYPE:
            return info.dtype_name
        return ", ".join(entry.aliases)


class ParamTableView(QTableView):
    """Repaints only the on-screen cells a ``dataChanged`` range covers.

    A selection change rewrites one column of up to MAX_ROWS rows; Qt's own handling repaints the
    whole table for such a range (every visible cell, each role a call into the Python model).
    """

    def dataChanged(  # Qt override
        self,
        top_left: QModelIndex | QPersistentModelIndex,
        bottom_right: QModelIndex | QPersistentModelIndex,
        roles: Any = (),
    ) -> None:
        if QAccessible.isActive() or not top_left.isValid() or not bottom_right.isValid():
            super().dataChanged(top_left, bottom_right, roles)
            return
        left = self.columnViewportPosition(top_left.column())
        right = self.columnViewportPosition(bottom_right.column()) + self.columnWidth(bottom_right.column())
        top = self.rowViewportPosition(top_left.row())
        bottom = self.rowViewportPosition(bottom_right.row()) + self.rowHeight(bottom_right.row())
        area = QRect(left, top, right - left, bottom - top).intersected(self.viewport().rect())
        if not area.isEmpty():
            self.viewport().update(area)


class DetailsPane(QWidget):
    """Reads the core selection; refreshed when the current row or the selection changes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detailsPane")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.title = QLabel("Select a module to see its parameters.")
        self.title.setObjectName("detailsTitle")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.title)
        self.model = ParamTableModel(self)
        self.table = ParamTableView()
        self.table.setObjectName("detailsTable")
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)  # the names take the room left
        header.setMinimumSectionSize(MIN_NAME_WIDTH // 2)
        header.setResizeContentsPrecision(40)  # size columns from the first rows, not all 500
        layout.addWidget(self.table, 1)
        self.note = QLabel("")
        self.note.setStyleSheet("color: gray;")
        layout.addWidget(self.note)
        self._doc: Document | None = None
        self._item: ModuleNode | ParamEntry | None = None

    def show_item(self, doc: Document | None, item: ModuleNode | ParamEntry | None) -> None:
        """Show ``item``'s parameters (the first MAX_ROWS of its subtree)."""
        self._doc, self._item = doc, item
        self.note.setText("")
        if doc is None or item is None:
            self.title.setText("Select a module to see its parameters.")
            self.model.set_entries(None, [])
            return
        self._set_title()
        if _is_param(item):
            self.model.set_entries(doc, [item])
        else:
            self.model.set_entries(doc, self._entries_under(item), under=item.path)
        self.fit_columns()  # once per module (<= MAX_ROWS rows), not per refresh

    def fit_columns(self) -> None:
        """Columns sized to their content; "Tied with" only when a tensor is tied; when that is wider
        than the dock, the names give way (cut in the middle, whole in the tooltip), so the table
        never needs a horizontal scroll bar."""
        table = self.table
        table.setColumnHidden(COL_TIED, not any(e.aliases for e in self.model._entries))
        for col in range(COL_NAME + 1, len(COLUMNS)):
            table.resizeColumnToContents(col)

    def refresh(self) -> None:
        """The selection changed: update the title and the Trainable column (cheap)."""
        if self._doc is not None and self._item is not None:
            self._set_title()
            self.model.selection_changed()

    def _set_title(self) -> None:
        doc, item = self._doc, self._item
        assert doc is not None and item is not None
        if _is_param(item):
            self.title.setText(f"<b>{item.path}</b> — parameter")
            return
        counts = doc.selection.counts(item)  # adapters included, as in the tree and the totals
        lora = f" (LoRA adapters: {counts.lora:,})" if counts.lora else ""
        from freezegui.app.tree.plan_columns import describe

        cost = describe(doc, item)  # the Cost dock's per-module plan, when the cost columns show
        self.title.setText(
            f"<b>{item.path or doc.display_name}</b> — {item.type_name}<br>"
            f"{counts.trainable:,} trainable of {counts.total:,} parameters{lora}"
            + (f"<br>{cost}" if cost else "")
        )

    def _entries_under(self, node: ModuleNode) -> list[ParamEntry]:
        """The first MAX_ROWS parameter entries under ``node`` in model order (nodes made lazily)."""
        out: list[ParamEntry] = []
        stack = [node]
        while stack and len(out) < MAX_ROWS:
            current = stack.pop()
            out.extend(current.params[: MAX_ROWS - len(out)])
            stack.extend(reversed(current.children))
        tree = node.tree
        more = int(tree.occ_start[node.end] - tree.occ_start[node.index]) - len(out)
        if more > 0:
            self.note.setText(f"… and {more:,} more parameters (showing the first {MAX_ROWS:,}).")
        return out


def _is_param(item: object) -> TypeIs[ParamEntry]:
    from freezegui.core.structure.tree import ParamEntry

    return isinstance(item, ParamEntry)
