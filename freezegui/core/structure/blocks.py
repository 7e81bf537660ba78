"""The model's main repeated block list: what "Train last N blocks" and layer-wise decay count by."""

from __future__ import annotations

from torch import nn

from freezegui.core.structure.tree import ModuleTree


def block_list(tree: ModuleTree) -> int | None:
    """The model's main repeated block list (BERT's ``encoder.layer``, a Llama's ``model.layers``):
    the ModuleList/Sequential of at least two same-typed children holding the most parameters."""
    best, best_total = None, 0
    for i, module in enumerate(tree.modules):
        if not isinstance(module, (nn.ModuleList, nn.Sequential)) or len(module) < 2:
            continue
        kinds = {type(m) for m in module}
        if len(kinds) != 1 or int(tree.total[i]) <= best_total:
            continue
        best, best_total = i, int(tree.total[i])
    return best
