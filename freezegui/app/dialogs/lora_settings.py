"""The LoRA settings dialog: rank, alpha, dropout, DoRA and bias, as PEFT's ``LoraConfig`` names them.

A thin form over :class:`~freezegui.core.rules.lora.LoraSettings`: the values are checked by the core,
stored through ``Selection.set_lora_settings`` (one undoable edit) and saved in the rule file's
``lora:`` section with the adapted modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

if TYPE_CHECKING:
    from freezegui.app.main_window import MainWindow
    from freezegui.core.rules.lora import LoraSettings

BIAS_CHOICES = (
    ("none", "none: only the adapters train"),
    ("all", "all: every bias trains too"),
    ("lora_only", "lora_only: the biases of adapted modules"),
)


class LoraSettingsDialog(QDialog):
    """Edits one :class:`LoraSettings`; :meth:`settings` reads the form back."""

    def __init__(self, settings: LoraSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("loraSettingsDialog")
        self.setWindowTitle("LoRA settings")
        form = QFormLayout(self)
        # The ranges are the core's (LoraSettings: r <= 65,536, 0 <= alpha <= 1e6, 0 <= dropout < 1):
        # the form cannot produce a value the core refuses, nor clip one a rule file holds.
        self.rank = _spin(QSpinBox(), "loraRank", 1, 65_536)
        self.rank.setValue(settings.r)
        self.alpha = _spin(QDoubleSpinBox(), "loraAlpha", 0.0, 1e6)
        self.alpha.setDecimals(2)
        self.alpha.setValue(float(settings.lora_alpha))
        self.dropout = _spin(QDoubleSpinBox(), "loraDropout", 0.0, 0.99)
        self.dropout.setSingleStep(0.05)
        self.dropout.setValue(float(settings.dropout))
        self.dora = QCheckBox("Weight-decomposed LoRA (adds a magnitude vector per output)")
        self.dora.setObjectName("loraDora")
        self.dora.setChecked(bool(settings.use_dora))
        self.bias = QComboBox()
        self.bias.setObjectName("loraBias")
        for value, text in BIAS_CHOICES:
            self.bias.addItem(text, value)
        self.bias.setCurrentIndex(max(0, self.bias.findData(settings.bias.value)))
        form.addRow("Rank r:", self.rank)
        form.addRow("lora_alpha:", self.alpha)
        form.addRow("Dropout:", self.dropout)
        form.addRow("DoRA:", self.dora)
        form.addRow("Bias:", self.bias)
        note = QLabel(
            "OK updates the counts (undoable); the settings are saved in the rule file's lora: section."
        )
        note.setWordWrap(True)
        form.addRow(note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def settings(self) -> LoraSettings:
        from freezegui.core.rules.lora import LoraBias, LoraSettings

        return LoraSettings(
            r=self.rank.value(),
            lora_alpha=self.alpha.value(),
            dropout=self.dropout.value(),
            use_dora=self.dora.isChecked(),
            bias=LoraBias(self.bias.currentData()),
        )


def _spin(box: Any, name: str, lo: float, hi: float) -> Any:
    box.setObjectName(name)
    box.setRange(lo, hi)
    return box


def show_lora_settings(window: MainWindow) -> LoraSettingsDialog | None:
    """Open the dialog over ``window`` (not blocking); OK stores the settings as one undoable edit."""
    doc = window.document
    if doc is None or window.controller.locked:
        return None
    dialog = LoraSettingsDialog(doc.selection.lora_settings, window)
    dialog.setModal(True)

    def store() -> None:
        if window.document is doc and not window.controller.locked:
            window.edits.set_lora_settings(dialog.settings())

    dialog.accepted.connect(store)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog


__all__ = ["LoraSettingsDialog", "show_lora_settings"]
