"""Widgets of the training dock: its form and layout, the live loss chart, small helpers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QScatterSeries, QValueAxis
from PySide6.QtCore import QEvent, QMargins, QPointF, Qt
from PySide6.QtGui import QColor, QDoubleValidator, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from freezegui.app.dialogs.form_widgets import combo, spin
from freezegui.core.training.config import SYNTHETIC, available_devices

if TYPE_CHECKING:
    from freezegui.core.training.proof import ProofReport
    from freezegui.core.training.report import StepResult

MAX_CHART_POINTS = 1000  # the chart keeps about this many points (every k-th step on long runs)
MARK_COLOUR = QColor("#bc4c00")


class StageMark:
    """A schedule stage change on the loss chart: a dashed vertical line at the step where it
    applied (steps done), and a labelled dot at its top. ``step`` and ``stage`` are what tests read."""

    def __init__(self, chart: QChart, axes: tuple[QValueAxis, QValueAxis], step: int, stage: int) -> None:
        self.step, self.stage = step, stage
        self.line = QLineSeries()
        self.line.setName(f"stage {stage}")
        pen = QPen(MARK_COLOUR, 1.5, Qt.PenStyle.DashLine)
        self.line.setPen(pen)
        self.label = QScatterSeries()
        self.label.setMarkerSize(7)
        self.label.setColor(MARK_COLOUR)
        self.label.setPointLabelsFormat(f"stage {stage}")
        self.label.setPointLabelsVisible(True)
        self.label.setPointLabelsColor(MARK_COLOUR)
        self.label.setPointLabelsClipping(False)  # the label sits above the plot's top edge
        for series in (self.line, self.label):
            chart.addSeries(series)
            for axis in axes:
                series.attachAxis(axis)

    def span(self, lo: float, hi: float) -> None:
        """Reach from the bottom of the y axis to its top."""
        self.line.replace([QPointF(self.step, lo), QPointF(self.step, hi)])
        self.label.replace([QPointF(self.step, hi)])

    def remove(self, chart: QChart) -> None:
        for series in (self.line, self.label):
            chart.removeSeries(series)


class LossChart(QChartView):
    """A line chart that grows by appending points (never rebuilt), with axes widened as needed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        chart = QChart()
        chart.legend().hide()
        chart.setTitle("Loss")
        chart.setMargins(QMargins(4, 4, 4, 4))
        super().__init__(chart, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.series = QLineSeries()
        chart.addSeries(self.series)
        self.x_axis, self.y_axis = QValueAxis(), QValueAxis()
        self.x_axis.setLabelFormat("%d")
        self.x_axis.setTitleText("step")
        chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)
        self.series.attachAxis(self.x_axis)
        self.series.attachAxis(self.y_axis)
        self.setMinimumHeight(160)
        self.marks: list[StageMark] = []
        self.reset(1)
        self.follow_palette()

    def follow_palette(self) -> None:
        """The chart's background and words from the palette (a dark palette gets a dark chart)."""
        pal, chart = self.palette(), self.chart()
        chart.setBackgroundBrush(pal.brush(QPalette.ColorRole.Base))
        chart.setTitleBrush(pal.brush(QPalette.ColorRole.Text))
        for axis in (self.x_axis, self.y_axis):
            axis.setLabelsBrush(pal.brush(QPalette.ColorRole.Text))
            axis.setTitleBrush(pal.brush(QPalette.ColorRole.Text))
        self.setBackgroundBrush(pal.brush(QPalette.ColorRole.Window))

    def changeEvent(self, event: QEvent) -> None:  # Qt override
        if event.type() == QEvent.Type.PaletteChange:
            self.follow_palette()
        super().changeEvent(event)

    def reset(self, steps: int) -> None:
        self.series.clear()
        for mark in self.marks:
            mark.remove(self.chart())
        self.marks, self._stage = [], 0
        self._stride = max(1, math.ceil(steps / MAX_CHART_POINTS))
        self._lo, self._hi = math.inf, -math.inf
        self.x_axis.setRange(0, max(1, steps))
        self.y_axis.setRange(0, 1)

    def add(self, results: list[StepResult]) -> None:
        self._add_points(results)
        for r in results:  # every result, plotted or not: a stage may start between plotted points
            if r.stage > self._stage:
                self._stage = r.stage
                self.marks.append(StageMark(self.chart(), (self.x_axis, self.y_axis), r.step - 1, r.stage))
                self._span_marks()

    def _span_marks(self) -> None:
        for mark in self.marks:
            mark.span(self.y_axis.min(), self.y_axis.max())

    def _add_points(self, results: list[StepResult]) -> None:
        points = [
            QPointF(r.step, r.loss)
            for r in results
            if (r.step % self._stride == 0 or r.step == 1 or r.step == r.steps) and math.isfinite(r.loss)
        ]
        if not points:
            return
        ys = [p.y() for p in points]
        lo, hi = min(self._lo, *ys), max(self._hi, *ys)
        if lo < self._lo or hi > self._hi:
            self._lo, self._hi = lo, hi
            pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 0.1
            self.y_axis.setRange(lo - pad, hi + pad)
            self._span_marks()
        self.series.append(points)

    def point_count(self) -> int:
        return self.series.count()


class TrainingDockWidgets(QDockWidget):
    """The training dock's widgets and layout (:class:`~freezegui.app.docks.training_panel.TrainingPanel`
    adds the behaviour); ``_settings`` lists the inputs a run disables."""

    def _build(self) -> None:
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.addLayout(self._build_form())
        layout.addLayout(self._build_buttons())
        self._build_progress(layout)
        self.setWidget(body)

    def _build_form(self) -> QFormLayout:
        """The run's settings; every widget in ``self._settings`` is disabled during a run."""
        self.stepsSpin = spin("stepsSpin", 1, 1_000_000, 30)
        self.batchSpin = spin("batchSizeSpin", 1, 65_536, 8)
        self.lrEdit = QLineEdit("0.001")
        self.lrEdit.setObjectName("lrEdit")
        validator = QDoubleValidator(0.0, 10.0, 10, self.lrEdit)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.lrEdit.setValidator(validator)
        self.optimizerCombo = combo("optimizerCombo", [("AdamW", "adamw"), ("SGD with momentum", "sgd")])
        methods = [
            ("From the selection", None),
            ("requires_grad (method 1)", "requires_grad"),
            ("lr 0 (method 2)", "lr_zero"),
        ]
        self.methodCombo = combo("methodCombo", methods)
        self.deviceCombo = combo("deviceCombo", [("auto", "auto"), *((d, d) for d in available_devices())])
        self.seedSpin = spin("seedSpin", 0, 2**31 - 1, 0)
        self.imageSizeSpin = spin("imageSizeSpin", 0, 4096, 0)
        self.imageSizeSpin.setSpecialValueText("auto")
        self.imageSizeSpin.setSuffix(" px")
        self.imageSizeSpin.setToolTip("Image side; auto: 64 px for synthetic images, 224 px for folders")
        self.seqLenSpin = spin("seqLenSpin", 2, 1_000_000, 32)
        self.seqLenSpin.setSuffix(" tokens")
        data_row, browse = self._build_data_row()
        self.normLabel = QLabel("")
        self.normLabel.setObjectName("normPolicyLabel")
        self.normLabel.setToolTip(
            "Set in the rules: frozen BatchNorm layers keep (or update) their statistics"
        )
        form = self.settingsForm = QFormLayout()
        for label, field in (
            ("Steps", self.stepsSpin),
            ("Batch size", self.batchSpin),
            ("Learning rate", self.lrEdit),
            ("Optimizer", self.optimizerCombo),
            ("Method", self.methodCombo),
            ("Device", self.deviceCombo),
            ("Seed", self.seedSpin),
            ("Data", data_row),
            ("BatchNorm", self.normLabel),
            ("Image size", self.imageSizeSpin),
            ("Sequence length", self.seqLenSpin),
        ):
            form.addRow(label, field)
        self._settings: list[QWidget] = [
            *(self.stepsSpin, self.batchSpin, self.lrEdit, self.optimizerCombo, self.methodCombo),
            *(self.deviceCombo, self.seedSpin, self.imageSizeSpin, self.seqLenSpin, self.dataEdit, browse),
        ]
        return form

    def _build_data_row(self) -> tuple[QHBoxLayout, QToolButton]:
        self.dataEdit = QLineEdit(SYNTHETIC)
        self.dataEdit.setObjectName("dataEdit")
        self.dataEdit.setToolTip("synthetic, an image folder (ImageFolder layout), or a text file")
        browse = QToolButton()
        browse.setText("…")
        browse.setObjectName("dataBrowse")
        menu = QMenu(browse)
        menu.addAction("Synthetic data", lambda: self.dataEdit.setText(SYNTHETIC))
        menu.addAction("Image folder…", self._choose_folder)
        menu.addAction("Text file…", self._choose_file)
        browse.setMenu(menu)
        browse.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        row = QHBoxLayout()
        row.addWidget(self.dataEdit, 1)
        row.addWidget(browse)
        return row, browse

    def _build_buttons(self) -> QHBoxLayout:
        self.trainButton = QPushButton("Start")
        self.trainButton.setObjectName("trainButton")
        self.stopButton = QPushButton("Stop")
        self.stopButton.setObjectName("stopButton")
        self.saveButton = QPushButton("Save weights…")
        self.saveButton.setObjectName("saveWeightsButton")
        self.saveButton.setToolTip("Write the fine-tuned copy as model.safetensors with its rule file")
        buttons = QHBoxLayout()
        for b in (self.trainButton, self.stopButton, self.saveButton):
            buttons.addWidget(b)
        return buttons

    def _build_progress(self, layout: QVBoxLayout) -> None:
        self.progressBar = QProgressBar()
        self.progressBar.setObjectName("progressBar")
        self.progressBar.setRange(0, 1)
        self.progressBar.setValue(0)
        self.progressBar.setFormat("idle")
        self.statusLabel = QLabel("")
        self.statusLabel.setObjectName("trainingStatus")
        self.speedLabel = QLabel("")
        self.speedLabel.setObjectName("speedLabel")
        stats = QHBoxLayout()
        stats.addWidget(self.statusLabel, 1)
        stats.addWidget(self.speedLabel)
        self.lossChart = LossChart()
        self.lossChart.setObjectName("lossChart")
        self.proofLabel = QLabel("")
        self.proofLabel.setObjectName("proofLabel")
        self.proofLabel.setWordWrap(True)
        self.reportView = QPlainTextEdit()
        self.reportView.setObjectName("trainingReport")
        self.reportView.setReadOnly(True)
        self.reportView.setMaximumHeight(170)
        self.reportView.setPlaceholderText(
            "The report of the last run, with the frozen-weights proof, appears here."
        )
        layout.addWidget(self.progressBar)
        layout.addLayout(stats)
        layout.addWidget(self.lossChart, 1)
        layout.addWidget(self.proofLabel)
        layout.addWidget(self.reportView)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Image folder (one sub-folder per class)")
        if path:
            self.dataEdit.setText(path)

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Text file", "", "Text (*.txt *.tsv);;All files (*)")
        if path:
            self.dataEdit.setText(path)


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, s = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def proof_text(proof: ProofReport) -> tuple[str, str]:
    """The proof line under the chart, and its style (green when every frozen tensor is unchanged)."""
    ok = proof.ok
    text = (
        ("✔ " if ok else "✘ ")
        + f"{proof.frozen_verified_elements:,} frozen parameters verified bit-identical; "
        f"{proof.trainable_changed_elements:,} trainable changed"
        + ("" if ok else f" — FROZEN TENSORS CHANGED: {', '.join(proof.frozen_changed[:3])}")
    )
    return text, "color: #1a7f37;" if ok else "color: #cf222e; font-weight: bold;"


__all__ = ["LossChart", "TrainingDockWidgets", "combo", "duration", "proof_text", "spin"]
