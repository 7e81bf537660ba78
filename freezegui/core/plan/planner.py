"""``freezegui.plan``: what training a selection costs, measured by one step on the meta device.

The training state (weights, gradients, optimizer) is exact from the module tree. Activations and
FLOPs come from a real forward and backward of a meta copy of the model with the selection's
``requires_grad`` flags, on the batch the training engine would build: autograd runs, shapes
propagate, nothing is allocated. A model whose forward cannot run on meta gets the state part and
a message saying why.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from freezegui.core.editing.selection import Selection
from freezegui.core.errors import FreezeguiError
from freezegui.core.plan.adapters import adapter_state, add_meta_adapters
from freezegui.core.plan.measure import SavedTensors, StepCost, measure_step
from freezegui.core.plan.meta import _line, enable_checkpointing, meta_copy
from freezegui.core.plan.modules import ModuleStats
from freezegui.core.plan.options import PlanCancelled, PlanError, PlanOptions, Shard
from freezegui.core.plan.result import Cost, Plan
from freezegui.core.plan.state import state_cost
from freezegui.core.rules.lora import bias_mask, counts_with_adapters
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.runtime.apply import apply_norm_policy, as_ruleset, evaluate_rules
from freezegui.core.structure.counting import Counts
from freezegui.core.structure.tree import ModuleTree, build_tree

RulesArg = RuleSet | str | os.PathLike[str] | dict[str, Any] | None
DEFAULT_SEQ_LEN = 32  # the training engine's default


def plan(
    model: nn.Module,
    rules: RulesArg = None,
    *,
    selection: Selection | np.ndarray | None = None,
    batch_size: int = 8,
    seq_len: int | None = None,
    image_size: int | None = None,
    dtype: str | None = None,
    amp: bool = False,
    optimizer: str = "adamw",
    gradient_checkpointing: bool = False,
    gpus: int = 1,
    shard: str = "none",
    full_finetune: Plan | None = None,
    per_module: bool = False,
) -> Plan:
    """Plan one training step of ``model`` with the selection ``rules`` (or ``selection``) makes.

    ``selection`` is an app :class:`Selection` or a boolean mask over the tree's unique tensors (method 1).
    With neither, the model's own ``requires_grad`` flags are the selection. ``full_finetune`` reuses
    a full fine-tuning plan made with the same options (the app keeps one per setting). The model is
    not changed. Raises :class:`PlanError` for settings no plan can use.
    ``per_module``: also fill ``Plan.modules`` (every module's output shape, FLOPs and saved bytes,
    from the same step).
    """
    options = PlanOptions.make(
        batch_size=batch_size,
        seq_len=seq_len,
        image_size=image_size,
        dtype=dtype,
        amp=amp,
        optimizer=optimizer,
        gradient_checkpointing=gradient_checkpointing,
        gpus=gpus,
        shard=shard,
    )
    tree, rs, mask = _selection_of(model, rules, selection)
    return plan_tree(model, tree, mask, rs, options, full_finetune=full_finetune, per_module=per_module)


def plan_tree(
    model: nn.Module,
    tree: ModuleTree,
    mask: np.ndarray,
    rules: RuleSet,
    options: PlanOptions,
    *,
    full_finetune: Plan | None = None,
    adapted: np.ndarray | None = None,
    cancel: Callable[[], bool] | None = None,
    per_module: bool = False,
) -> Plan:
    """:func:`plan` for a selection already evaluated on ``tree`` (the app's document).

    ``cancel``: asked before every op of the meta step; True raises :class:`PlanCancelled`.

    ``rules`` gives the method (``lr_zero`` keeps every gradient), the BatchNorm policy and the LoRA
    settings; ``adapted`` (per module) the modules with adapters, else ``rules.lora``'s targets.
    """
    everything = np.ones(len(tree.tensors), dtype=bool)
    if adapted is None and rules.lora is not None:
        adapted = rules.lora.adapted(tree)
    if rules.lora is not None and adapted is not None:  # PEFT's `bias` setting trains biases too
        mask = mask | bias_mask(tree, adapted, rules.lora.settings.bias)
    if (
        full_finetune is None
        or full_finetune.options != options
        or (per_module and not full_finetune.modules)
    ):
        full_rules = RuleSet(default="train", batchnorm=rules.batchnorm)
        full_finetune = _plan_one(
            model, tree, full_rules, everything, everything, options, cancel=cancel, per_module=per_module
        )
    grads = everything if rules.method == "lr_zero" else mask  # lr_zero: every tensor keeps requires_grad
    if grads.all() and (adapted is None or not adapted.any()):
        mine = _with_counts(full_finetune, tree, mask)
    else:
        mine = _plan_one(
            model, tree, rules, mask, grads, options, adapted, cancel=cancel, per_module=per_module
        )
    mine.full_finetune = full_finetune
    return mine


def _selection_of(
    model: nn.Module, rules: RulesArg, selection: Selection | np.ndarray | None
) -> tuple[ModuleTree, RuleSet, np.ndarray]:
    if rules is not None and selection is not None:
        raise TypeError("give rules or selection, not both")
    if rules is not None:
        tree, rs, report = evaluate_rules(model, as_ruleset(rules))
        assert report.trainable_mask is not None
        return tree, rs, report.trainable_mask
    if isinstance(selection, Selection):
        return selection.tree, RuleSet(default="train"), selection.trainable.copy()
    tree = build_tree(model)
    mask = tree.requires_grad.copy() if selection is None else np.asarray(selection, dtype=bool).copy()
    if mask.shape != (len(tree.tensors),):
        raise PlanError(f"the selection has {mask.size} entries; the model has {len(tree.tensors)} tensors")
    return tree, RuleSet(default="train"), mask


def _with_counts(template: Plan, tree: ModuleTree, mask: np.ndarray) -> Plan:
    counts = Counts(trainable=int(tree.numel[mask].sum()), total=tree.total_params)
    return Plan(
        template.cost,
        template.per_rank,
        counts,
        template.options,
        template.step_ran,
        template.message,
        modules=template.modules,
    )


def _plan_one(
    model: nn.Module,
    tree: ModuleTree,
    rs: RuleSet,
    mask: np.ndarray,
    grads: np.ndarray,
    options: PlanOptions,
    adapted: np.ndarray | None = None,
    *,
    cancel: Callable[[], bool] | None = None,
    per_module: bool = False,
) -> Plan:
    state = state_cost(tree, grads, grads, options)
    counts = Counts(trainable=int(tree.numel[mask].sum()), total=tree.total_params)
    if adapted is None or rs.lora is None:
        adapted = np.zeros(len(tree.modules), dtype=bool)
    if rs.lora is not None and adapted.any():
        state = _plus(state, adapter_state(tree, adapted, rs.lora.settings, options))
        counts = counts_with_adapters(tree, mask, adapted, rs.lora.settings)
    step: StepCost | None = None
    message = ""
    stats: ModuleStats | None = None
    if grads.any() or adapted.any():
        try:
            step, stats = _meta_step(model, tree, rs, mask, grads, options, adapted, cancel, per_module)
        except FreezeguiError as exc:
            message = f"{exc}; only weights, gradients and optimizer state are planned"
    else:  # nothing trains: no backward, nothing saved
        step = StepCost(0, 0, 0, 0)
    total, rank = _layout(state, step, options)
    modules = stats.costs(tree) if stats is not None else None
    return Plan(total, rank, counts, options, step_ran=step is not None, message=message, modules=modules)


def _compute_dtype(options: PlanOptions) -> torch.dtype | None:
    """The dtype activations are kept in: the chosen one, or bf16 under mixed precision."""
    dtype = options.torch_dtype
    if options.amp and dtype in (None, torch.float32):
        return torch.bfloat16
    return dtype


def _meta_step(
    model: nn.Module,
    tree: ModuleTree,
    rs: RuleSet,
    mask: np.ndarray,
    grads: np.ndarray,
    options: PlanOptions,
    adapted: np.ndarray,
    cancel: Callable[[], bool] | None = None,
    per_module: bool = False,
) -> tuple[StepCost, ModuleStats | None]:
    from freezegui.core.data.synthetic import describe

    copy = meta_copy(model, _compute_dtype(options), cancel)
    copy_tree = build_tree(copy)
    for t, flag in zip(copy_tree.tensors, grads.tolist()):
        t.requires_grad_(flag)
    apply_norm_policy(copy, copy_tree, mask, rs)
    if rs.lora is not None and adapted.any():
        add_meta_adapters(copy_tree.modules, adapted, rs.lora.settings)
    saved = SavedTensors(copy)
    if options.gradient_checkpointing:
        enable_checkpointing(copy, saved)
    spec = describe(
        copy,
        batch_size=options.batch_size,
        seq_len=options.seq_len or DEFAULT_SEQ_LEN,
        image_size=options.image_size,
        device=torch.device("meta"),
    )
    batch = spec.meta()  # the batch's own meta tensors: no pool, nothing allocated
    copy.train()
    stats = ModuleStats(copy, copy_tree) if per_module else None  # after the adapters: theirs run inside
    try:
        return measure_step(copy, lambda: spec.loss(copy, batch), saved, cancel=cancel, stats=stats), stats
    except (FreezeguiError, PlanCancelled):
        raise
    except Exception as exc:
        raise FreezeguiError(
            f"the forward pass of {type(model).__name__} cannot run on the meta device ({_line(exc)})"
        ) from None


def _plus(a: Cost, b: Cost) -> Cost:
    return Cost(
        weights_bytes=a.weights_bytes + b.weights_bytes,
        gradients_bytes=a.gradients_bytes + b.gradients_bytes,
        optimizer_bytes=a.optimizer_bytes + b.optimizer_bytes,
        temporary_bytes=a.temporary_bytes + b.temporary_bytes,
    )


def _layout(state: Cost, step: StepCost | None, options: PlanOptions) -> tuple[Cost, Cost]:
    """(whole job, one rank): FSDP splits the training state across ranks; activations are per rank.

    The temporary is the larger of the step's (beyond its activations) and the optimizer step's,
    which runs after backward has freed the activations.
    """
    n = options.gpus
    step = step or StepCost(0, 0, 0, 0)
    split = options.shard == Shard.FSDP
    optimizer_temp = math.ceil(state.temporary_bytes / n) if split else state.temporary_bytes
    temporary = max(step.temporary_bytes, optimizer_temp - step.activations_bytes)
    rank = Cost(
        weights_bytes=math.ceil(state.weights_bytes / n) if split else state.weights_bytes,
        gradients_bytes=math.ceil(state.gradients_bytes / n) if split else state.gradients_bytes,
        optimizer_bytes=math.ceil(state.optimizer_bytes / n) if split else state.optimizer_bytes,
        activations_bytes=step.activations_bytes,
        temporary_bytes=temporary,
        forward_flops=step.forward_flops,
        backward_flops=step.backward_flops,
    )
    keep = 1 if split else n
    total = Cost(
        weights_bytes=state.weights_bytes * keep,
        gradients_bytes=state.gradients_bytes * keep,
        optimizer_bytes=state.optimizer_bytes * keep,
        activations_bytes=step.activations_bytes * n,
        temporary_bytes=temporary * n,
        forward_flops=step.forward_flops * n,
        backward_flops=step.backward_flops * n,
    )
    return total, rank
