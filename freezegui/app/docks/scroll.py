"""Docks whose content scrolls: the window's minimum size then does not grow with the tallest dock
(the Training dock's form and chart want 670 px), so it fits a 1366×768 laptop with docks tabbed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QFrame, QScrollArea

MIN_DOCK_HEIGHT = 160


def scrolled(dock: QDockWidget) -> None:
    """Put the dock's widget in a frameless scroll area (once), resizing with the dock."""
    body = dock.widget()
    if body is None or isinstance(body, QScrollArea):
        return
    area = QScrollArea(dock)
    area.setObjectName(f"{dock.objectName() or 'dock'}Scroll")
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidgetResizable(True)
    area.setWidget(body)
    area.setMinimumHeight(MIN_DOCK_HEIGHT)
    # only tall content scrolls: the dock stays as wide as its content needs (no sideways scrolling)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setMinimumWidth(body.minimumSizeHint().width() + area.verticalScrollBar().sizeHint().width())
    dock.setWidget(area)
