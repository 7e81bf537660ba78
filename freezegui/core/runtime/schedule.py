"""Gradual unfreezing driven by a training loop: ``schedule.step(global_step, epoch)`` before each step.

The optimizer is built once, at the start, from :func:`freezegui.param_groups`: tensors that unfreeze
later are already in it, in groups at lr 0 and weight decay 0. When their stage comes the schedule
gives those groups their learning rate (and a scheduler's base rates too), turns ``requires_grad`` on
under method ``requires_grad`` and releases norm statistics. While a group is at scale 0 a step
pre-hook drops its gradients, so the optimizer never creates state for it: AdamW with lr 0 would
otherwise still move its moments (and its step count) whenever gradients flow, as under ``lr_zero``,
and the tensor would unfreeze with a stale history. This is what a callback that only flips
``requires_grad`` cannot do: the Hugging Face Trainer builds its optimizer from the tensors that
required gradients at the start, so such a callback unfreezes tensors the optimizer never sees.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from freezegui.core.errors import FreezeguiWarning, RuleError
from freezegui.core.lr.evaluate import stage_problems
from freezegui.core.lr.groups import GroupPlan, NoDecay, plan_groups, stage_states
from freezegui.core.models.wrappers import unwrap
from freezegui.core.rules.keys import Stage
from freezegui.core.rules.ruleset import Method, RuleSet
from freezegui.core.runtime.apply import RulesLike, apply_norm_policy, as_ruleset, bare_model
from freezegui.core.structure.norms import has_running_stats
from freezegui.core.structure.tree import build_tree

_DDP_NEEDS_LR_ZERO = (
    "a schedule under DistributedDataParallel needs `method: lr_zero`: DDP syncs only the tensors that "
    "required grad when it wrapped the model, so a stage that flips requires_grad trains them unsynced "
    "on each rank (or hangs waiting for gradients)"
)


@dataclass(frozen=True)
class StageChange:
    """A stage that :meth:`Schedule.step` applied, and the tensors it unfroze or froze."""

    index: int  # 1 for the first stage of the file
    stage: Stage
    global_step: int
    unfrozen: np.ndarray  # bool per unique parameter
    frozen: np.ndarray


def check_data_parallel(rules: RuleSet, *models: object, data_parallel_ranks: int = 1) -> None:
    """A schedule that flips ``requires_grad`` cannot run under DDP: refuse it when one of ``models``
    is wrapped in DistributedDataParallel or a trainer says it runs ``data_parallel_ranks`` > 1, warn
    when a process group of several ranks is running (the wrapper may come later). Under ``lr_zero``
    every tensor requires grad from the start, DDP syncs them all, and a stage only changes learning
    rates: that works."""
    if not rules.schedule or rules.method != Method.REQUIRES_GRAD:
        return
    if data_parallel_ranks > 1:
        raise RuleError(f"{data_parallel_ranks} ranks: {_DDP_NEEDS_LR_ZERO}", source=rules.source)
    for model in models:
        layers = unwrap(model).layers if isinstance(model, nn.Module) else []
        if any(layer.startswith("DistributedDataParallel") for layer in layers):
            raise RuleError(_DDP_NEEDS_LR_ZERO, source=rules.source)
    world = _world_size()
    if world > 1:
        warnings.warn(f"{world} ranks are training: {_DDP_NEEDS_LR_ZERO}", FreezeguiWarning, stacklevel=3)


def _is_timm_scheduler(scheduler: Any) -> bool:
    """timm's schedulers (``timm.scheduler.Scheduler``) keep ``base_values`` and read ``lr_scale``."""
    return hasattr(scheduler, "base_values") and hasattr(scheduler, "update_groups")


def _world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class Schedule:
    """Applies a rule file's ``schedule:`` to ``model`` and an ``optimizer`` built from its param groups.

    ``lr`` is the base learning rate (inferred from the groups when omitted); ``weight_decay`` what
    decayed groups get once they train (default: a training decayed group's, else the optimizer's).
    ``lr_scheduler``: a torch scheduler whose base rates must follow (the HF Trainer's, say).
    """

    def __init__(
        self,
        model: nn.Module,
        rules: RulesLike,
        optimizer: torch.optim.Optimizer,
        *,
        lr: float | None = None,
        weight_decay: float | None = None,
        no_decay: NoDecay = None,
        lr_scheduler: Any = None,
    ) -> None:
        self.rules = as_ruleset(rules)
        check_data_parallel(self.rules, model)
        self.model = model = bare_model(model)  # a DDP-wrapped model: the rules use the bare names
        self.tree = tree = build_tree(model)
        problems = stage_problems(tree, self.rules)
        if problems:
            raise RuleError("; ".join(problems), source=self.rules.source)
        self.states = stage_states(tree, self.rules)
        self.plans = plan_groups(tree, self.rules, no_decay=no_decay)
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self._check_groups(optimizer, self.plans)
        self._timm = _is_timm_scheduler(lr_scheduler)
        self.base_lr = lr if lr is not None else self._infer_lr()
        if self._timm:
            self._check_timm_groups(lr_scheduler)
        self.weight_decay = weight_decay if weight_decay is not None else self._infer_weight_decay()
        self.current = 0  # stages applied so far
        self.changes: list[StageChange] = []
        inner = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps the torch optimizer
        self._hook = inner.register_step_pre_hook(self._drop_frozen_grads)

    # ------------------------------------------------------------------------------------ reading
    @property
    def stages(self) -> list[Stage]:
        return self.rules.schedule

    # ------------------------------------------------------------------------------------ driving
    def step(self, global_step: int, epoch: int = 0) -> list[StageChange]:
        """Apply every stage now due (in file order); call before each optimizer step."""
        applied = []
        while self.current < len(self.stages) and self.stages[self.current].due(global_step, epoch):
            applied.append(self._apply(self.current + 1, global_step))
        return applied

    def close(self) -> None:
        """Remove the optimizer hook (the schedule stops managing gradients)."""
        self._hook.remove()

    def _apply(self, k: int, global_step: int) -> StageChange:
        before, _ = self.states[k - 1]
        mask, _ = self.states[k]
        rules_k = self.rules.at_stage(k)
        if rules_k.method == "requires_grad":
            for tensor, flag in zip(self.tree.tensors, mask.tolist()):
                if tensor.requires_grad != flag:
                    tensor.requires_grad_(flag)
        frozen_norms = set(apply_norm_policy(self.model, self.tree, mask, rules_k))
        for path, module in self.model.named_modules():
            if has_running_stats(module) and path not in frozen_norms:
                module.training = self.model.training  # released: follows train()/eval() again
        factor = self._current_factor()
        base_lrs = getattr(self.lr_scheduler, "base_lrs", None)
        for i, (plan, group) in enumerate(zip(self.plans, self._groups)):
            scale = plan.scales[k]
            group["lr_scale"] = scale
            group["lr"] = self.base_lr * scale * factor
            if "initial_lr" in group and not self._timm:  # timm's start from the base: they stay
                group["initial_lr"] = self.base_lr * scale
            if base_lrs is not None:
                base_lrs[self._index[i]] = self.base_lr * scale
            group["weight_decay"] = self.weight_decay if scale and plan.decay else 0.0
        self.current = k
        change = StageChange(k, self.stages[k - 1], global_step, mask & ~before, before & ~mask)
        self.changes.append(change)
        return change

    def _drop_frozen_grads(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        for group in self._groups:
            if group.get("lr_scale", 1.0) == 0:
                for p in group["params"]:
                    p.grad = None

    # ------------------------------------------------------------------------------------ setup
    @property
    def _groups(self) -> list[dict[str, Any]]:
        """The optimizer's groups in plan order, looked up by name each time: loading a state dict
        (accelerate does when it wraps the optimizer) replaces the group dicts."""
        groups = self.optimizer.param_groups
        return [groups[i] for i in self._index]

    def _check_groups(self, optimizer: Any, plans: list[GroupPlan]) -> None:
        by_name = {g.get("name"): i for i, g in enumerate(optimizer.param_groups)}
        missing = [p.name for p in plans if p.name not in by_name]
        if missing:
            raise RuleError(
                f"the optimizer has no param group named {missing[0]!r}: build it from "
                f"freezegui.param_groups(model, rules, lr=...) with the same rules"
            )
        self._index = [by_name[p.name] for p in plans]
        for plan, group in zip(plans, self._groups):
            if {id(p) for p in group["params"]} != {id(self.tree.tensors[j]) for j in plan.indices}:
                raise RuleError(
                    f"the optimizer's group {plan.name!r} holds other tensors than these rules give"
                )

    def _infer_lr(self) -> float:
        for plan, group in zip(self.plans, self._groups):
            scale = plan.scales[0]
            if self._timm and "initial_lr" in group:
                return float(group["initial_lr"])  # param_groups(..., timm_scheduler=True): unscaled
            if scale > 0:
                return float(group.get("initial_lr", group["lr"])) / scale
        raise RuleError("every group starts frozen: pass the base learning rate, Schedule(..., lr=...)")

    def _check_timm_groups(self, scheduler: Any) -> None:
        """A timm scheduler multiplies each group's starting value by its ``lr_scale``: every group
        must start from the unscaled base, or scales apply twice and later stages start from 0."""
        starts = [float(scheduler.base_values[i]) for i in self._index]
        if any(abs(v - self.base_lr) > 1e-12 * max(1.0, self.base_lr) for v in starts):
            raise RuleError(
                "a timm scheduler multiplies each group's lr by its lr_scale: build the groups with "
                "freezegui.param_groups(model, rules, lr=..., timm_scheduler=True)"
            )

    def _infer_weight_decay(self) -> float:
        for plan, group in zip(self.plans, self._groups):
            if plan.scales[0] > 0 and plan.decay and "weight_decay" in group:
                return float(group["weight_decay"])
        return float(self.optimizer.defaults.get("weight_decay", 0.0))

    def _current_factor(self) -> float:
        """Where a learning-rate scheduler has taken the rates: current lr / starting lr of a training group."""
        for plan, group in zip(self.plans, self._groups):
            start = self.base_lr * plan.scales[self.current]
            if start > 0:
                return float(group["lr"]) / start
        return 1.0
