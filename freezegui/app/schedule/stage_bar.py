"""The tree pane's stage picker: show the tree as a schedule stage leaves it, read-only, with a banner.

Hidden while the document has no schedule. Picking stage k hands the item model a
:meth:`Document.stage_view` (that stage's trainable tensors and LR ×, from the same rules the
training engine runs); the model repaints with ranged ``dataChanged`` signals, never a reset, and
refuses check-box edits until "Back to editing". An edit, Undo or Redo redraws the shown stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QComboBox, QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

if TYPE_CHECKING:
    from freezegui.app.main_window import MainWindow
    from freezegui.core.editing.document import Document

EDITING = "Editing (before any stage)"
BANNER_STYLE = "#stageBanner { background: #fff4ce; border: 1px solid #d4a72c; border-radius: 3px; }"


class StageBar(QWidget):
    """``Show: [Editing | Stage 1 — at step 10 | …]`` and, on a stage, the read-only banner."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.setObjectName("stageBar")
        self.window_ = window
        self._doc: Document | None = None
        self.shown = 0  # the stage shown (0: the selection being edited)
        self._titles: list[str] = []  # the picker's items
        self.picker = QComboBox()
        self.picker.setObjectName("stagePicker")
        self.picker.setToolTip("Show the Train and LR × columns as a schedule stage leaves them")
        self.picker.currentIndexChanged.connect(self.show_stage)
        self.banner = QFrame()
        self.banner.setObjectName("stageBanner")
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner_label = QLabel("")
        self.banner_label.setObjectName("stageBannerLabel")
        self.back = QPushButton("Back to editing")
        self.back.setObjectName("backToEditingButton")
        self.back.clicked.connect(lambda: self.show_stage(0))
        inner = QHBoxLayout(self.banner)
        inner.setContentsMargins(8, 2, 2, 2)
        inner.addWidget(self.banner_label, 1)
        inner.addWidget(self.back)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Show the tree at:"))
        layout.addWidget(self.picker)
        layout.addWidget(self.banner, 1)
        self.banner.hide()
        self.hide()
        window.documentChanged.connect(self.refresh)

    def refresh(self, *_: Any) -> None:
        """Follow the open document and its schedule (after a new document, an edit, Undo, Redo)."""
        doc = self.window_.document
        if doc is not self._doc:
            if self._doc is not None:
                self._doc.selection.changed.disconnect(self.refresh)
            self._doc, self.shown, self._titles = doc, 0, []
            if doc is not None:
                doc.selection.changed.connect(self.refresh)  # after every edit, undo and redo
        stages = doc.schedule if doc is not None else []
        from freezegui.core.editing.stages import stage_title  # the window paints before torch

        titles = [EDITING, *(stage_title(s, k) for k, s in enumerate(stages, 1))]
        if titles != self._titles:
            self._titles = titles
            self.picker.blockSignals(True)
            self.picker.clear()
            self.picker.addItems(titles)
            self.picker.blockSignals(False)
            self.setVisible(bool(stages))
        if self.shown:  # the stage shown follows the edit (its rules sit on top of the selection)
            self.show_stage(self.shown if self.shown <= len(stages) else 0)
        elif self.picker.currentIndex() != 0:
            self.picker.setCurrentIndex(0)

    def show_stage(self, k: int) -> None:
        """Show stage ``k`` (0: back to editing the selection)."""
        doc = self._doc
        k = k if doc is not None and 0 <= k <= len(doc.schedule) else 0
        was, self.shown = self.shown, k
        if self.picker.currentIndex() != k:
            self.picker.blockSignals(True)
            self.picker.setCurrentIndex(k)
            self.picker.blockSignals(False)
        if doc is None:
            return
        if k or was:  # back at editing: the model is told once, not on every tick
            view = doc.stage_view(k) if k else None
            self.window_.tree_model.show_stage(view)
            self.window_.totals.update_from((view or doc).selection)  # the totals follow the tree
        self.banner.setVisible(bool(k))
        if k:
            when = doc.schedule[k - 1].label
            self.banner_label.setText(f"Showing stage {k} of {len(doc.schedule)} (at {when}, read-only) —")


__all__ = ["EDITING", "StageBar"]
