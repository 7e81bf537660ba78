"""The selections ``freezegui fit`` chooses between, smallest first: a ladder the planner climbs.

Full-weight ladder: head only, the last 1..L blocks with everything after them (the "Train last N
blocks" preset), then the whole model. LoRA ladder: adapters on the attention projections or on all
linear layers at rank 1, 2, 4, ..., ordered by what they train. A start selection (``--rules``) is
kept trained in every rung.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from freezegui.core.editing.presets import (
    all_linear_except_head_mask,
    attention_projections_mask,
    block_groups,
    block_info,
    block_list,
    subtree_mask,
    train_last_blocks_mask,
)
from freezegui.core.errors import FreezeguiError
from freezegui.core.rules.lora import LoraSettings, adapter_sizes
from freezegui.core.strenum import StrEnum
from freezegui.core.structure.tree import ModuleTree

LORA_RANKS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class FitProblem(StrEnum):
    """Why a fit has no answer (the CLI and the app say the error's message; code reads this)."""

    NO_CANDIDATES = "no_candidates"  # no block list (and no LoRA targets): nothing to climb
    WEIGHTS_EXCEED_BUDGET = "weights_exceed_budget"  # the frozen weights alone are over the budget
    NOTHING_FITS = "nothing_fits"  # the smallest candidate is over the budget


class FitError(FreezeguiError):
    """A fit without an answer; ``kind`` says which (a :class:`FitProblem`)."""

    def __init__(self, kind: FitProblem, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(eq=False)
class Candidate:
    """One rung: the tensors that train fully (``mask``) and, for LoRA, the adapted modules."""

    label: str
    mask: np.ndarray
    last_blocks: int | None = None  # None: the whole model (or a LoRA rung)
    targets: str | None = None  # LoRA: "attention" or "all-linear"
    lora: LoraSettings | None = None
    adapted: np.ndarray | None = field(default=None, repr=False)

    def choice(self, gradient_checkpointing: bool) -> dict[str, Any]:
        """The JSON ``choice``: what this rung trains, and whether checkpointing is on."""
        out: dict[str, Any]
        if self.lora is not None:
            out = {"kind": "lora", "targets": self.targets, "r": self.lora.r}
        elif self.last_blocks is None:
            out = {"kind": "full"}
        else:
            out = {"kind": "last_blocks", "last_blocks": self.last_blocks}
        out["gradient_checkpointing"] = gradient_checkpointing
        return out

    def describe(self, gradient_checkpointing: bool) -> str:
        return self.label + (" + gradient checkpointing" if gradient_checkpointing else "")


def block_ladder(tree: ModuleTree, start: np.ndarray | None = None) -> list[Candidate]:
    """Head only, last 1..L blocks (+ what follows them), whole model; each with ``start`` kept."""
    info = block_info(tree)
    if info is None:
        raise FitError(
            FitProblem.NO_CANDIDATES,
            f"{type(tree.modules[0]).__name__} has no repeated block list to train the last blocks of; "
            "try --lora",
        )
    keep = np.zeros(len(tree.params), dtype=bool) if start is None else np.asarray(start, dtype=bool)
    n = info[1]
    rungs = [Candidate("head only", train_last_blocks_mask(tree, 1) & ~_last_block(tree), last_blocks=0)]
    for k in range(1, n + 1):
        label = f"last {k} block{'s' if k > 1 else ''} + head"
        rungs.append(Candidate(label, train_last_blocks_mask(tree, k), last_blocks=k))
    rungs.append(Candidate("the whole model", np.ones(len(tree.params), dtype=bool)))
    for rung in rungs:
        rung.mask = rung.mask | keep
    return _distinct(rungs)


def _last_block(tree: ModuleTree) -> np.ndarray:
    groups = block_groups(tree)
    if groups is not None:
        return groups[-1]
    at = block_list(tree)
    assert at is not None  # block_info found one
    return subtree_mask(tree, [tree.nodes[at].children[-1].index])


def lora_ladder(
    tree: ModuleTree, settings: LoraSettings | None = None, start: np.ndarray | None = None
) -> list[Candidate]:
    """Adapters on the attention projections or on all linear layers (PEFT's ``all-linear``) at
    each rank of :data:`LORA_RANKS`, ordered by the parameters they train. ``settings`` give
    everything but the rank (alpha keeps its ratio to r); ``start``'s tensors stay trained except
    those of adapted modules (a module trains fully or is adapted, never both)."""
    base = settings or LoraSettings(r=8, lora_alpha=16)
    keep = np.zeros(len(tree.params), dtype=bool) if start is None else np.asarray(start, dtype=bool)
    rungs: list[tuple[int, int, Candidate]] = []
    for order, (name, adapted) in enumerate(
        (("attention", attention_projections_mask(tree)), ("all-linear", all_linear_except_head_mask(tree)))
    ):
        if not adapted.any():
            continue
        mask = keep.copy()
        for i in np.flatnonzero(adapted).tolist():
            mask[tree.direct_param_indices(i)] = False
        for r in LORA_RANKS:
            lora = dataclasses.replace(base, r=r, lora_alpha=float(base.lora_alpha) * r / base.r)
            size = int(adapter_sizes(tree, lora)[adapted].sum()) + int(tree.numel[mask].sum())
            label = f"LoRA r={r} on {'the attention projections' if order == 0 else 'all linear layers'}"
            rungs.append((size, order, Candidate(label, mask, targets=name, lora=lora, adapted=adapted)))
    if not rungs:
        raise FitError(FitProblem.NO_CANDIDATES, "this model has no linear layers for LoRA to adapt")
    rungs.sort(key=lambda item: (item[0], item[1]))
    return [c for _, _, c in rungs]


def _distinct(rungs: list[Candidate]) -> list[Candidate]:
    """Drop empty rungs and rungs that train exactly what the one before does."""
    out: list[Candidate] = []
    for rung in rungs:
        if rung.mask.any() and not (out and np.array_equal(out[-1].mask, rung.mask)):
            out.append(rung)
    return out
