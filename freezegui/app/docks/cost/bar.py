"""The Cost dock's bar and its words: one GPU's memory as a stacked bar with a scale, the named GPU
sizes, and the plain-language verdict (kept apart from the dock's planning logic in ``cost_panel``).

The bar is drawn against the GPU (its right end is the GPU size, or the peak when that is larger),
with ticks in GiB, so a 200 MiB peak on an 80 GiB card reads as "a sliver of a big card", not as a
rendering fault; every non-empty part gets a few pixels so it can be pointed at. Colours come from the
widget's palette, so a dark palette gets a dark track.
"""

from __future__ import annotations

import math
import re
from typing import Any

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize
from PySide6.QtGui import QColor, QHelpEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QComboBox, QSizePolicy, QToolTip, QWidget

GIB = 1024**3
# (text, GiB): the text itself starts with the number, so a preset and a typed number parse alike
GPU_PRESETS = (
    ("24 GiB · consumer (RTX 3090 / 4090)", 24),
    ("40 GiB · A100 40GB", 40),
    ("80 GiB · A100 80GB / H100", 80),
    ("141 GiB · H200", 141),
)
DEFAULT_GPU = GPU_PRESETS[2][0]
SEGMENTS = (  # (attribute of Cost, legend, colour, what it is)
    ("weights_bytes", "weights", "#5b7fbf", "The model's parameters, every tensor once."),
    (
        "gradients_bytes",
        "gradients",
        "#d08a3c",
        "One gradient per tensor that keeps requires_grad (all of them under lr 0, method 2).",
    ),
    (
        "optimizer_bytes",
        "optimizer",
        "#8c6bb1",
        "Optimizer state per trained tensor: AdamW keeps 2 moments, SGD with momentum 1, SGD none.",
    ),
    (
        "activations_bytes",
        "activations",
        "#4e9a5b",
        "What the forward pass saves for backward; nothing is saved below the first layer that trains.",
    ),
    (
        "temporary_bytes",
        "temporary",
        "#9e9e9e",
        "The step's worst moment beyond the saved activations: activation gradients in flight, or "
        "AdamW's step temporary (a square root of every second moment at once), whichever is larger. "
        "It can be most of the peak.",
    ),
)
_NUMBER = re.compile(r"^\s*(\d+(?:[.,]\d*)?|[.,]\d+)\s*(?:gib|gb|g)?\b", re.IGNORECASE)


def gpu_field() -> QComboBox:
    """The GPU size: a named GPU or any number of GiB. There is no completer, so what is typed stays
    what is typed ("8" is 8 GiB, never completed to the "80 GiB" preset)."""
    box = QComboBox()
    box.setObjectName("costGpu")
    box.setEditable(True)
    box.setCompleter(None)  # type: ignore[arg-type]  # a completer turns "8" + Enter into "80 GiB · ..."
    box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
    for text, gib in GPU_PRESETS:
        box.addItem(text, gib)
    box.setCurrentText(DEFAULT_GPU)
    box.setToolTip(
        "Memory of one GPU: pick a named GPU or type any number of GiB (e.g. 12 or 16). "
        "The verdict compares one GPU's peak with it."
    )
    return box


def parse_gpu_gib(text: str) -> float:
    """The GiB a GPU field's text names (its leading number), 0 when it names none or not a positive one."""
    match = _NUMBER.match(text)
    if not match:
        return 0.0
    value = float(match.group(1).replace(",", "."))
    return value if value > 0 and math.isfinite(value) else 0.0


def percent_words(ratio: float | None, what: str) -> str:
    """``0.34`` -> "34 % of the compute of training everything" (one decimal below 10 %)."""
    if ratio is None:
        return ""
    pct = 100 * ratio
    shown = f"{pct:.1f}" if pct < 10 else f"{pct:.0f}"
    return f"{shown} % of the {what} of training everything"


def nice_step(top: float, ticks: int = 4) -> float:
    """A 1/2/5 × 10^k step that cuts ``[0, top]`` into about ``ticks`` parts."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


class CostBar(QWidget):
    """A stacked bar of one rank's memory against the GPU size (a red line), with a GiB scale under it."""

    BAR_H = 18
    MIN_PART_PX = 3  # a part that is not zero is never invisible

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("costBar")
        self.setMinimumHeight(self.BAR_H + 24)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.parts: list[tuple[int, str, str]] = []  # (bytes, colour, legend)
        self.gpu_bytes = 0.0
        self.stale = False
        self.setToolTip("One GPU's memory at the peak of a training step; the red line is the GPU size")

    def sizeHint(self) -> QSize:
        return QSize(300, self.BAR_H + 24)

    def set_parts(self, parts: list[tuple[int, str, str]], gpu_bytes: float, stale: bool) -> None:
        self.parts, self.gpu_bytes, self.stale = parts, gpu_bytes, stale
        self.update()

    @property
    def scale_bytes(self) -> float:
        """The bytes the bar's full width stands for: the GPU, or the peak when that is larger."""
        return float(max(sum(n for n, _, _ in self.parts), self.gpu_bytes, 1))

    def segments(self) -> list[tuple[QRectF, str, int]]:
        """The drawn parts: (rectangle, legend, bytes), each non-empty one at least a few pixels wide."""
        rect = self._track()
        out, x = [], rect.left()
        for n, _colour, name in self.parts:
            if n <= 0:
                continue
            w = max(rect.width() * n / self.scale_bytes, self.MIN_PART_PX)
            out.append((QRectF(x, rect.top(), w, rect.height()), name, n))
            x += w
        return out

    def _track(self) -> QRectF:
        return QRectF(1, 4, max(self.width() - 2, 1), self.BAR_H)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        pal = self.palette()
        rect = self._track()
        painter.fillRect(rect, pal.color(QPalette.ColorRole.AlternateBase))
        painter.setPen(QPen(pal.color(QPalette.ColorRole.Mid), 1))
        painter.drawRect(rect)
        colours = {name: colour for _, colour, name in self.parts}
        for seg, name, _ in self.segments():
            c = QColor(colours[name])
            if self.stale:
                c.setAlpha(90)
            painter.fillRect(seg, c)
        self._paint_scale(painter, rect, pal)
        if self.gpu_bytes:
            gx = rect.left() + rect.width() * self.gpu_bytes / self.scale_bytes
            painter.setPen(QPen(QColor("#e53935"), 2))
            painter.drawLine(QPointF(gx, rect.top() - 3), QPointF(gx, rect.bottom() + 3))
        painter.end()

    def _paint_scale(self, painter: QPainter, rect: QRectF, pal: QPalette) -> None:
        top = self.scale_bytes / GIB
        step = nice_step(top)
        painter.setPen(QPen(pal.color(QPalette.ColorRole.WindowText), 1))
        metrics = painter.fontMetrics()
        y = rect.bottom() + 2
        value = 0.0
        while value <= top + 1e-9:
            x = rect.left() + rect.width() * value / top
            painter.drawLine(QPointF(x, y), QPointF(x, y + 3))
            label = f"{value:g}" + (" GiB" if value == 0 else "")
            w = metrics.horizontalAdvance(label)
            lx = min(max(x - w / 2, rect.left()), rect.right() - w)
            painter.drawText(QPointF(lx, y + 4 + metrics.ascent()), label)
            value += step

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            tip = self.tip_at(QPointF(event.pos()))
            if tip:
                QToolTip.showText(event.globalPos(), tip, self)
                return True
        return super().event(event)

    def tip_at(self, pos: QPointF) -> str:
        """The tooltip of the part under ``pos`` ("" off the parts: the widget's own tooltip shows)."""
        from freezegui.core.structure.counting import format_bytes

        for seg, name, n in self.segments():
            if seg.contains(pos):
                about = next(a for _, legend, _, a in SEGMENTS if legend == name)
                return f"{name}: {format_bytes(n)}. {about}"
        return ""


def segment_tip(legend: str) -> str:
    return next(about for _, name, _, about in SEGMENTS if name == legend)


def palette_is_dark(widget: Any) -> bool:
    """True when the widget's window colour is dark (the dock picks readable colours for its words)."""
    return bool(widget.palette().color(QPalette.ColorRole.Window).lightness() < 128)
