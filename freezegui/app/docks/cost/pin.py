"""Pin and compare: keep one selection (A) while editing another (B), see both side by side, restore A.

A pin is a snapshot of the selection's state (trained tensors, adapted modules, LoRA rank, lr scales,
stages) with its counts and, once planned, its plan. Restoring A is one undoable edit, so B is one
Ctrl+Z away. The pin belongs to its document: opening another model drops it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QWidget

ROWS = (
    ("trainable", "Trainable parameters (adapters included)"),
    ("peak", "Peak memory of one GPU in a training step"),
    ("step", "FLOPs of one training step"),
)


@dataclass
class Pinned:
    """Selection A: what restoring it puts back, and what comparing shows of it."""

    doc: Any
    trainable: Any
    adapted: Any
    scales: Any
    schedule: list[Any]
    lora_settings: Any
    counts: Any
    generation: int  # the Cost dock's generation when it was pinned (its plan is that generation's)
    plan: Any = None

    @classmethod
    def take(cls, doc: Any, generation: int, plan: Any) -> Pinned:
        sel = doc.selection
        return cls(
            doc,
            sel.trainable.copy(),
            sel.adapted.copy(),
            sel.scales.copy(),
            list(sel.schedule),
            dataclasses.replace(sel.lora_settings),
            sel.counts(),
            generation,
            plan,
        )

    def restore(self) -> None:
        """Put A back as one undoable edit (LoRA settings first when they differ: a second step)."""
        sel = self.doc.selection
        if sel.lora_settings != self.lora_settings:
            sel.set_lora_settings(dataclasses.replace(self.lora_settings), label="Restore A's LoRA settings")
        sel.set_adapted_mask(
            self.adapted,
            label="Restore pinned selection A",
            trainable=self.trainable,
            scales=self.scales,
            schedule=self.schedule,
        )


def cells(counts: Any, plan: Any) -> dict[str, str]:
    """The compared numbers in words ("—" for what is not planned yet)."""
    from freezegui.core.plan.result import format_flops
    from freezegui.core.structure.counting import format_bytes, format_count

    out = {"trainable": f"{format_count(counts.trainable)} ({100 * counts.trainable_fraction:.1f} %)"}
    if plan is None:
        out["peak"] = out["step"] = "—"
    else:
        rank = plan.per_rank
        out["peak"] = ("≥ " if not plan.step_ran else "") + format_bytes(rank.peak_bytes)
        out["step"] = f"{format_flops(rank.step_flops)}FLOPs" if plan.step_ran else "unknown"
    return out


class PinBox(QGroupBox):
    """Pin A / Restore A / Unpin, and a three-row table of A beside B (the current selection)."""

    pinRequested = Signal()
    restoreRequested = Signal()
    unpinRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Compare", parent)
        self.setObjectName("costCompare")
        self.setToolTip("Pin the current selection as A, keep editing (B), and compare the two")
        self.pin_button = QPushButton("Pin as A")
        self.pin_button.setObjectName("pinButton")
        self.pin_button.setToolTip("Remember the current selection as A; the edits you make next are B")
        self.restore_button = QPushButton("Restore A")
        self.restore_button.setObjectName("restoreButton")
        self.restore_button.setToolTip("Put selection A back (one undoable edit: Ctrl+Z returns to B)")
        self.unpin_button = QPushButton("Unpin")
        self.unpin_button.setObjectName("unpinButton")
        self.unpin_button.setToolTip("Forget A")
        buttons = QHBoxLayout()
        for b in (self.pin_button, self.restore_button, self.unpin_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.grid = QGridLayout()
        self.values: dict[tuple[str, str], QLabel] = {}
        for col, head in enumerate(("", "A (pinned)", "B (now)")):
            h = QLabel(f"<b>{head}</b>")
            h.setToolTip("A: the pinned selection; B: the current one" if head else "")
            self.grid.addWidget(h, 0, col)
        for row, (key, tip) in enumerate(ROWS, start=1):
            name = QLabel({"trainable": "Trainable", "peak": "Peak", "step": "Step"}[key])
            name.setToolTip(tip)
            self.grid.addWidget(name, row, 0)
            for col, side in enumerate(("A", "B"), start=1):
                value = QLabel("—")
                value.setObjectName(f"compare{side}_{key}")
                value.setToolTip(f"{tip}: selection {side}")
                self.values[(side, key)] = value
                self.grid.addWidget(value, row, col)
        outer = QGridLayout(self)
        outer.addLayout(buttons, 0, 0)
        outer.addLayout(self.grid, 1, 0)
        self.pin_button.clicked.connect(self.pinRequested)
        self.restore_button.clicked.connect(self.restoreRequested)
        self.unpin_button.clicked.connect(self.unpinRequested)
        self.show_pair(None, None, None)

    def show_pair(self, pinned: Pinned | None, counts: Any, plan: Any) -> None:
        """A beside B (``counts``/``plan`` of the current selection); the table hides without a pin."""
        on = pinned is not None
        for w in (self.restore_button, self.unpin_button):
            w.setEnabled(on)
        for i in range(self.grid.count()):
            item = self.grid.itemAt(i)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.setVisible(on)
        if pinned is None or counts is None:
            return
        for side, numbers in (("A", cells(pinned.counts, pinned.plan)), ("B", cells(counts, plan))):
            for key, text in numbers.items():
                self.values[(side, key)].setText(text)

    def text(self, side: str, key: str) -> str:
        return self.values[(side, key)].text()
