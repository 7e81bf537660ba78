"""The tree's optional cost columns (View → Cost columns): each module's output shape, step FLOPs and
saved activations, from the Cost dock's plan (``per_module=True``), greyed while it is stale.

The numbers come from the plan the Cost dock already runs in the background; nothing here plans or
touches torch. :data:`NUMBERS` holds the latest per-module plan of the shown document; the column
functions read it (Qt-free, like :mod:`columns`). A text bar in the cell sizes each module against the
most expensive one below the root, so the expensive modules stand out.
"""

from __future__ import annotations

from typing import Any

from freezegui.core.editing.document import Document
from freezegui.core.structure.counting import format_bytes
from freezegui.core.structure.tree import ModuleNode, ParamEntry

BAR = 6  # cells of the heat bar


class PlanNumbers:
    """The latest per-module plan for one document, and whether an edit has made it stale."""

    def __init__(self) -> None:
        self.doc: Document | None = None
        self.modules: dict[str, Any] | None = None  # path -> ModuleCost (this selection)
        self.full: dict[str, Any] | None = None  # path -> ModuleCost (full fine-tuning)
        self.stale = True
        self.top_flops = 1
        self.top_bytes = 1

    def set_plan(self, doc: Document | None, plan: Any) -> None:
        self.doc, self.modules, self.stale = doc, getattr(plan, "modules", None), False
        full = getattr(plan, "full_finetune", None)
        self.full = getattr(full, "modules", None)
        below = [m for path, m in (self.modules or {}).items() if path]
        self.top_flops = max([m.flops for m in below] or [1]) or 1
        self.top_bytes = max([m.activations_bytes for m in below] or [1]) or 1

    def of(self, doc: Document, item: Any) -> Any:
        if self.modules is None or doc is not self.doc or not isinstance(item, ModuleNode):
            return None
        return self.modules.get(item.path)


NUMBERS = PlanNumbers()


def _bar(value: int, top: int) -> str:
    filled = min(BAR, round(BAR * value / top)) if top else 0
    return "█" * filled + "░" * (BAR - filled)


def _flops(n: float) -> str:
    from freezegui.core.plan.result import format_flops

    return format_flops(n)


def output_shape_text(doc: Document, item: ModuleNode | ParamEntry) -> str | None:
    m = NUMBERS.of(doc, item)
    if m is None:
        return None
    from freezegui.core.plan.modules import format_shape

    return format_shape(m.output_shape)


def flops_text(doc: Document, item: ModuleNode | ParamEntry) -> str | None:
    m = NUMBERS.of(doc, item)
    return None if m is None else f"{_bar(m.flops, NUMBERS.top_flops)} {_flops(m.flops)}"


def activations_text(doc: Document, item: ModuleNode | ParamEntry) -> str | None:
    m = NUMBERS.of(doc, item)
    if m is None:
        return None
    return f"{_bar(m.activations_bytes, NUMBERS.top_bytes)} {format_bytes(m.activations_bytes)}"


def describe(doc: Document, item: ModuleNode | ParamEntry) -> str | None:
    """The module's numbers in one line (the Details pane), '(stale)' while an edit is unplanned."""
    m = NUMBERS.of(doc, item)
    if m is None:
        return None
    from freezegui.core.plan.modules import format_shape

    return (
        f"output {format_shape(m.output_shape)} · forward {_flops(m.forward_flops)}FLOPs · backward "
        f"{_flops(m.backward_flops)}FLOPs · saves {format_bytes(m.activations_bytes)} for backward"
        + (" (stale)" if NUMBERS.stale else "")
    )


def train_tooltip(doc: Document, item: ModuleNode | ParamEntry) -> str | None:
    """The Train box's tooltip: this module's cost now beside its cost when it trains (full
    fine-tuning's numbers); the difference is what unfreezing it adds in the module itself."""
    m = NUMBERS.of(doc, item)
    full = NUMBERS.full.get(m.name) if m is not None and NUMBERS.full else None
    if m is None or full is None:
        return None
    from freezegui.app.tree.columns import row_tooltip

    extra_bytes = full.activations_bytes - m.activations_bytes
    extra_flops = full.backward_flops - m.backward_flops
    return (
        f"{row_tooltip(doc, item)}\n"
        f"Now: saves {format_bytes(m.activations_bytes)}, backward {_flops(m.backward_flops)}FLOPs\n"
        f"Trained (as in full fine-tuning): saves {format_bytes(full.activations_bytes)}, "
        f"backward {_flops(full.backward_flops)}FLOPs\n"
        f"Unfreezing it adds about +{format_bytes(max(extra_bytes, 0))} and +{_flops(max(extra_flops, 0))}FLOPs "
        "here (more if the modules above must then pass gradients back)"
        + ("\n(stale: the plan is updating)" if NUMBERS.stale else "")
    )
