"""The always-visible totals: trainable / frozen / total and trainable % (what training costs: the Cost dock)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QWidget

if TYPE_CHECKING:  # the core's counting imports torch; the totals bar is built before torch is
    from freezegui.core.editing.selection import Selection
    from freezegui.core.structure.counting import Counts


ON_DARK = {"#1b7f3b": "#5fd38a", "#2f5fa7": "#8ab4ff"}


class TotalsBar(QFrame):
    """Labels ``trainableCount``/``frozenCount``/``totalCount``/``loraCount`` hold the exact integers
    ("5,130"); trainable and total include the LoRA adapters (as PEFT counts them)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("totalsBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        # its words never widen the window past a laptop's screen (the end is cut instead)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 10, 4)
        layout.setSpacing(6)
        self.adapters = QLabel("")  # leads while there are LoRA adapters: what a LoRA user reads first
        self.adapters.setObjectName("adapterLead")
        self.adapters.setStyleSheet("font-weight: 600; color: #8a3ab9;")
        self.adapters.setToolTip(
            "LoRA adapter parameters at the current rank, and their share of all parameters (as PEFT's "
            "print_trainable_parameters counts)"
        )
        layout.addWidget(self.adapters)
        self.trainable = self._pair(layout, "Trainable", "trainableCount", "#1b7f3b")
        self.percent = QLabel("")
        self.percent.setObjectName("trainablePercent")
        layout.addWidget(self.percent)
        layout.addSpacing(18)
        self.frozen = self._pair(layout, "Frozen", "frozenCount", "#2f5fa7")
        layout.addSpacing(18)
        self.total = self._pair(layout, "Total", "totalCount", None)
        layout.addSpacing(18)
        self.lora_caption = QLabel("of which LoRA:")
        self.lora_caption.setToolTip("Adapter parameters at the current rank (see LoRA ▸ LoRA settings)")
        layout.addWidget(self.lora_caption)
        self.lora = QLabel("")
        self.lora.setObjectName("loraCount")
        self.lora.setStyleSheet("font-weight: 600; color: #8a3ab9;")
        layout.addWidget(self.lora)
        layout.addStretch(1)
        self.pinned = QLabel("")  # A of Pin and compare, beside the live numbers (B)
        self.pinned.setObjectName("pinnedTotals")
        self.pinned.setToolTip("The pinned selection A (Cost dock ▸ Compare); the numbers left are B")
        layout.addWidget(self.pinned)
        self.clear()

    def _pair(self, layout: QHBoxLayout, caption: str, name: str, colour: str | None) -> QLabel:
        title = QLabel(f"{caption}:")
        value = QLabel("")
        value.setObjectName(name)
        if colour and self.palette().color(QPalette.ColorRole.Window).lightness() < 128:
            colour = ON_DARK.get(colour, colour)  # readable on a dark palette
        style = "font-weight: 600;" + (f" color: {colour};" if colour else "")
        value.setStyleSheet(style)
        layout.addWidget(title)
        layout.addWidget(value)
        return value

    def clear(self) -> None:
        for label in (self.trainable, self.frozen, self.total):
            label.setText("—")
        self.percent.setText("")
        self._show_lora(0)
        self.pinned.setVisible(False)

    def _show_lora(self, lora: int, total: int = 0) -> None:
        """The adapters' count, shown only while there are adapters (and first: "adapters 131 K (1.1 %)")."""
        self.lora.setText(f"{lora:,}")
        self.lora.setVisible(bool(lora))
        self.lora_caption.setVisible(bool(lora))
        self.adapters.setVisible(bool(lora))
        if lora:  # the core's formatting imports torch: only once a model is open
            from freezegui.core.structure.counting import format_count

            share = f" ({100 * lora / total:.1f} %)" if total else ""
            self.adapters.setText(f"adapters {format_count(lora)}{share}")

    def show_pinned(self, counts: Counts | None) -> None:
        """Selection A's trainable count beside the live numbers (hidden without a pin)."""
        self.pinned.setVisible(counts is not None)
        if counts is not None:
            from freezegui.core.structure.counting import format_count

            share = 100 * counts.trainable_fraction
            self.pinned.setText(f"A: trainable {format_count(counts.trainable)} ({share:.1f} %)")

    def update_from(self, selection: Selection | None, *_: Any) -> None:
        from freezegui.core.structure.counting import format_count, format_percent

        if selection is None:
            self.clear()
            return
        counts = selection.counts()
        for label, value in (
            (self.trainable, counts.trainable),
            (self.frozen, counts.frozen),
            (self.total, counts.total),
        ):
            label.setText(f"{value:,}")
            label.setToolTip(f"{format_count(value)} parameters")
        self._show_lora(counts.lora, counts.total)
        self.percent.setText(f"({format_percent(counts.trainable_fraction)})")
