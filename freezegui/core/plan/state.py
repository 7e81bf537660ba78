"""Weights, gradients and optimizer state of a selection, exact from the module tree (tied tensors once)."""

from __future__ import annotations

import numpy as np

from freezegui.core.plan.options import MOMENTS, Optimizer, PlanOptions
from freezegui.core.plan.result import Cost
from freezegui.core.structure.tree import ModuleTree

_FP32 = 4


def element_sizes(tree: ModuleTree, options: PlanOptions) -> np.ndarray:
    """Bytes per element of each unique tensor: the chosen dtype for floating tensors, else its own."""
    sizes = tree.element_size.copy()
    dtype = options.torch_dtype
    if dtype is not None:
        floating = np.fromiter(
            (t.is_floating_point() for t in tree.tensors), dtype=bool, count=len(tree.tensors)
        )
        sizes[floating] = dtype.itemsize
    return sizes


def state_cost(tree: ModuleTree, with_grad: np.ndarray, optimized: np.ndarray, options: PlanOptions) -> Cost:
    """Training state for one model replica.

    ``with_grad``: tensors that get a gradient (``requires_grad``); ``optimized``: tensors the optimizer
    holds state for. Under mixed precision the optimizer keeps fp32 moments, plus an fp32 master copy
    of each tensor whose weights are stored in a half type. ``temporary_bytes`` is the optimizer
    step's own temporary: AdamW as PyTorch runs it on GPUs (``foreach``) takes the square root of
    every second moment at once, one moment's size; SGD updates in place.
    """
    sizes = element_sizes(tree, options)
    numel = tree.numel
    weights = int((numel * sizes).sum())
    gradients = int((numel * sizes)[with_grad].sum())
    moments = MOMENTS[options.optimizer]
    held = numel[optimized]
    if options.amp:
        master = int((held * _FP32)[sizes[optimized] < _FP32].sum())
        optimizer = moments * int(held.sum()) * _FP32 + master
    else:
        optimizer = moments * int((held * sizes[optimized]).sum())
    return Cost(
        weights_bytes=weights,
        gradients_bytes=gradients,
        optimizer_bytes=optimizer,
        temporary_bytes=optimizer_step_bytes(held, sizes[optimized], options),
    )


def optimizer_step_bytes(numel: np.ndarray, sizes: np.ndarray, options: PlanOptions) -> int:
    """The optimizer step's temporary for tensors of ``numel`` elements stored at ``sizes`` bytes."""
    if options.optimizer != Optimizer.ADAMW:
        return 0
    return int(numel.sum()) * _FP32 if options.amp else int((numel * sizes).sum())
