"""The module tree's columns, as a table: what each shows, how it aligns, when it greys out.

Qt-free on purpose: the item model (``tree_model``) turns these into roles. Adding a column is one
more :class:`Column` in ``COLUMNS`` (keep ``COL_NAME`` first: it holds the Train check box).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from freezegui.app.tree import plan_columns as pc
from freezegui.app.tree.probe_values import probe_values
from freezegui.core.editing.document import Document
from freezegui.core.editing.selection import CheckState
from freezegui.core.structure.counting import format_count
from freezegui.core.structure.tree import ModuleNode, ParamEntry

Item = ModuleNode | ParamEntry


def _name_text(doc: Document, item: Item) -> str:
    return item.name if isinstance(item, ParamEntry) else (item.name or doc.display_name)


def _type_text(doc: Document, item: Item) -> str:
    if isinstance(item, ParamEntry):
        return "Parameter (tied)" if item.aliases else "Parameter"
    return item.type_name


def _total_text(doc: Document, item: Item) -> str:
    # A module's counts include its LoRA adapters (what PEFT's parameter count reports).
    return format_count(item.info.numel if isinstance(item, ParamEntry) else doc.selection.counts(item).total)


def _trainable_text(doc: Document, item: Item) -> str:
    sel = doc.selection
    if isinstance(item, ParamEntry):
        return format_count(item.info.numel if sel.trainable[item.info.index] else 0)
    return format_count(sel.counts(item).trainable)


def _lora_text(doc: Document, item: Item) -> str | None:
    if isinstance(item, ParamEntry):
        return None
    lora = doc.selection.counts(item).lora
    return format_count(lora) if lora else None


def _lr_text(doc: Document, item: Item) -> str | None:
    """The lr scale a row trains at ("mixed" for a module with several; blank when frozen)."""
    scale = doc.selection.lr_scale_of(item)
    return None if scale is None else scale if isinstance(scale, str) else f"{scale:.4g}"


def _rgn_text(doc: Document, item: Item) -> str | None:
    values = probe_values(doc.tree)
    if values is None or not isinstance(item, ModuleNode):
        return None
    value = float(values.rgn[item.index])
    return f"{value:.3g}" if math.isfinite(value) else None


def _rgn_tint(doc: Document, item: Item) -> float | None:
    values = probe_values(doc.tree)
    return values.heat(item.index) if values is not None and isinstance(item, ModuleNode) else None


def _train_check(doc: Document, item: Item) -> CheckState:
    return doc.selection.check_state(item)


def _lora_check(doc: Document, item: Item) -> CheckState | None:
    """A box only on rows with a module PEFT can adapt in their subtree (EMPTY: no box)."""
    return None if isinstance(item, ParamEntry) else doc.selection.lora_state(item)


def _lora_tooltip(doc: Document, item: Item) -> str | None:
    if isinstance(item, ParamEntry):
        return None
    sel = doc.selection
    able = sel.adaptable(item)
    if not able.size:
        return "PEFT's LoRA cannot adapt anything here"
    adapted, r = int(sel.adapted[able].sum()), sel.lora_settings.r
    return (
        f"{adapted} of {able.size} adaptable modules adapted (rank {r}): "
        f"{sel.counts(item).lora:,} adapter parameters"
    )


def _shape_text(doc: Document, item: Item) -> str | None:
    if not isinstance(item, ParamEntry):
        return None
    shape = "×".join(str(d) for d in item.info.shape) or "scalar"
    return f"{shape} · {item.info.dtype_name}"


def _counts_tooltip(doc: Document, item: Item) -> str | None:
    if isinstance(item, ParamEntry):
        return None  # the row's own tooltip
    counts = doc.selection.counts(item)
    lora = f" ({counts.lora:,} in LoRA adapters)" if counts.lora else ""
    return f"{counts.trainable:,} trainable of {counts.total:,} parameters{lora}"


def row_tooltip(doc: Document, item: Item) -> str:
    """The tooltip of a row's cells whose column has none of its own."""
    sel = doc.selection
    if isinstance(item, ParamEntry):
        numel = item.info.numel
        text = (
            f"{item.path}\n{numel:,} parameters, {'trains' if sel.trainable[item.info.index] else 'frozen'}"
        )
        if item.aliases:
            text += f"\nTied with: {', '.join(item.aliases)} (one tensor: toggles together, counted once)"
        return text
    return f"{item.path or '(whole model)'} — {item.type_name}\n{_counts_tooltip(doc, item)}"


@dataclass(frozen=True)
class Column:
    """One column of the tree: a new column is one more entry in COLUMNS.

    ``text`` is the cell's display string (None: empty), computed when a view first paints the
    row after a change and then kept; ``tooltip`` overrides the row's tooltip in this column;
    ``check`` gives the column a check box (None or EMPTY from it: no box on that row).
    """

    header: str
    text: Callable[[Document, Item], str | None]
    right_aligned: bool = False
    dim_when_frozen: bool = True  # grey text on frozen rows
    tied_color: bool = False  # a tied parameter's cell in a warning colour
    tooltip: Callable[[Document, Item], str | None] | None = None
    header_tooltip: str | None = None
    check: Callable[[Document, Item], CheckState | None] | None = None
    tint: Callable[[Document, Item], float | None] | None = None  # a heat tint, 0..1 (None: none)
    dim_when_stale: bool = False  # grey text while the Cost dock's plan is stale (the cost columns)


COLUMNS: tuple[Column, ...] = (
    Column(
        "Module  (✓ = Train)",
        _name_text,
        dim_when_frozen=False,
        header_tooltip="Ticked rows train; unticked rows are frozen. A partly ticked box: some of it trains.",
        check=_train_check,
        tooltip=pc.train_tooltip,
    ),
    Column("Type", _type_text, tied_color=True),
    Column("Parameters", _total_text, right_aligned=True, tooltip=_counts_tooltip),
    Column("Trainable", _trainable_text, right_aligned=True, tooltip=_counts_tooltip),
    Column(
        "LoRA",
        _lora_text,
        dim_when_frozen=False,
        tooltip=_lora_tooltip,
        header_tooltip="Ticked modules get a LoRA adapter (PEFT): their own weights stay frozen. "
        "Boxes only where PEFT can adapt (Linear, Conv, Embedding, Conv1D).",
        check=_lora_check,
    ),
    Column(
        "LR ×",
        _lr_text,
        right_aligned=True,
        header_tooltip="Learning-rate scale: the row trains at lr × this (F2 or double-click to set it; "
        '"mixed": its tensors train at different scales).',
    ),
    Column("Shape · dtype", _shape_text),
    Column(
        "RGN",
        _rgn_text,
        right_aligned=True,
        dim_when_frozen=False,
        header_tooltip="Relative gradient norm ‖∇W‖/‖W‖ from the last probe (Edit → Probe): how much the "
        "data pulls on this module; the warmer, the more. Blank until a probe has run.",
        tint=_rgn_tint,
    ),
    # The cost columns (View → Cost columns, hidden by default), from the Cost dock's per-module plan.
    Column(
        "Output shape",
        pc.output_shape_text,
        dim_when_frozen=False,
        dim_when_stale=True,
        header_tooltip="What the module returns in the planned step (batch first), as torchinfo shows it",
    ),
    Column(
        "FLOPs (fwd + bwd)",
        pc.flops_text,
        header_tooltip="Forward + backward FLOPs of the planned step inside this module (children included)",
        right_aligned=True,
        dim_when_frozen=False,
        dim_when_stale=True,
    ),
    Column(
        "Activations",
        pc.activations_text,
        header_tooltip="Bytes saved for backward inside this module (children included); nothing below "
        "the first trained layer",
        right_aligned=True,
        dim_when_frozen=False,
        dim_when_stale=True,
    ),
)
COL_NAME, COL_TYPE, COL_TOTAL, COL_TRAINABLE, COL_LORA, COL_LR, COL_SHAPE, COL_RGN = range(8)
COST_COLUMNS = (8, 9, 10)  # output shape, FLOPs, activations
HEADERS = tuple(c.header for c in COLUMNS)
