"""The per-module plan as a torchinfo-style table (``freezegui plan --per-module``)."""

from __future__ import annotations

from freezegui.core.plan.modules import ModuleCost, format_shape
from freezegui.core.plan.result import format_flops
from freezegui.core.structure.counting import format_bytes

SORTS = ("activations", "flops")


def module_rows(
    modules: dict[str, ModuleCost], depth: int | None = None, sort: str | None = None
) -> list[ModuleCost]:
    """The modules down to ``depth`` (the root is 0), in tree order or the most expensive first."""
    rows = [m for m in modules.values() if depth is None or _depth(m.name) <= depth]
    if sort == "activations":
        rows.sort(key=lambda m: -m.activations_bytes)
    elif sort == "flops":
        rows.sort(key=lambda m: -m.flops)
    return rows


def module_table(
    modules: dict[str, ModuleCost], depth: int | None = None, sort: str | None = None
) -> list[str]:
    """Lines of the table: each module's type and name, output shape, forward / backward FLOPs, saved bytes.

    In tree order names are indented by depth; sorted, the full dotted path is shown instead."""
    rows = module_rows(modules, depth, sort)
    names = [_label(m, indent=sort is None) for m in rows]
    shapes = [format_shape(m.output_shape) for m in rows]
    wn = max([len("Layer (type)"), *map(len, names)])
    ws = max([len("Output shape"), *map(len, shapes)])
    head = f"{'Layer (type)':<{wn}}  {'Output shape':<{ws}}  {'Forward':>10}  {'Backward':>10}  {'Activations':>12}"
    out = [head, "=" * len(head)]
    for m, name, shape in zip(rows, names, shapes):
        out.append(
            f"{name:<{wn}}  {shape:<{ws}}  {format_flops(m.forward_flops):>10}  "
            f"{format_flops(m.backward_flops):>10}  {format_bytes(m.activations_bytes):>12}"
        )
    out.append("=" * len(head))
    out.append("FLOPs per GPU step; activations: bytes saved for backward, each module's children included")
    return out


def _depth(path: str) -> int:
    return 0 if not path else path.count(".") + 1


def _label(m: ModuleCost, *, indent: bool) -> str:
    if not m.name:
        return m.type
    if indent:
        return f"{'  ' * (_depth(m.name) - 1)}{m.name.rsplit('.', 1)[-1]} ({m.type})"
    return f"{m.name} ({m.type})"
