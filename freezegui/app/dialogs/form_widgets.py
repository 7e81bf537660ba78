"""Small named input widgets the docks' forms share (object names are what tests and settings find)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QSpinBox


def spin(name: str, lo: int, hi: int, value: int, special: str = "") -> QSpinBox:
    """An integer field with thousands separators; ``special`` is shown for the minimum (e.g. "default").

    Keyboard tracking is off, so typing "2048" is one edit, not four (each edit replans or restarts work)."""
    box = QSpinBox()
    box.setObjectName(name)
    box.setRange(lo, hi)
    box.setValue(value)
    box.setGroupSeparatorShown(True)
    box.setKeyboardTracking(False)
    if special:
        box.setSpecialValueText(special)
    return box


def combo(name: str, items: list[tuple[str, Any]]) -> QComboBox:
    """A drop-down of (text, data) items."""
    box = QComboBox()
    box.setObjectName(name)
    for text, data in items:
        box.addItem(text, data)
    return box
