"""What the Cost dock shows of a plan: the "will it fit my GPU" verdict, the parts of the peak, the
step's compute, each in plain words with a tooltip. The dock (``cost_panel``) decides *which* plan is
shown and whether it is current; this module only turns one into words.

The verdict is green only for a complete, current plan whose peak is under the GPU size. A plan
whose forward could not run on the meta device knows only the training state: it is a lower bound,
shown as "at least …" in amber with what is missing, or red when even that does not fit.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from freezegui.app.docks.cost.bar import SEGMENTS, CostBar, palette_is_dark, percent_words

GREEN, RED, AMBER, GREY = "#1b7f3b", "#c62828", "#b26a00", "#888888"
DARK = {GREEN: "#5fd38a", RED: "#ff6b6b", AMBER: "#ffb74d", GREY: "#9a9a9a"}
VERDICT_TIP = (
    "Compares one GPU's peak memory in a training step with the GPU size. Green only when the whole "
    "step could be planned and fits; amber when part of it is unknown (see below)."
)
FLOPS_TIP = "Floating-point operations of one training step (forward and backward) on one GPU."
RATIO_TIP = (
    "This selection's step compute and peak memory as a share of training every parameter "
    "(full fine-tuning), planned with the same settings."
)
STATUS_TIP = "Whether the numbers above belong to the current selection and settings."


def label(name: str, tip: str = "", style: str = "") -> QLabel:
    out = QLabel("")
    out.setObjectName(name)
    if style:
        out.setStyleSheet(style)
    if tip:
        out.setToolTip(tip)
    out.setWordWrap(True)
    out.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return out


class CostResults(QWidget):
    """The bar, the verdict, one line per part of the peak, the step's FLOPs and the ratio in words."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = CostBar()
        self.verdict = label("costVerdict", VERDICT_TIP, "font-weight: 600; font-size: 14px;")
        self.missing = label("costMissing", "What the plan could not work out, and why")
        self.parts: dict[str, QLabel] = {}
        self.flops = label("costFlops", FLOPS_TIP)
        self.ratio = label("costRatio", RATIO_TIP)
        self.status = label("costStatus", STATUS_TIP, "color: #888;")
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.bar, 0, 0, 1, 2)
        grid.addWidget(self.verdict, 1, 0, 1, 2)
        grid.addWidget(self.missing, 2, 0, 1, 2)
        for i, (_, name, _colour, about) in enumerate(SEGMENTS):
            part = label(f"cost_{name}", about)
            part.setWordWrap(False)
            self.parts[name] = part
            grid.addWidget(part, 3 + i // 2, i % 2)
        grid.addWidget(self.flops, 6, 0, 1, 2)
        grid.addWidget(self.ratio, 7, 0, 1, 2)
        grid.addWidget(self.status, 8, 0, 1, 2)
        self.breakdown = self.parts  # the parts of the peak, by legend

    def colour(self, colour: str) -> str:
        return DARK.get(colour, colour) if palette_is_dark(self) else colour

    def clear(self, gpu: float, stale: bool, status: str) -> None:
        self.bar.set_parts([], gpu, stale)
        for w in (self.verdict, self.missing, self.flops, self.ratio, *self.parts.values()):
            w.setText("")
        self.missing.setVisible(False)
        self.verdict.setProperty("fits", None)
        self.status.setText(status)

    def show_plan(self, plan: Any, gpu: float, stale: bool) -> None:
        from freezegui.core.plan.result import format_flops
        from freezegui.core.structure.counting import format_bytes

        rank = plan.per_rank
        self.bar.set_parts([(getattr(rank, a), c, n) for a, n, c, _ in SEGMENTS], gpu, stale)
        text, colour, fits = verdict(plan, gpu)
        if stale:
            text, colour = text + " (updating…)", GREY
        self.verdict.setText(text)
        self.verdict.setStyleSheet(f"font-weight: 600; font-size: 14px; color: {self.colour(colour)};")
        self.verdict.setProperty("fits", fits)
        self.missing.setText(missing_text(plan))
        self.missing.setVisible(bool(self.missing.text()))
        self.missing.setStyleSheet(f"color: {self.colour(AMBER)};")
        for attr, name, colour, _ in SEGMENTS:
            n = getattr(rank, attr)
            unknown = not plan.step_ran and attr in ("activations_bytes", "temporary_bytes")
            value = "unknown" if unknown else format_bytes(n)
            self.parts[name].setText(f'<span style="color:{colour}">■</span> {name} {value}')
        self.flops.setText(
            f"One step: {format_flops(plan.per_rank.step_flops)}FLOPs"
            if plan.step_ran
            else "One step: FLOPs unknown"
        )
        compute = percent_words(plan.ratio("step_flops") if plan.step_ran else None, "compute")
        memory = percent_words(plan.ratio("peak_bytes") if plan.step_ran else None, "memory")
        self.ratio.setText("; ".join(s for s in (compute, memory) if s))
        self.status.setText("Updating…" if stale else "Current.")


def verdict(plan: Any, gpu: float) -> tuple[str, str, bool | None]:
    """(words, colour, fits): fits is None when it cannot be said (no GPU size, or an incomplete plan
    whose known part fits)."""
    from freezegui.core.structure.counting import format_bytes

    peak = plan.per_rank.peak_bytes
    share = 100 * peak / gpu if gpu > 0 else 0.0
    of_gpu = f" of {format_bytes(gpu)} ({'<0.1' if 0 < share < 0.1 else f'{share:.1f}'} %)" if gpu > 0 else ""
    if gpu <= 0:
        return f"Peak {format_bytes(peak)} — type a GPU size to compare", GREY, None
    if not plan.step_ran:
        if peak > gpu:
            return f"Peak at least {format_bytes(peak)} — does not fit", RED, False
        return f"Peak at least {format_bytes(peak)}{of_gpu} — may not fit: incomplete", AMBER, None
    if plan.fits(gpu):
        return f"Peak {format_bytes(peak)}{of_gpu} — fits", GREEN, True
    return f"Peak {format_bytes(peak)} — does not fit a {format_bytes(gpu)} GPU", RED, False


def missing_text(plan: Any) -> str:
    """What an incomplete plan lacks, and why ("" for a complete one)."""
    if plan.step_ran:
        return ""
    why = plan.message or "the step could not run on the meta device"
    return f"Not planned: activations, temporary memory and FLOPs. Why: {why}."
