"""A formatted cell of the module tree, and how it answers Qt's item data roles."""

from __future__ import annotations

from typing import Any, NamedTuple

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont

# Roles as plain ints: compared for every cell on every repaint.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_CHECK_ROLE = int(Qt.ItemDataRole.CheckStateRole)
_BACKGROUND = int(Qt.ItemDataRole.BackgroundRole)
TOOLTIP_ROLE = int(Qt.ItemDataRole.ToolTipRole)
RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)  # as Qt's models answer it
RIGHT_ALIGNED = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
ANSWERED_ROLES = frozenset({_DISPLAY, _FONT, _ALIGNMENT, _FOREGROUND, _CHECK_ROLE, TOOLTIP_ROLE, _BACKGROUND})


class Cell(NamedTuple):
    """One painted cell: its text and what styles it (None: the view's default)."""

    text: str | None
    check: Qt.CheckState | None
    alignment: Qt.AlignmentFlag | None
    foreground: QBrush | None
    font: QFont | None
    background: QBrush | None = None  # a heat tint (the RGN column)


_ROLE_FIELD = {_DISPLAY: 0, _CHECK_ROLE: 1, _ALIGNMENT: 2, _FOREGROUND: 3, _FONT: 4, _BACKGROUND: 5}


def role_value(cell: Cell | None, role: int) -> Any:
    """What a cell answers for one item data role (None: nothing)."""
    field = _ROLE_FIELD.get(role)
    if cell is None or field is None:
        return None
    value = cell[field]
    if field == 2 and value is not None:  # alignment: an int, as Qt's models answer it
        return cell.alignment.value if cell.alignment is not None else None
    return value


_HEAT: dict[int, QBrush] = {}


def heat_brush(heat: float | None) -> QBrush | None:
    """A warm tint for a value in [0, 1] (None: no tint), in 20 steps so brushes are shared."""
    if heat is None:
        return None
    step = max(0, min(20, round(heat * 20)))
    brush = _HEAT.get(step)
    if brush is None:
        brush = _HEAT[step] = QBrush(QColor(230, 81, 0, 20 + step * 8))
    return brush
