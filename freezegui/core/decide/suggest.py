""" "Suggest from probe": train the k blocks with the largest relative gradient norm (and the head),
fewer when a GPU budget is set and k do not fit (Lee et al.'s Auto-RGN picks blocks the same way)."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator

import numpy as np
from torch import nn

from freezegui.core.decide.ladder import FitError, FitProblem
from freezegui.core.editing.presets import block_list, head_index, subtree_mask
from freezegui.core.plan.options import PlanOptions
from freezegui.core.plan.planner import plan_tree
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.structure.counting import format_bytes
from freezegui.core.structure.tree import ModuleTree


def ranked_blocks(tree: ModuleTree, rgn: np.ndarray) -> list[int]:
    """The main block list's blocks (module indices), highest RGN first (no value: last)."""
    at = block_list(tree)
    if at is None:
        raise FitError(FitProblem.NO_CANDIDATES, "this model has no repeated block list to pick blocks from")
    blocks = [c.index for c in tree.nodes[at].children]
    return sorted(blocks, key=lambda i: -rgn[i] if math.isfinite(rgn[i]) else math.inf)


def top_blocks_mask(tree: ModuleTree, rgn: np.ndarray, k: int) -> np.ndarray:
    """Tensors of the ``k`` highest-RGN blocks and of the head (where the model has one)."""
    chosen = ranked_blocks(tree, rgn)[: max(0, k)]
    head = head_index(tree)
    return subtree_mask(tree, chosen + ([head] if head is not None else []))


def suggest_steps(
    model: nn.Module,
    tree: ModuleTree,
    rgn: np.ndarray,
    k: int,
    *,
    budget_bytes: float | None = None,
    options: PlanOptions | None = None,
    rules: RuleSet | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Generator[int, None, tuple[int, np.ndarray]]:
    """(blocks kept, mask): the top ``k`` blocks, or with ``budget_bytes`` the most of them (k, k-1,
    ...) whose planned peak fits; yields each k it has to drop. Raises :class:`FitError` when not
    even one block fits."""
    k = min(k, len(ranked_blocks(tree, rgn)))
    if budget_bytes is None:
        return k, top_blocks_mask(tree, rgn, k)
    rs = rules or RuleSet(default="train")
    peak, full = 0, None
    for n in range(k, 0, -1):
        mask = top_blocks_mask(tree, rgn, n)
        plan = plan_tree(model, tree, mask, rs, options or PlanOptions(), full_finetune=full, cancel=cancel)
        full = plan.full_finetune
        if plan.fits(budget_bytes):
            return n, mask
        peak = plan.per_rank.peak_bytes
        yield n
    raise FitError(
        FitProblem.NOTHING_FITS,
        f"even the top block needs {format_bytes(peak)} at peak, more than the {format_bytes(budget_bytes)} budget",
    )
