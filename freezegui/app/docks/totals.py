"""The always-visible totals: trainable / frozen / total and trainable % (what training costs: the Cost dock)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QWidget

if TYPE_CHECKING:  # the core's counting imports torch; the totals bar is built before torch is
    from freezegui.core.editing.selection import Selection


class TotalsBar(QFrame):
    """Labels ``trainableCount``/``frozenCount``/``totalCount``/``loraCount`` hold the exact integers
    ("5,130"); trainable and total include the LoRA adapters (as PEFT counts them)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("totalsBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 10, 4)
        layout.setSpacing(6)
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
        self.clear()

    @staticmethod
    def _pair(layout: QHBoxLayout, caption: str, name: str, colour: str | None) -> QLabel:
        title = QLabel(f"{caption}:")
        value = QLabel("")
        value.setObjectName(name)
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

    def _show_lora(self, lora: int) -> None:
        """The adapters' count, shown only while there are adapters."""
        self.lora.setText(f"{lora:,}")
        self.lora.setVisible(bool(lora))
        self.lora_caption.setVisible(bool(lora))

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
        self._show_lora(counts.lora)
        self.percent.setText(f"({format_percent(counts.trainable_fraction)})")
