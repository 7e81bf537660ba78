"""The module tree's columns, as a table: what each shows, how it aligns, when it greys out.

Qt-free on purpose: the item model (``tree_model``) turns these into roles. Adding a column is one
more :class:`Column` in ``COLUMNS`` (keep ``COL_NAME`` first: it holds the Train check box).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from freezegui.core.counting import format_count
from freezegui.core.document import Document
from freezegui.core.tree import ModuleNode, ParamEntry

Item = ModuleNode | ParamEntry


def _name_text(doc: Document, item: Item) -> str:
    return item.name if isinstance(item, ParamEntry) else (item.name or doc.display_name)


def _type_text(doc: Document, item: Item) -> str:
    if isinstance(item, ParamEntry):
        return "Parameter (tied)" if item.aliases else "Parameter"
    return item.type_name


def _total_text(doc: Document, item: Item) -> str:
    return format_count(item.info.numel if isinstance(item, ParamEntry) else int(doc.tree.total[item.index]))


def _trainable_text(doc: Document, item: Item) -> str:
    sel = doc.selection
    if isinstance(item, ParamEntry):
        return format_count(item.info.numel if sel.trainable[item.info.index] else 0)
    return format_count(int(sel.node_trainable[item.index]))


def _shape_text(doc: Document, item: Item) -> str | None:
    if not isinstance(item, ParamEntry):
        return None
    shape = "×".join(str(d) for d in item.info.shape) or "scalar"
    return f"{shape} · {item.info.dtype_name}"


def _counts_tooltip(doc: Document, item: Item) -> str | None:
    if isinstance(item, ParamEntry):
        return None  # the row's own tooltip
    total, trainable = int(doc.tree.total[item.index]), int(doc.selection.node_trainable[item.index])
    return f"{trainable:,} trainable of {total:,} parameters"


@dataclass(frozen=True)
class Column:
    """One column of the tree: a new column is one more entry in COLUMNS.

    ``text`` is the cell's display string (None: empty), computed when a view first paints the
    row after a change and then kept; ``tooltip`` overrides the row's tooltip in this column.
    """

    header: str
    text: Callable[[Document, Item], str | None]
    right_aligned: bool = False
    dim_when_frozen: bool = True  # grey text on frozen rows
    tied_color: bool = False  # a tied parameter's cell in a warning colour
    tooltip: Callable[[Document, Item], str | None] | None = None
    header_tooltip: str | None = None


COLUMNS: tuple[Column, ...] = (
    Column(
        "Module  (✓ = Train)",
        _name_text,
        dim_when_frozen=False,
        header_tooltip="Ticked rows train; unticked rows are frozen. A partly ticked box: some of it trains.",
    ),
    Column("Type", _type_text, tied_color=True),
    Column("Parameters", _total_text, right_aligned=True, tooltip=_counts_tooltip),
    Column("Trainable", _trainable_text, right_aligned=True, tooltip=_counts_tooltip),
    Column("Shape · dtype", _shape_text),
)
COL_NAME, COL_TYPE, COL_TOTAL, COL_TRAINABLE, COL_SHAPE = range(5)
HEADERS = tuple(c.header for c in COLUMNS)
