"""A meta-device copy of a model to run a planning step on: same structure and ties, no memory."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from freezegui.core.errors import FreezeguiError
from freezegui.core.plan.measure import SavedTensors
from freezegui.core.plan.options import PlanCancelled


def meta_copy(
    model: nn.Module, dtype: torch.dtype | None = None, cancel: Callable[[], bool] | None = None
) -> nn.Module:
    """Deep-copy ``model`` with every parameter and buffer replaced by a meta tensor of the same shape.

    The copy never reads or allocates weights (a loaded 7B model is copied in milliseconds), tied
    tensors stay tied (one memo entry per tensor), and the original is untouched. ``cancel`` is
    asked every few hundred copied objects (a 70B model's copy takes ~0.2 s): True stops it.
    """
    memo: dict[int, Any] = {} if cancel is None else _AskingMemo(cancel)
    for t in (*model.parameters(), *model.buffers()):
        if id(t) in memo:
            continue
        empty = torch.empty_like(t, device="meta", dtype=dtype if dtype and t.is_floating_point() else None)
        memo[id(t)] = (
            nn.Parameter(empty, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else empty
        )
    try:
        return copy.deepcopy(model, memo)
    except PlanCancelled:
        raise
    except Exception as exc:
        raise FreezeguiError(
            f"cannot copy {type(model).__name__} to the meta device ({_line(exc)})"
        ) from None


class _AskingMemo(dict[int, Any]):
    """A deepcopy memo that asks ``cancel`` every 256 lookups (deepcopy looks up every object)."""

    def __init__(self, cancel: Callable[[], bool]) -> None:
        super().__init__()
        self._cancel, self._lookups = cancel, 0

    def get(self, key: int, default: Any = None) -> Any:
        self._lookups += 1
        if not self._lookups & 255 and self._cancel():
            raise PlanCancelled("the plan was cancelled")
        return super().get(key, default)


def enable_checkpointing(model: nn.Module, saved: SavedTensors) -> None:
    """Turn on the model's own (transformers) gradient checkpointing, counting each block's kept inputs.

    A checkpointed block saves nothing for backward but its inputs, which the checkpoint keeps to
    recompute it; those are what the plan counts there.
    """
    if not getattr(model, "supports_gradient_checkpointing", False):
        raise FreezeguiError(
            f"{type(model).__name__} has no gradient checkpointing switch (a transformers model's own)"
        )
    kwargs = {"use_reentrant": False}
    hf: Any = model
    if hasattr(hf, "activation_checkpointing_enable"):  # transformers >= 5.x names it so
        hf.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        hf.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    for module in model.modules():
        func = getattr(module, "_gradient_checkpointing_func", None)
        if func is not None:
            object.__setattr__(
                module, "_gradient_checkpointing_func", functools.partial(_counted, func, saved)
            )


def _counted(func: Any, saved: SavedTensors, *args: Any, **kwargs: Any) -> Any:
    for a in (*args, *kwargs.values()):
        if isinstance(a, torch.Tensor) and a.is_floating_point():
            saved.note(a)
    return func(*args, **kwargs)


def _line(exc: BaseException) -> str:
    from freezegui.core.messages import error_line

    return error_line(exc, 200)
