"""LoRA adapters in a plan: their training state, and the adapters themselves in the meta step.

A rule file's ``lora:`` section adds a rank-``r`` adapter to each target (Linear ``in -> out``:
A ``r x in``, B ``out x r``; PEFT's shapes, see :func:`freezegui.core.rules.lora.adapter_numel`). The
adapter tensors train (weights, gradients and optimizer state, in the base weight's dtype as PEFT
casts them); the target's own weights stay frozen unless a rule trains them. In the meta step each
adapted module gets meta ``A``/``B`` parameters and a forward hook adding ``B(A(dropout(x))) * alpha/r``
to its output, the computation PEFT's LoRA layers run, so saved activations and FLOPs include the
adapters. DoRA's magnitude is counted in the state; its weight-norm computation is not in the step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from freezegui.core.plan.options import MOMENTS, PlanOptions
from freezegui.core.plan.result import Cost
from freezegui.core.plan.state import element_sizes, optimizer_step_bytes
from freezegui.core.rules.lora import AdapterKind, LoraSettings, adapter_kind, adapter_sizes
from freezegui.core.structure.tree import ModuleTree

_FP32 = 4


def adapter_state(
    tree: ModuleTree, adapted: np.ndarray, settings: LoraSettings, options: PlanOptions
) -> Cost:
    """Weights, gradients and optimizer state of the adapters on the ``adapted`` modules."""
    sizes = adapter_sizes(tree, settings)
    elem = element_sizes(tree, options)
    counts: list[int] = []
    dtypes: list[int] = []
    for i in np.flatnonzero(adapted).tolist():
        weight = tree.direct_param_indices(i)
        dtypes.append(int(elem[weight[0]]) if len(weight) else _FP32)  # the base weight's dtype
        counts.append(int(sizes[i]))
    per = np.asarray(counts, dtype=np.int64)
    size = np.asarray(dtypes, dtype=np.int64)
    numel, nbytes = int(per.sum()), int((per * size).sum())
    moments = MOMENTS[options.optimizer]
    if options.amp:
        optimizer = moments * numel * _FP32 + (numel * _FP32 if nbytes < numel * _FP32 else 0)
    else:
        optimizer = moments * nbytes
    return Cost(
        weights_bytes=nbytes,
        gradients_bytes=nbytes,
        optimizer_bytes=optimizer,
        temporary_bytes=optimizer_step_bytes(per, size, options),
    )


def add_meta_adapters(modules: list[nn.Module], adapted: np.ndarray, settings: LoraSettings) -> None:
    """Give each adapted module (of a meta copy) meta LoRA parameters and the hook that runs them."""
    scaling = settings.lora_alpha / settings.r
    for i in np.flatnonzero(adapted).tolist():
        module = modules[i]
        kind = adapter_kind(module)
        shapes = _shapes(module, kind, settings.r)
        if shapes is None:
            continue
        weight = getattr(module, "weight", None)
        dtype = weight.dtype if isinstance(weight, torch.Tensor) else None
        for name, shape in zip(("_plan_lora_A", "_plan_lora_B"), shapes):
            module.register_parameter(name, nn.Parameter(torch.empty(shape, device="meta", dtype=dtype)))
        module.register_forward_hook(_hook(kind, scaling, float(settings.dropout)))


def _shapes(module: Any, kind: AdapterKind | None, r: int) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    if kind is AdapterKind.LINEAR:
        return (r, module.in_features), (module.out_features, r)
    if kind is AdapterKind.HF_CONV1D:
        fan_in, fan_out = (int(n) for n in module.weight.shape)
        return (r, fan_in), (fan_out, r)
    if kind is AdapterKind.EMBEDDING:
        return (r, module.num_embeddings), (module.embedding_dim, r)
    if kind in (AdapterKind.CONV1D, AdapterKind.CONV2D, AdapterKind.CONV3D):
        ones = (1,) * len(module.kernel_size)
        return (r, module.in_channels, *module.kernel_size), (
            module.out_channels,
            r // module.groups,
            *ones,
        )
    return None


def _hook(kind: AdapterKind | None, scaling: float, dropout: float) -> Any:
    def hook(module: Any, args: tuple[Any, ...], out: torch.Tensor) -> torch.Tensor:
        x = args[0]
        a: torch.Tensor = module._plan_lora_A
        b: torch.Tensor = module._plan_lora_B
        if kind is AdapterKind.EMBEDDING:
            e = module
            after_a = F.embedding(
                x, a.T, e.padding_idx, e.max_norm, e.norm_type, e.scale_grad_by_freq, e.sparse
            )
            return out + (after_a @ b.T) * scaling
        x = F.dropout(x, dropout, module.training) if dropout else x
        if kind in (AdapterKind.LINEAR, AdapterKind.HF_CONV1D):
            return out + F.linear(F.linear(x, a), b) * scaling
        conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[a.dim() - 2]
        mid = conv(x, a, None, module.stride, module.padding, module.dilation)
        lora: torch.Tensor = conv(mid, b, None, 1, 0, 1, module.groups)
        return out + lora * scaling

    return hook
