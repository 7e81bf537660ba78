"""Details of the selected module: its parameters with shape, dtype, count, trainable, tied-with."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from freezegui.core.document import Document
from freezegui.core.tree import ModuleNode, ParamEntry

MAX_ROWS = 200  # a subtree can hold 10^5 tensors; the table shows the first ones


class DetailsPane(QWidget):
    """Reads the core selection; refreshed when the current row or the selection changes."""

    COLUMNS = ("Parameter", "Shape", "dtype", "Count", "Trainable", "Tied with")

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
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("detailsTable")
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        # Sized once per rebuild: ResizeToContents would re-measure every row on each cell update.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        layout.addWidget(self.table, 1)
        self.note = QLabel("")
        self.note.setStyleSheet("color: gray;")
        layout.addWidget(self.note)
        self._doc: Document | None = None
        self._item: ModuleNode | ParamEntry | None = None

    def show_item(self, doc: Document | None, item: ModuleNode | ParamEntry | None) -> None:
        self._doc, self._item = doc, item
        self._rebuild()

    def refresh(self) -> None:
        """The selection changed: update the title and the Trainable column in place (cheap)."""
        doc, item = self._doc, self._item
        if doc is None or item is None:
            return
        self._set_title()
        for row, entry in enumerate(self._entries):
            cell = self.table.item(row, 4)
            if cell is not None:
                cell.setText("yes" if doc.selection.trainable[entry.info.index] else "frozen")

    def _set_title(self) -> None:
        doc, item = self._doc, self._item
        assert doc is not None and item is not None
        if isinstance(item, ParamEntry):
            self.title.setText(f"<b>{item.path}</b> — parameter")
            return
        total, trainable = int(doc.tree.total[item.index]), int(doc.selection.node_trainable[item.index])
        self.title.setText(
            f"<b>{item.path or doc.display_name}</b> — {item.type_name}<br>{trainable:,} trainable of {total:,} parameters"
        )

    def _rebuild(self) -> None:
        doc, item = self._doc, self._item
        self._entries: list[ParamEntry] = []
        self.table.setRowCount(0)
        self.note.setText("")
        if doc is None or item is None:
            self.title.setText("Select a module to see its parameters.")
            return
        sel = doc.selection
        self._set_title()
        entries = [item] if isinstance(item, ParamEntry) else self._entries_under(item)
        self._entries = entries
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            info = entry.info
            trains = bool(sel.trainable[info.index])
            values = (
                entry.path,
                "×".join(map(str, info.shape)) or "scalar",
                info.dtype_name,
                f"{info.numel:,}",
                "yes" if trains else "frozen",
                ", ".join(entry.aliases),
            )
            for col, text in enumerate(values):
                cell = QTableWidgetItem(text)
                if col == 3:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, cell)
        self.table.resizeColumnsToContents()

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
