"""Optimizer parameter groups for scaled learning rates, weight decay and schedules.

One group per distinct (scale in every stage, weight decay): a group's members never change over a
schedule, only its ``lr``, ``lr_scale`` and ``weight_decay`` do, so an optimizer built once at the
start serves every stage, and a scheduler or a checkpoint resume sees the same named groups.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from freezegui.core.errors import RuleError
from freezegui.core.lr.evaluate import evaluate_stages
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.structure.tree import ModuleTree

NoDecay = Literal["bias_and_norm"] | None
NO_DECAY_CHOICES: tuple[str, ...] = ("bias_and_norm",)


@dataclass(frozen=True)
class GroupPlan:
    """The members of one group (unique parameter indices) and their scale in each stage."""

    name: str
    indices: tuple[int, ...]
    scales: tuple[float, ...]  # stage 0 (before any stage), then after each stage
    decay: bool  # weight decay applies while it trains


def stage_states(tree: ModuleTree, rules: RuleSet) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(trainable, scales)`` per stage: 0 before any stage, then after each one."""
    return [(s.trainable, s.scales) for s in evaluate_stages(tree, rules)]


def no_decay_mask(tree: ModuleTree, no_decay: NoDecay) -> np.ndarray:
    """Tensors exempt from weight decay: biases and normalisation-layer parameters (``bias_and_norm``),
    and what the model itself declares in ``no_weight_decay()`` (timm: pos_embed, cls/reg tokens),
    matched as timm matches it (``fnmatch`` on the parameter name)."""
    mask = np.zeros(len(tree.params), dtype=bool)
    if no_decay is None:
        return mask
    if no_decay not in NO_DECAY_CHOICES:
        raise RuleError(f"no_decay must be one of {', '.join(NO_DECAY_CHOICES)} or None; got {no_decay!r}")
    from freezegui.core.structure.norms import is_norm

    norm_module = np.fromiter((is_norm(m) for m in tree.modules), dtype=bool, count=len(tree.modules))
    is_bias = np.fromiter((n == "bias" or n.endswith("_bias") for n in tree.occ_name), dtype=bool)
    hit = norm_module[tree.occ_node] | is_bias if len(tree.occ_name) else np.zeros(0, dtype=bool)
    mask[tree.occ_param[hit]] = True
    mask |= declared_no_decay(tree)
    return mask


def declared_no_decay(tree: ModuleTree) -> np.ndarray:
    """The tensors a model's ``no_weight_decay()`` names (timm's convention; empty without one)."""
    mask = np.zeros(len(tree.params), dtype=bool)
    declared = getattr(tree.modules[0], "no_weight_decay", None)
    if not callable(declared):
        return mask
    try:
        patterns = [str(p) for p in declared()]
    except (TypeError, AttributeError, ValueError):  # a broken declaration declares nothing
        return mask
    for info in tree.params:
        if any(fnmatch.fnmatch(n, p) for n in info.names for p in patterns):
            mask[info.index] = True
    return mask


def plan_groups(tree: ModuleTree, rules: RuleSet, *, no_decay: NoDecay = None) -> list[GroupPlan]:
    """The groups, in order of their first tensor in the model."""
    states = stage_states(tree, rules)
    per_stage = np.stack([s for _, s in states], axis=1)  # (params, stages)
    exempt = no_decay_mask(tree, no_decay)
    keys: dict[tuple[tuple[float, ...], bool], list[int]] = {}
    for j, (row, free) in enumerate(zip(per_stage.tolist(), exempt.tolist())):
        keys.setdefault((tuple(row), not free and any(row)), []).append(j)  # never trains: one group
    split = no_decay is not None
    names: set[str] = set()
    plans = []
    for (scales, decay), members in keys.items():
        name = _name(scales, decay, split)
        while name in names:
            name += "'"
        names.add(name)
        plans.append(GroupPlan(name, tuple(members), scales, decay))
    return plans


def _name(scales: tuple[float, ...], decay: bool, split: bool) -> str:
    if len(set(scales)) == 1:
        s = scales[0]
        base = "frozen" if s == 0 else "trainable" if s == 1 else f"lr_scale {s:.12g}"
    else:
        base = "stages " + " > ".join(f"{s:.12g}" for s in scales)
    return base + (" no_decay" if split and not decay and any(scales) else "")


def group_dict(
    tree: ModuleTree,
    plan: GroupPlan,
    stage: int,
    *,
    lr: float,
    weight_decay: float | None,
    opt_kwargs: dict[str, Any],
) -> dict[str, Any]:
    """One optimizer group as it starts in ``stage``: frozen ones at lr 0 and weight decay 0."""
    scale = plan.scales[stage]
    group: dict[str, Any] = {"params": [tree.tensors[j] for j in plan.indices], **opt_kwargs}
    group["lr"] = lr * scale
    group["lr_scale"] = scale
    if scale == 0 or not plan.decay:
        group["weight_decay"] = 0.0
    elif weight_decay is not None:
        group["weight_decay"] = weight_decay
    group["name"] = plan.name
    return group
