"""The Schedule editor: a small table of gradual-unfreezing stages (when, what trains or freezes, LR ×).

Not modal: the tree stays usable beside it, so "Unfreeze selected module" takes the tree's current
row. Every button goes through :class:`~freezegui.app.schedule.commands.ScheduleCommands` (undoable,
checked by the core, refused while a training run uses the selection); the table is redrawn from the
document after every change, Undo and Redo included, so it never holds state of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from freezegui.app.dialogs.form_widgets import combo, spin
from freezegui.app.schedule.commands import ScheduleCommands

if TYPE_CHECKING:
    from freezegui.app.main_window import MainWindow
    from freezegui.core.editing.document import Document
    from freezegui.core.rules.keys import Stage

HEADERS = ("When", "Trains / freezes", "LR ×")


def stage_row(stage: Stage) -> tuple[str, str, str]:
    """A stage as the table shows it: "step 10", "train: layer4 · freeze: layer4.0", "0.1"."""
    rules = " · ".join(f"{r.action}: {r.pattern.text}" for r in stage.rules)
    scales = sorted({f"{r.lr_scale:g}" for r in stage.rules if r.lr_scale is not None})
    return stage.label, rules, ", ".join(scales)


class ScheduleDialog(QDialog):
    """The editor over ``window``'s open document (see the module docstring)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.setObjectName("scheduleDialog")
        self.setWindowTitle("Schedule — gradual unfreezing")
        self.window_ = window
        self.commands = ScheduleCommands(
            lambda: window.controller.doc, lambda: window.controller.locked, window.prompt
        )
        self._doc: Document | None = None
        self._rows: list[tuple[str, str, str]] | None = None  # what the table shows
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Each stage applies its rules on top of the ones before, from that step (or epoch) on. "
            "The Training dock runs them; the tree's stage picker shows the state at each stage."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setObjectName("stagesTable")
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table, 1)
        layout.addLayout(self._build_form())
        layout.addLayout(self._build_buttons())
        self.table.itemSelectionChanged.connect(self._on_picked)
        window.documentChanged.connect(self.refresh)
        window.lockChanged.connect(self.refresh)
        self.resize(620, 380)
        self.refresh()

    def _build_form(self) -> QGridLayout:
        self.unitCombo = combo("stageUnitCombo", [("at step", "step"), ("at epoch", "epoch")])
        self.atSpin = spin("stageAtSpin", 0, 10_000_000, 10)
        self.unitCombo.setToolTip(
            "Steps done (or epochs: passes over the training data) before the stage applies; the "
            "Training dock, freezegui train and the Trainer / Lightning callbacks count both."
        )
        self.rulesEdit = QLineEdit()
        self.rulesEdit.setObjectName("stageRulesEdit")
        self.rulesEdit.setPlaceholderText("train: layer4; freeze: layer4.0.bn1")
        self.rulesEdit.setToolTip("Rules of the stage, `;`-separated: train: PATTERN or freeze: PATTERN")
        self.scaleEdit = QLineEdit()
        self.scaleEdit.setObjectName("stageScaleEdit")
        self.scaleEdit.setPlaceholderText("1 (optional)")
        self.scaleEdit.setToolTip("The train rules' lr scale: they train at lr × this (blank: no scale)")
        self.scaleEdit.setMaximumWidth(110)
        grid = QGridLayout()
        grid.addWidget(QLabel("When"), 0, 0)
        grid.addWidget(self.unitCombo, 0, 1)
        grid.addWidget(self.atSpin, 0, 2)
        grid.addWidget(QLabel("LR ×"), 0, 3)
        grid.addWidget(self.scaleEdit, 0, 4)
        grid.addWidget(QLabel("Rules"), 1, 0)
        grid.addWidget(self.rulesEdit, 1, 1, 1, 4)
        return grid

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for key, text, tip, slot in (
            ("add", "Add stage", "Add these rules as a stage (or to the stage at that point)", self.add),
            ("replace", "Replace", "The selected stage becomes the When, LR × and Rules above", self.replace),
            ("unfreeze", "Unfreeze selected module", "train: the tree's current row, in the selected "
             "stage (or a stage at the step above)", self.unfreeze_selected),
            ("remove", "Remove", "Remove the selected stage", self.remove_selected),
            ("up", "Move up", "", lambda: self.move_selected(-1)),
            ("down", "Move down", "", lambda: self.move_selected(1)),
        ):  # fmt: skip
            button = QPushButton(text)
            button.setObjectName(f"stage{key.capitalize()}Button")
            button.setToolTip(tip)
            button.clicked.connect(slot)
            row.addWidget(button)
            self.buttons[key] = button
        row.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        row.addWidget(close)
        return row

    # ------------------------------------------------------------------------------------ state
    def refresh(self, *_: Any) -> None:
        """Redraw the table from the document (after any edit, undo, a new document or the lock)."""
        doc = self.window_.controller.doc
        if doc is not self._doc:
            if self._doc is not None:
                self._doc.selection.changed.disconnect(self.refresh)
            self._doc = doc
            if doc is not None:
                doc.selection.changed.connect(self.refresh)  # after every edit, undo and redo
        rows = [stage_row(s) for s in (doc.schedule if doc is not None else [])]
        if rows != self._rows:  # a tick in the tree changes no stage: nothing to redraw
            self._rows = rows
            selected = self.selected_stage()
            self.table.setRowCount(len(rows))
            for r, row in enumerate(rows):
                for c, text in enumerate(row):
                    self.table.setItem(r, c, QTableWidgetItem(text))
            if selected is not None and selected <= len(rows):
                self.table.selectRow(selected - 1)
        self._update_buttons()

    def selected_stage(self) -> int | None:
        """The selected stage, 1 for the first (None: none selected)."""
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() + 1 if rows else None

    def _on_picked(self) -> None:
        """A stage picked in the table fills the form, to edit it and press Replace."""
        k, doc = self.selected_stage(), self._doc
        if k is not None and doc is not None and k <= len(doc.schedule):
            stage = doc.schedule[k - 1]
            self.unitCombo.setCurrentIndex(self.unitCombo.findData(stage.unit))
            self.atSpin.setValue(stage.at)
            self.rulesEdit.setText("; ".join(f"{r.action}: {r.pattern.text}" for r in stage.rules))
            scales = {r.lr_scale for r in stage.rules if r.trainable}
            self.scaleEdit.setText(
                f"{next(iter(scales)):g}" if len(scales) == 1 and None not in scales else ""
            )
        self._update_buttons()

    def _update_buttons(self) -> None:
        editable = self._doc is not None and not self.window_.controller.locked
        picked = self.selected_stage()
        for key in ("add", "unfreeze"):
            self.buttons[key].setEnabled(editable)
        for key in ("replace", "remove", "up", "down"):
            self.buttons[key].setEnabled(editable and picked is not None)

    # ------------------------------------------------------------------------------------ edits
    def _when(self) -> tuple[Any, int]:
        return self.unitCombo.currentData(), self.atSpin.value()

    def _scale(self) -> tuple[bool, float | None]:
        """(whether the LR × field reads, its number or None when blank)."""
        text = self.scaleEdit.text().strip().replace(",", ".")
        try:
            return True, float(text) if text else None
        except ValueError:
            self.window_.prompt.error("Cannot do that", f"LR × must be a number > 0, not {text!r}.")
            return False, None

    def add(self) -> bool:
        ok, scale = self._scale()
        unit, at = self._when()
        done = ok and self.commands.add_stage(unit, at, self.rulesEdit.text(), scale)
        if done:
            self.rulesEdit.clear()
        return done

    def replace(self) -> bool:
        k = self.selected_stage()
        ok, scale = self._scale()
        unit, at = self._when()
        return k is not None and ok and self.commands.replace_stage(k, unit, at, self.rulesEdit.text(), scale)

    def unfreeze_selected(self) -> bool:
        unit, at = self._when()
        item = self.window_.tree_pane.current_item()
        return self.commands.unfreeze_row(item, self.selected_stage(), unit, at)

    def remove_selected(self) -> bool:
        k = self.selected_stage()
        return k is not None and self.commands.remove_stage(k)

    def move_selected(self, delta: int) -> bool:
        k = self.selected_stage()
        if k is None or not self.commands.move_stage(k, delta):
            return False
        self.table.selectRow(min(max(k - 1 + delta, 0), self.table.rowCount() - 1))
        return True


def show_schedule_editor(window: MainWindow) -> ScheduleDialog:
    """The window's one Schedule editor, shown and raised (made on first use)."""
    dialog = window.schedule_dialog
    if dialog is None:
        dialog = ScheduleDialog(window)
        window.schedule_dialog = dialog
    dialog.refresh()
    dialog.show()
    dialog.raise_()
    return dialog


__all__ = ["ScheduleDialog", "show_schedule_editor", "stage_row"]
