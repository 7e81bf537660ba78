"""Qt item model adapter over the core module tree: the core nodes are the single source of truth.

Rows are :class:`ModuleNode` (modules) and :class:`ParamEntry` (parameters); each index carries its
node as the internal pointer. Check state and counts are read from the core :class:`Selection`; a
change there arrives as a :class:`Change` and is turned into one ``dataChanged`` per parent whose
rows a view has fetched (never one per row: that costs seconds on a 100,000-row tree).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

from freezegui.core.actions import SearchResult
from freezegui.core.counting import format_count
from freezegui.core.document import Document
from freezegui.core.selection import Change, CheckState
from freezegui.core.tree import ModuleNode, ParamEntry

Index = QModelIndex | QPersistentModelIndex

COL_NAME, COL_TYPE, COL_TOTAL, COL_TRAINABLE, COL_SHAPE = range(5)
HEADERS = ("Module  (✓ = Train)", "Type", "Parameters", "Trainable", "Shape · dtype")
# Each dataChanged costs QTreeView ~50 calls back into the model even for rows it does not show
# (measured: a root toggle on a collapsed 10^5-module tree with 263 fetched parents made 16,000
# calls with one range per parent, 3,000 with one coarse range), so per-parent ranges stop early.
RANGE_SIGNAL_LIMIT = 128
# A range that includes column 0 makes a plain QTreeView re-ask every row in it whether it has
# children (two model calls a row, ~60 ms for the 2,000 top-level blocks of a 10^5-module model).
# A check box change never changes that, so ranges longer than this start at the Type column
# instead; views repaint whole rows (ModuleTreeView does), so the check boxes are redrawn anyway.
COLUMN0_ROW_LIMIT = 256
_PLAIN = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_CHECKABLE = _PLAIN | Qt.ItemFlag.ItemIsUserCheckable
_CHANGED_ROLES = [
    Qt.ItemDataRole.DisplayRole,
    Qt.ItemDataRole.CheckStateRole,
    Qt.ItemDataRole.ToolTipRole,
    Qt.ItemDataRole.ForegroundRole,
]
# Roles as plain ints: views call data() once per role per visible cell on every repaint, and
# comparing ints is much cheaper than looking up enum members each time.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_CHECK_ROLE = int(Qt.ItemDataRole.CheckStateRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_HANDLED_ROLES = frozenset({_DISPLAY, _FONT, _ALIGNMENT, _FOREGROUND, _CHECK_ROLE, _TOOLTIP})
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_N_COLUMNS = len(HEADERS)
_QT_CHECK = {
    CheckState.TRAIN: Qt.CheckState.Checked,
    CheckState.FREEZE: Qt.CheckState.Unchecked,
    CheckState.PARTIAL: Qt.CheckState.PartiallyChecked,
}


class ModuleTreeModel(QAbstractItemModel):
    """Five columns: name (with the Train checkbox), type, parameters, trainable, shape/dtype."""

    # A change too wide to describe row by row (see _emit_subtree): views should repaint all rows.
    wide_change = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._doc: Document | None = None
        self._locked = False
        self._dim = QBrush(
            QApplication.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        )
        self._tied = QBrush(QColor("#7a5c00"))

    # ------------------------------------------------------------------------------------- document
    @property
    def document(self) -> Document | None:
        return self._doc

    def set_document(self, doc: Document | None) -> None:
        self.beginResetModel()
        if self._doc is not None:
            self._doc.selection.changed.disconnect(self._on_changed)
        self._doc = doc
        if doc is not None:
            doc.selection.changed.connect(self._on_changed)
        self.endResetModel()

    def set_locked(self, locked: bool) -> None:
        """While a training run uses the selection, the checkboxes are read-only."""
        self._locked = locked
        if self._doc is not None:
            self._emit_all()

    # ------------------------------------------------------------------------------------- structure
    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        # The bounds are checked here rather than with hasIndex(), which would call back into
        # rowCount() through Qt: index() runs for every visible row on each repaint.
        if self._doc is None or row < 0 or not 0 <= column < _N_COLUMNS:
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, self._doc.tree.root) if row == 0 else QModelIndex()
        node = parent.internalPointer()
        if parent.column() > 0 or not isinstance(node, ModuleNode) or row >= node.child_count():
            return QModelIndex()
        return self.createIndex(row, column, node.child_at(row))

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid():
            return QModelIndex()
        node = index.internalPointer()
        up = node.parent
        if up is None:
            return QModelIndex()
        return self.createIndex(up.row if up.parent is not None else 0, 0, up)

    def index_of(self, item: ModuleNode | ParamEntry) -> QModelIndex:
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
        if parent.column() > 0:
            return 0
        node = parent.internalPointer()
        return node.child_count() if isinstance(node, ModuleNode) else 0

    def hasChildren(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        if self._doc is None:
            return False
        if not parent.isValid():
            return True
        if parent.column() > 0:
            return False
        node = parent.internalPointer()
        if not isinstance(node, ModuleNode):
            return False
        tree = self._doc.tree  # without making the children's node objects
        return node.end > node.index + 1 or tree._occ_start[node.index + 1] > tree._occ_start[node.index]

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(HEADERS)

    # ------------------------------------------------------------------------------------- data
    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        if role == Qt.ItemDataRole.ToolTipRole and section == COL_NAME:
            return "Ticked rows train; unticked rows are frozen. A partly ticked box: some of it trains."
        if role == Qt.ItemDataRole.TextAlignmentRole and section in (COL_TOTAL, COL_TRAINABLE):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        # Asked for every visible cell on each repaint: only column 0 of a row with parameters
        # (a module with some in its subtree, or a parameter) has a check box.
        if index.column() != COL_NAME or self._locked or self._doc is None:
            return _PLAIN if index.isValid() else Qt.ItemFlag.NoItemFlags
        node = index.internalPointer()
        if isinstance(node, ParamEntry) or self._doc.tree.nparams[node.index]:
            return _CHECKABLE
        return _PLAIN

    def _check_state(self, node: ModuleNode | ParamEntry) -> Qt.CheckState | None:
        assert self._doc is not None
        return _QT_CHECK.get(self._doc.selection.check_state(node))

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role not in _HANDLED_ROLES or self._doc is None or not index.isValid():
            return None
        node = index.internalPointer()
        col = index.column()
        is_param = isinstance(node, ParamEntry)
        if role == _DISPLAY:
            if col == COL_NAME:
                return node.name if is_param else (node.name or self._doc.display_name)
            if col == COL_TYPE:
                if is_param:
                    return "Parameter (tied)" if node.aliases else "Parameter"
                return node.type_name
            if col == COL_TOTAL:
                return format_count(node.info.numel if is_param else int(self._doc.tree.total[node.index]))
            if col == COL_TRAINABLE:
                sel = self._doc.selection
                if is_param:
                    return format_count(node.info.numel if sel.trainable[node.info.index] else 0)
                return format_count(int(sel.node_trainable[node.index]))
            if col == COL_SHAPE and is_param:
                shape = "×".join(str(d) for d in node.info.shape) or "scalar"
                return f"{shape} · {node.info.dtype_name}"
            return None
        if role == _CHECK_ROLE:
            return self._check_state(node) if col == COL_NAME else None
        if role == _ALIGNMENT:
            return _RIGHT if col in (COL_TOTAL, COL_TRAINABLE) else None
        if role == _FOREGROUND:
            if col == COL_NAME:
                return None
            if is_param and node.aliases and col == COL_TYPE:
                return self._tied
            return self._dim if self._doc.selection.check_state(node) is CheckState.FREEZE else None
        if role == _FONT:
            if is_param or node.parent is not None:
                return None
            font = QFont()
            font.setBold(True)
            return font
        return self._tooltip(node, col)  # _TOOLTIP, the only role left

    def _tooltip(self, node: ModuleNode | ParamEntry, col: int) -> str | None:
        assert self._doc is not None
        sel, tree = self._doc.selection, self._doc.tree
        if isinstance(node, ParamEntry):
            numel = node.info.numel
            text = f"{node.path}\n{numel:,} parameters, {'trains' if sel.trainable[node.info.index] else 'frozen'}"
            if node.aliases:
                text += f"\nTied with: {', '.join(node.aliases)} (one tensor: toggles together, counted once)"
            return text
        total, trainable = int(tree.total[node.index]), int(sel.node_trainable[node.index])
        if col in (COL_TOTAL, COL_TRAINABLE):
            return f"{trainable:,} trainable of {total:,} parameters"
        return f"{node.path or '(whole model)'} — {node.type_name}\n{trainable:,} trainable of {total:,} parameters"

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if (
            self._doc is None
            or self._locked
            or role != Qt.ItemDataRole.CheckStateRole
            or index.column() != COL_NAME
        ):
            return False
        trainable = _as_check_state(value) == Qt.CheckState.Checked
        node = index.internalPointer()
        if isinstance(node, ParamEntry):
            return self._doc.selection.set_param(node, trainable) or True
        return self._doc.selection.set_subtree(node, trainable) or True

    def toggle(self, index: Index) -> None:
        """Space on a row: partial or frozen -> train, trained -> freeze."""
        if not index.isValid():
            return
        index = index.siblingAtColumn(COL_NAME)
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
        fetched = np.flatnonzero(tree.fetched[top.index : top.end]) + top.index
        if fetched.size <= RANGE_SIGNAL_LIMIT:
            cache = tree._node_cache
            for i in fetched.tolist():
                node = cache[i]
                if node is not None:
                    self._emit_children(node, first_column=0)
        else:
            self._emit_children(top, first_column=COL_TYPE)
            self.wide_change.emit()

    def _emit_row(self, node: ModuleNode) -> None:
        row = node.row if node.parent is not None else 0
        left = self.createIndex(row, 0, node)
        right = self.createIndex(row, len(HEADERS) - 1, node)
        self.dataChanged.emit(left, right, _CHANGED_ROLES)

    def _emit_children(self, node: ModuleNode, *, first_column: int) -> None:
        """One signal for all of ``node``'s rows that a view may have fetched."""
        n_params = len(node._params) if node._params is not None else 0
        n_kids = len(node._children) if node._children is not None else 0
        if not (n_params or n_kids):
            return
        first = 0 if n_params else len(node.params)
        last = (len(node.params) + n_kids - 1) if n_kids else n_params - 1
        if last - first >= COLUMN0_ROW_LIMIT:
            first_column = max(first_column, COL_TYPE)
        self.dataChanged.emit(
            self.createIndex(first, first_column, node.child_at(first)),
            self.createIndex(last, len(HEADERS) - 1, node.child_at(last)),
            _CHANGED_ROLES,
        )


def _as_check_state(value: Any) -> Qt.CheckState:
    if isinstance(value, Qt.CheckState):
        return value
    return Qt.CheckState(int(value))


class SearchFilterModel(QSortFilterProxyModel):
    """Shows only the rows a search made visible: matches, everything inside them, their ancestors."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._result: SearchResult | None = None
        self._occ_hits: set[int] = set()
        self.setDynamicSortFilter(False)  # the filter depends on the search, not on the data

    def set_search(self, result: SearchResult | None) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9 replaced invalidateFilter()
            self.beginFilterChange()
        self._result = result
        self._occ_hits = set(result.occurrences) if result is not None else set()
        if hasattr(self, "endFilterChange"):
            self.endFilterChange()
        else:  # pragma: no cover - older Qt
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        result = self._result
        if result is None or not source_parent.isValid():
            return True
        parent = source_parent.internalPointer()
        item = parent.child_at(source_row)
        if isinstance(item, ModuleNode):
            return bool(result.visible[item.index])
        owner = item.parent
        return (
            bool(result.covered[owner.index])
            or int(owner.tree.occ_start[owner.index]) + item.row in self._occ_hits
        )

    def hasChildren(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        # Answered from the search result: the default filters the row's children to find out,
        # and the view asks it of every row it lays out (thousands when a search matches widely).
        result = self._result
        if result is None or not parent.isValid():
            return super().hasChildren(parent)
        source = self.mapToSource(parent)
        node = source.internalPointer()
        if not isinstance(node, ModuleNode):
            return False
        i = node.index
        if result.covered[i]:  # everything under it is shown
            return self.sourceModel().hasChildren(source)
        return bool(result.param_owners[i] or result.visible[i + 1 : node.end].any())
