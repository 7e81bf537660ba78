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

MAX_ROWS = 1000  # a subtree can hold 10^5 tensors; the table shows the first ones


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
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        layout.addWidget(self.table, 1)
        self.note = QLabel("")
        self.note.setStyleSheet("color: gray;")
        layout.addWidget(self.note)
        self._doc: Document | None = None
        self._item: ModuleNode | ParamEntry | None = None

    def show_item(self, doc: Document | None, item: ModuleNode | ParamEntry | None) -> None:
        self._doc, self._item = doc, item
        self.refresh()

    def refresh(self) -> None:
        doc, item = self._doc, self._item
        self.table.setRowCount(0)
        self.note.setText("")
        if doc is None or item is None:
            self.title.setText("Select a module to see its parameters.")
            return
        sel, tree = doc.selection, doc.tree
        if isinstance(item, ParamEntry):
            entries = [item]
            self.title.setText(f"<b>{item.path}</b> — parameter")
        else:
            total, trainable = int(tree.total[item.index]), int(sel.node_trainable[item.index])
            self.title.setText(
                f"<b>{item.path or doc.display_name}</b> — {item.type_name}<br>"
                f"{trainable:,} trainable of {total:,} parameters"
            )
            entries = self._entries_under(item)
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

    def _entries_under(self, node: ModuleNode) -> list[ParamEntry]:
        out: list[ParamEntry] = []
        stack = [node]
        more = 0
        while stack:
            current = stack.pop()
            for entry in current.params:
                if len(out) < MAX_ROWS:
                    out.append(entry)
                else:
                    more += 1
            stack.extend(reversed(current.children))
        if more:
            self.note.setText(f"… and {more:,} more parameters (showing the first {MAX_ROWS:,}).")
        return out
