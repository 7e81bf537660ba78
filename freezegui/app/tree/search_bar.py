"""The search bar: a debounced query box that emits its result, and "Train/Freeze matches" buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from freezegui.core.errors import FreezeguiError

if TYPE_CHECKING:
    from freezegui.core.editing.presets import SearchResult
    from freezegui.core.structure.tree import ModuleTree

DEBOUNCE_MS = 250
_BAD = "QLineEdit { border: 1px solid #c0392b; }"


class SearchBar(QWidget):
    """``resultChanged`` carries a :class:`SearchResult`, or None when the box is empty or bad."""

    resultChanged = Signal(object)
    matchesRequested = Signal(bool)  # True: train the matches, False: freeze them

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tree: ModuleTree | None = None
        self.result: SearchResult | None = None
        self._enabled = True
        self.box = QLineEdit()
        self.box.setObjectName("searchBox")
        self.box.setClearButtonEnabled(True)
        self.box.setPlaceholderText("Search: text, glob (encoder.layer.*.attention) or re:regex   (Ctrl+F)")
        self.match_label = QLabel("")
        self.match_label.setObjectName("matchCount")
        self.train_button = QPushButton("Train matches")
        self.train_button.setObjectName("trainMatchesButton")
        self.train_button.clicked.connect(lambda: self.matchesRequested.emit(True))
        self.freeze_button = QPushButton("Freeze matches")
        self.freeze_button.setObjectName("freezeMatchesButton")
        self.freeze_button.clicked.connect(lambda: self.matchesRequested.emit(False))
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.box, 1)
        row.addWidget(self.match_label)
        row.addWidget(self.train_button)
        row.addWidget(self.freeze_button)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.run)
        self.box.textChanged.connect(self._timer.start)
        self.box.returnPressed.connect(self.run)
        self._update_buttons()

    def set_tree(self, tree: ModuleTree | None) -> None:
        """Search this tree from now on (the current query is run again on it)."""
        self._tree = tree
        self.run()

    def set_editable(self, editable: bool) -> None:
        """Whether the match buttons may act (not while a training run uses the selection)."""
        self._enabled = editable
        self._update_buttons()

    def search(self, text: str) -> None:
        """Set the query and run it at once (typing runs it after a short pause)."""
        self.box.setText(text)
        self.run()

    def focus(self) -> None:
        self.box.setFocus()
        self.box.selectAll()

    def run(self) -> None:
        self._timer.stop()
        text = self.box.text().strip()
        self.box.setStyleSheet("")
        self.box.setToolTip("")
        result = None
        if self._tree is not None and text:
            from freezegui.core.editing.presets import search

            try:
                result = search(self._tree, text)
            except FreezeguiError as exc:
                self.box.setStyleSheet(_BAD)
                self.box.setToolTip(str(exc))
        if result is not None:
            self.match_label.setText(f"{result.count:,} match{'es' if result.count != 1 else ''}")
        else:
            self.match_label.setText("bad pattern" if self.box.styleSheet() else "")
        self.result = result
        self._update_buttons()
        self.resultChanged.emit(result)

    def _update_buttons(self) -> None:
        active = bool(self._enabled and self.result is not None and self.result.count)
        self.train_button.setEnabled(active)
        self.freeze_button.setEnabled(active)


__all__ = ["SearchBar"]
