"""The comparison chart: every queued selection's training loss (solid) and validation loss (dashed,
with points), one colour per selection and a legend entry each."""

from __future__ import annotations

import math

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QValueAxis
from PySide6.QtCore import QMargins, QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from freezegui.core.training.report import StepResult

COLOURS = ("#0969da", "#bc4c00", "#1a7f37", "#8250df", "#cf222e", "#9a6700", "#57606a", "#bf3989")


class CompareChart(QChartView):
    """Loss curves of several runs overlaid; grows by appending points."""

    def __init__(self, parent: QWidget | None = None) -> None:
        chart = QChart()
        chart.setTitle("Loss per selection (dashed: validation)")
        chart.setMargins(QMargins(4, 4, 4, 4))
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        super().__init__(chart, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.x_axis, self.y_axis = QValueAxis(), QValueAxis()
        self.x_axis.setLabelFormat("%d")
        self.x_axis.setTitleText("step")
        chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)
        self.setMinimumHeight(180)
        self.train: dict[int, QLineSeries] = {}
        self.val: dict[int, QLineSeries] = {}
        self.reset(1)

    def reset(self, steps: int) -> None:
        self.chart().removeAllSeries()
        self.train, self.val = {}, {}
        self._lo, self._hi = math.inf, -math.inf
        self.x_axis.setRange(0, max(1, steps))
        self.y_axis.setRange(0, 1)

    def _series(self, index: int, name: str, *, val: bool) -> QLineSeries:
        store = self.val if val else self.train
        if index not in store:
            s = QLineSeries()
            s.setName(f"{name} (val)" if val else name)
            pen = QPen(QColor(COLOURS[index % len(COLOURS)]))
            pen.setWidthF(2.0)
            if val:
                pen.setStyle(Qt.PenStyle.DashLine)
                s.setPointsVisible(True)
            s.setPen(pen)
            self.chart().addSeries(s)
            s.attachAxis(self.x_axis)
            s.attachAxis(self.y_axis)
            store[index] = s
        return store[index]

    def add(self, index: int, name: str, results: list[StepResult]) -> None:
        """Steps of run ``index`` (named ``name`` in the legend), with their held-out scores if any."""
        points = [QPointF(r.step, r.loss) for r in results if math.isfinite(r.loss)]
        vals = [QPointF(r.step, r.evaluation.loss) for r in results if r.evaluation is not None]
        if points:
            self._series(index, name, val=False).append(points)
        if vals:
            self._series(index, name, val=True).append(vals)
        ys = [p.y() for p in points + vals if math.isfinite(p.y())]
        if ys and (min(ys) < self._lo or max(ys) > self._hi):
            self._lo, self._hi = min(self._lo, *ys), max(self._hi, *ys)
            pad = (self._hi - self._lo) * 0.05 or 0.1
            self.y_axis.setRange(self._lo - pad, self._hi + pad)

    def legend_names(self) -> list[str]:
        return [s.name() for s in self.chart().series()]
