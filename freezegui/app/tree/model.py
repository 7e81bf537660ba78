"""Qt item model adapter over the core module tree: the core nodes are the single source of truth.

Rows are :class:`ModuleNode` (modules) and :class:`ParamEntry` (parameters); each index carries its
node as the internal pointer. Check state and counts are read from the core :class:`Selection`; a
change there arrives as a :class:`Change` and is turned into one ``dataChanged`` per parent whose
rows a view has fetched (never one per row: that costs seconds on a 100,000-row tree).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

from freezegui.app.tree.cells import (
    ANSWERED_ROLES,
    RIGHT,
    RIGHT_ALIGNED,
    TOOLTIP_ROLE,
    Cell,
    heat_brush,
    role_value,
)
from freezegui.app.tree.columns import (
    COL_LORA,
    COL_NAME,
    COL_SHAPE,
    COL_TOTAL,
    COL_TRAINABLE,
    COL_TYPE,
    COLUMNS,
    HEADERS,
    Column,
    Item,
    row_tooltip,
)
from freezegui.app.tree.plan_columns import NUMBERS
from freezegui.app.tree.search_filter import SearchFilterModel
from freezegui.core.editing.document import Document
from freezegui.core.editing.selection import Change, CheckState
from freezegui.core.errors import FreezeguiError
from freezegui.core.structure.tree import ModuleNode, ParamEntry

__all__ = ["COLUMNS", "COL_LORA", "COL_NAME", "COL_SHAPE", "COL_TOTAL", "COL_TRAINABLE", "COL_TYPE"]
__all__ += ["HEADERS", "Column", "ModuleTreeModel", "SearchFilterModel"]

Index = QModelIndex | QPersistentModelIndex
_N_COLUMNS = len(COLUMNS)

# Each dataChanged costs QTreeView ~50 calls back into the model even for rows it does not show
# (measured: a root toggle on a collapsed 10^5-module tree with 263 fetched parents made 16,000
# calls with one range per parent, 3,000 with one coarse range), so per-parent ranges stop early.
RANGE_SIGNAL_LIMIT = 128
# A range that includes column 0 makes a plain QTreeView re-ask every row in it whether it has
# children (two model calls a row, ~60 ms for the 2,000 top-level blocks of a 10^5-module model).
# A check box change never changes that, so ranges longer than this start at the Type column
# instead; views repaint whole rows (ModuleTreeView does), so the check boxes are redrawn anyway.
COLUMN0_ROW_LIMIT = 256
# Rows whose formatted cells are kept; past this the cache starts again (scrolling a 10^5-row tree).
ROW_CACHE_LIMIT = 4096
_PLAIN = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_CHECKABLE = _PLAIN | Qt.ItemFlag.ItemIsUserCheckable
_R = Qt.ItemDataRole
_CHANGED_ROLES = [_R.DisplayRole, _R.CheckStateRole, _R.ToolTipRole, _R.ForegroundRole]
_QT_CHECK = {
    CheckState.TRAIN: Qt.CheckState.Checked,
    CheckState.FREEZE: Qt.CheckState.Unchecked,
    CheckState.PARTIAL: Qt.CheckState.PartiallyChecked,
}


class ModuleTreeModel(QAbstractItemModel):
    """The COLUMNS of each module and parameter row; column 0 holds the Train check box, COL_LORA
    the LoRA one (an edit the core refuses, such as Train and LoRA on one module, is ``refused``).

    A view paints a cell with one ``multiData`` call for all its roles (Qt 6's item delegate asks
    that way), answered from the row's formatted cells, which are made once per row and dropped
    when the selection, the lock or the document changes.
    """

    # A change too wide to describe row by row (see _emit_subtree): views should repaint all rows.
    wide_change = Signal()
    # An edit the core refused (str: why), for the window to say; nothing changed.
    refused = Signal(str)
    readOnly = Signal()  # Space on a box that cannot change now (a stage shown, a training run)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._doc: Document | None = None
        self._stage: Document | None = None  # a read-only stage shown instead (see show_stage)
        self._locked = False
        self._dim = QBrush(
            QApplication.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        )
        self._tied = QBrush(QColor("#7a5c00"))
        self._bold = QFont()
        self._bold.setBold(True)
        self._rows: dict[Item, tuple[Cell, ...]] = {}

    # ------------------------------------------------------------------------------------- document
    @property
    def document(self) -> Document | None:
        return self._doc

    def set_document(self, doc: Document | None) -> None:
        self.beginResetModel()
        if self._doc is not None:
            self._doc.selection.changed.disconnect(self._on_changed)
        self._doc, self._stage = doc, None
        self._rows.clear()
        if doc is not None:
            doc.selection.changed.connect(self._on_changed)
        self.endResetModel()

    def show_stage(self, view: Document | None) -> None:
        """Show a stage (a :meth:`Document.stage_view`, read-only) or, with None, the selection again."""
        self._stage = view
        self.invalidate()  # ranged dataChanged: no reset, cheap on 10^5 rows

    def set_locked(self, locked: bool) -> None:
        """While a training run uses the selection, the checkboxes are read-only."""
        self._locked = locked
        if self._doc is not None:
            self._emit_all()

    def invalidate(self) -> None:
        """Forget the formatted cells (something they show changed outside the selection)."""
        self._rows.clear()
        if self._doc is not None:
            self._emit_all()

    # ------------------------------------------------------------------------------------- structure
    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        # The bounds are checked here rather than with hasIndex(), which would call back into
        # rowCount() through Qt: index() runs for every visible cell on each repaint.
        if self._doc is None or row < 0 or not 0 <= column < _N_COLUMNS:
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, self._doc.tree.root) if row == 0 else QModelIndex()
        node = parent.internalPointer()
        if parent.column() or not isinstance(node, ModuleNode) or row >= node.child_count():
            return QModelIndex()
        return self.createIndex(row, column, node.child_at(row))

    def sibling(self, row: int, column: int, index: Index) -> QModelIndex:
        # The default asks parent() and then index(): two calls back into Python for a cell of
        # the same row, which is what views ask for.
        if row == index.row() and 0 <= column < _N_COLUMNS and index.isValid():
            return self.createIndex(row, column, index.internalPointer())
        return super().sibling(row, column, index)

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        # The most frequent call of a repaint (the view and its selection ask it per cell).
        item = index.internalPointer()  # None for an invalid index
        up = item.parent if item is not None else None
        if up is None:
            return QModelIndex()
        return self.createIndex(up.row if up.parent is not None else 0, 0, up)

    def index_of(self, item: Item) -> QModelIndex:
        """The column-0 index of a core node."""
        if self._doc is None:
            return QModelIndex()
        row = item.row if item.parent is not None else 0
        return self.createIndex(row, 0, item)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if self._doc is None:
            return 0
        if not parent.isValid():
            return 1
        if parent.column():
            return 0
        node = parent.internalPointer()
        return node.child_count() if isinstance(node, ModuleNode) else 0

    def hasChildren(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        if self._doc is None:
            return False
        if not parent.isValid():
            return True
        node = parent.internalPointer()
        return not parent.column() and isinstance(node, ModuleNode) and node.has_rows()

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return _N_COLUMNS

    # ------------------------------------------------------------------------------------- data
    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < _N_COLUMNS:
            return None
        column = COLUMNS[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.header
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.header_tooltip
        if role == Qt.ItemDataRole.TextAlignmentRole and column.right_aligned:
            return RIGHT
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        # Asked for every visible cell on each repaint (twice on a selected row), so the common
        # answer comes first: only column 0 of a row with parameters has a check box.
        column = index.column()
        if column > 0 and column != COL_LORA:
            return _PLAIN
        if column < 0:  # an invalid index
            return Qt.ItemFlag.NoItemFlags
        if self._locked or self._stage is not None or self._doc is None:
            return _PLAIN
        if column == COL_LORA:  # a box only where the LoRA column shows one
            cell = self.cell(index)
            return _CHECKABLE if cell is not None and cell.check is not None else _PLAIN
        node = index.internalPointer()
        if isinstance(node, ParamEntry) or self._doc.tree.nparams[node.index]:
            return _CHECKABLE
        return _PLAIN

    def row_cells(self, index: Index) -> tuple[Cell, ...] | None:
        """Every formatted cell of ``index``'s row (None for an index not of this model)."""
        if self._doc is None or not index.isValid() or index.model() is not self:
            return None
        item = index.internalPointer()
        row = self._rows.get(item)
        return row if row is not None else self._format_row(item)

    def cell(self, index: Index) -> Cell | None:
        """What a view paints in the cell at ``index`` (None for an index not of this model)."""
        row = self.row_cells(index)
        return None if row is None else row[index.column()]

    def multiData(self, index: Index, roleDataSpan: Any) -> None:
        """Every role a view asks of a cell, in one call. Every role is set, None included: the
        delegate reuses one span for all cells, so a role left alone would keep the previous value
        (each element costs about a data() call; benchmarks/bench_tree.py)."""
        cell = self.cell(index)
        for role_data in roleDataSpan:
            role_data.setData(role_value(cell, role_data.role()))

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        role = int(role)
        if role not in ANSWERED_ROLES:  # decoration, background, size hint...: nothing
            return None
        if role == TOOLTIP_ROLE:
            if self._doc is None or not index.isValid():
                return None
            return self._tooltip(index.internalPointer(), index.column())
        return role_value(self.cell(index), role)

    def _format_row(self, item: Item) -> tuple[Cell, ...]:
        """Every cell of ``item``'s row, kept until the next change."""
        doc = self._stage or self._doc
        assert doc is not None
        state = doc.selection.check_state(item)
        tied = isinstance(item, ParamEntry) and bool(item.aliases)
        adapted = isinstance(item, ModuleNode) and doc.selection.counts(item).lora > 0
        frozen = self._dim if state is CheckState.FREEZE and not adapted else None  # grey: nothing trains
        bold = self._bold if isinstance(item, ModuleNode) and item.parent is None else None
        cells = []
        for column in COLUMNS:
            colour = self._tied if tied and column.tied_color else frozen if column.dim_when_frozen else None
            if column.dim_when_stale and NUMBERS.stale:
                colour = self._dim
            check = column.check(doc, item) if column.check is not None else None
            cells.append(
                Cell(
                    column.text(doc, item),
                    _QT_CHECK.get(check) if check is not None else None,
                    RIGHT_ALIGNED if column.right_aligned else None,
                    colour,
                    bold,
                    heat_brush(column.tint(doc, item)) if column.tint is not None else None,
                )
            )
        if len(self._rows) >= ROW_CACHE_LIMIT:
            self._rows.clear()
        row = self._rows[item] = tuple(cells)
        return row

    def _tooltip(self, item: Item, col: int) -> str | None:
        doc = self._stage or self._doc
        assert doc is not None
        custom = COLUMNS[col].tooltip if 0 <= col < _N_COLUMNS else None
        text = custom(doc, item) if custom is not None else None
        return text if text is not None else row_tooltip(doc, item)

    # Why the boxes cannot change now: "stage", "run", or "" when they can.
    read_only = property(lambda self: "stage" if self._stage is not None else "run" if self._locked else "")

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        column = index.column()
        if (
            self._doc is None
            or self._locked
            or self._stage is not None
            or role != Qt.ItemDataRole.CheckStateRole
            or column not in (COL_NAME, COL_LORA)
        ):
            return False
        ticked = _as_check_state(value) == Qt.CheckState.Checked
        node, sel = index.internalPointer(), self._doc.selection
        try:
            if column == COL_LORA:
                return isinstance(node, ModuleNode) and (sel.set_adapted(node, ticked) or True)
            if isinstance(node, ParamEntry):
                return sel.set_param(node, ticked) or True
            return sel.set_subtree(node, ticked) or True
        except FreezeguiError as exc:  # LoraConflictError: Train and LoRA on one module
            self.refused.emit(str(exc))
            return False

    def toggle(self, index: QModelIndex) -> None:
        """Space: partial or frozen -> train, trained -> freeze (the LoRA box in the LoRA column)."""
        if not index.isValid():
            return
        if self.read_only:
            self.readOnly.emit()
            return
        index = index.siblingAtColumn(COL_LORA if index.column() == COL_LORA else COL_NAME)
        state = self.data(index, Qt.ItemDataRole.CheckStateRole)
        if state is None:
            return
        new = (
            Qt.CheckState.Unchecked
            if _as_check_state(state) == Qt.CheckState.Checked
            else Qt.CheckState.Checked
        )
        self.setData(index, new, Qt.ItemDataRole.CheckStateRole)

    # ------------------------------------------------------------------------------------- changes
    def _on_changed(self, change: Change) -> None:
        if self._doc is None:
            return
        self._rows.clear()  # counts, check boxes and greying may all have moved
        if change.full:
            self._emit_all()
            return
        for node in change.nodes:
            self._emit_row(node)
        for top in change.subtrees:
            self._emit_row(top)
            self._emit_subtree(top)
        for owner in change.param_rows:
            self._emit_children(owner, first_column=0)

    def _emit_all(self) -> None:
        assert self._doc is not None
        self._rows.clear()
        root = self._doc.tree.root
        self._emit_row(root)
        self._emit_subtree(root)

    def _emit_subtree(self, top: ModuleNode) -> None:
        """Signal every fetched row under ``top``: one range per parent while that stays cheap.

        Beyond RANGE_SIGNAL_LIMIT parents (a fully expanded 10^5-row tree has ~10^5 of them, and
        each signal costs the view dozens of calls into this model), send one range over ``top``'s
        rows instead, starting after the name column (QTreeView skips its per-row child re-check
        when column 0 is not in it), and emit ``wide_change`` so views repaint every row they show.
        """
        tree = top.tree
        fetched = tree.fetched_under(top)
        if fetched.size <= RANGE_SIGNAL_LIMIT:
            for i in fetched.tolist():
                node = tree.made_node(i)
                if node is not None:
                    self._emit_children(node, first_column=0)
        else:
            self._emit_children(top, first_column=COL_TYPE)
            self.wide_change.emit()

    def _emit_row(self, node: ModuleNode) -> None:
        row = node.row if node.parent is not None else 0
        left = self.createIndex(row, 0, node)
        right = self.createIndex(row, _N_COLUMNS - 1, node)
        self.dataChanged.emit(left, right, _CHANGED_ROLES)

    def _emit_children(self, node: ModuleNode, *, first_column: int) -> None:
        """One signal for all of ``node``'s rows that a view may have fetched."""
        rows = node.made_rows()
        if rows is None:
            return
        first, last = rows
        if last - first >= COLUMN0_ROW_LIMIT:
            first_column = max(first_column, COL_TYPE)
        self.dataChanged.emit(
            self.createIndex(first, first_column, node.child_at(first)),
            self.createIndex(last, _N_COLUMNS - 1, node.child_at(last)),
            _CHANGED_ROLES,
        )


def _as_check_state(value: Any) -> Qt.CheckState:
    if isinstance(value, Qt.CheckState):
        return value
    return Qt.CheckState(int(value))
