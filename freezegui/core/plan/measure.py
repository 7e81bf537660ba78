"""One training step, measured: bytes saved for backward, FLOPs, the largest temporary.

The same code measures the meta copy (the plan) and a real model (the tests compare the two):
saved tensors are seen through ``torch.autograd.graph.saved_tensors_hooks`` and counted once per
storage at the storage's full size; storages of parameters and buffers are left out (they are the
weights, counted apart). FLOPs come from PyTorch's ``FlopCounterMode`` around the forward and the
``backward()`` of the same step.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, _FlopCounterMode

from freezegui.core.plan.attention import ATTENTION_FLOPS
from freezegui.core.plan.meta_cache import MetaResults
from freezegui.core.plan.modules import ModuleStats
from freezegui.core.plan.options import PlanCancelled
from freezegui.core.plan.shims import meta_shims


@dataclass(frozen=True)
class StepCost:
    """What one measured step costs beyond the training state."""

    activations_bytes: int
    temporary_bytes: int
    forward_flops: int
    backward_flops: int

    @property
    def step_flops(self) -> int:
        return self.forward_flops + self.backward_flops


def storage_key(t: torch.Tensor) -> int:
    """Identity of a tensor's storage that also works on meta (where every data pointer is 0)."""
    return int(t.untyped_storage()._cdata)


class SavedTensors:
    """Counts what autograd saves for backward, once per storage; parameters and buffers excluded."""

    def __init__(self, model: nn.Module) -> None:
        self._exclude = {storage_key(t) for t in (*model.parameters(), *model.buffers())}
        self._seen: dict[int, torch.UntypedStorage] = {}  # kept alive: no address reuse while counting
        self.bytes = 0
        self.stats: ModuleStats | None = None  # per-module charging, when asked for

    @property
    def excluded(self) -> set[int]:
        """Storage keys of the parameters and buffers (the weights, counted apart)."""
        return self._exclude

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        self.note(t)
        return t

    def note(self, t: torch.Tensor) -> None:
        """Count ``t``'s storage as kept for backward (also used for gradient-checkpoint inputs)."""
        storage = t.untyped_storage()
        key = int(storage._cdata)
        if key not in self._exclude and key not in self._seen:
            self._seen[key] = storage
            self.bytes += storage.nbytes()
            if self.stats is not None:
                self.stats.add_saved(storage.nbytes())

    @contextlib.contextmanager
    def hooks(self) -> Iterator[None]:
        with torch.autograd.graph.saved_tensors_hooks(self._pack, _unpack):
            yield

    def release(self) -> None:
        self._seen.clear()


def _unpack(t: torch.Tensor) -> torch.Tensor:
    return t


class StepFlopCounter(FlopCounterMode):
    """PyTorch's FLOP counter and formulas (plus the fused CPU attention), without per-module totals.

    It also notes the largest single op output and the most bytes op outputs hold at once
    (``peak_live``: each output storage from its op until its last tensor is freed, storages in
    ``exclude`` left out), which is what the step adds to the training state at its worst moment.
    Skipping the module tracker (which hooks every module call) keeps a 70B meta step near the
    cost of its bare forward; ``meta``: answers repeated meta ops from their first result (see
    :mod:`meta_cache`).
    """

    def __init__(
        self,
        meta: MetaResults | None = None,
        exclude: set[int] | None = None,
        cancel: Callable[[], bool] | None = None,
        stats: ModuleStats | None = None,
    ) -> None:
        super().__init__(display=False, custom_mapping=dict(ATTENTION_FLOPS))
        self.cancel = cancel
        self.stats = stats
        self.total = 0
        self.largest_output = 0
        self.meta = meta
        self.live = 0
        self.peak_live = 0
        self._exclude = exclude or set()
        self._refs: dict[int, list[int]] = {}  # storage key -> [tensors alive on it, its bytes]
        self._weak: dict[int, tuple[weakref.ref[torch.Tensor], int]] = {}  # id(tensor) -> (ref, storage key)

    def _track(self, t: torch.Tensor) -> None:
        key = storage_key(t)
        if key in self._exclude:
            return
        tid = id(t)
        if tid in self._weak:  # an in-place op's output: the same tensor, tracked already
            return
        entry = self._refs.get(key)
        if entry is None:
            entry = self._refs[key] = [0, t.untyped_storage().nbytes()]
            self.live += entry[1]
            self.peak_live = max(self.peak_live, self.live)
        entry[0] += 1
        # the callback fires when the tensor is freed (before its id can be reused)
        self._weak[tid] = (weakref.ref(t, functools.partial(self._released, tid)), key)

    def _released(self, tid: int, _ref: object) -> None:
        _, key = self._weak.pop(tid)
        entry = self._refs[key]
        entry[0] -= 1
        if entry[0] == 0:
            self.live -= entry[1]
            del self._refs[key]

    def __enter__(self) -> StepFlopCounter:
        self.mode = _StepMode(self)
        self.mode.__enter__()  # type: ignore[no-untyped-call]
        return self

    def __exit__(self, *args: Any) -> None:
        mode, self.mode = self.mode, None
        if mode is not None:
            mode.__exit__(*args)  # type: ignore[no-untyped-call]

    def _count_flops(self, func_packet: Any, out: Any, args: Any, kwargs: Any) -> Any:
        if isinstance(out, torch.Tensor):
            self.largest_output = max(self.largest_output, out.untyped_storage().nbytes())
            self._track(out)
        elif isinstance(out, (tuple, list)):
            for t in out:
                if isinstance(t, torch.Tensor):
                    self._track(t)
        formula = self.flop_registry.get(func_packet)
        if formula is not None:
            flops = int(formula(*args, **kwargs, out_val=out))
            self.total += flops
            if self.stats is not None:
                self.stats.add_flops(flops)
        return out


class _StepMode(_FlopCounterMode):
    """PyTorch's counting dispatch, with its per-op decomposition attempt remembered per op.

    For an op without a formula, ``_FlopCounterMode`` re-enters itself and tries the op's
    ``CompositeImplicitAutograd`` decomposition on every call; whether the op has one never
    changes, and the re-entry costs as much as a meta kernel. Other ops (and higher-order ones)
    take PyTorch's path unchanged.
    """

    counter: StepFlopCounter

    def __init__(self, counter: StepFlopCounter) -> None:
        super().__init__(counter)
        self._direct: dict[Any, bool] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        cancel = self.counter.cancel
        if cancel is not None and cancel():
            raise PlanCancelled("the plan was cancelled")
        direct = self._direct.get(func)
        if direct is None:
            direct = self._direct[func] = _runs_directly(func, self.counter.flop_registry)
        if not direct:
            return super().__torch_dispatch__(func, types, args, kwargs)  # type: ignore[no-untyped-call]
        kwargs = kwargs or {}
        meta = self.counter.meta
        out = meta.call(func, args, kwargs) if meta is not None else func(*args, **kwargs)
        return self.counter._count_flops(func._overloadpacket, out, args, kwargs)


def _runs_directly(func: Any, registry: dict[Any, Any]) -> bool:
    """An op ``_FlopCounterMode`` would run and count as it is: not a metadata query it leaves
    alone, not higher-order, and with no decomposition it would try first."""
    if not isinstance(func, torch._ops.OpOverload) or func in _METADATA_QUERIES:
        return False
    if func in registry or func is torch.ops.prim.device.default:
        return True
    dk = torch._C.DispatchKey.CompositeImplicitAutograd
    name: str = func._name  # what OpOverload.name() returns (unannotated there)
    return dk not in func.py_kernels and not torch._C._dispatch_has_kernel_for_dispatch_key(name, dk)


_METADATA_QUERIES = {
    torch.ops.aten.sym_is_contiguous.default,
    torch.ops.aten.is_contiguous.default,
    torch.ops.aten.is_contiguous.memory_format,
    torch.ops.aten.is_strides_like_format.default,
    torch.ops.aten.is_non_overlapping_and_dense.default,
    torch.ops.aten.size.default,
    torch.ops.aten.sym_size.default,
    torch.ops.aten.stride.default,
    torch.ops.aten.sym_stride.default,
    torch.ops.aten.storage_offset.default,
    torch.ops.aten.sym_storage_offset.default,
    torch.ops.aten.numel.default,
    torch.ops.aten.sym_numel.default,
    torch.ops.aten.dim.default,
    torch.ops.prim.layout.default,
}


def measure_step(
    model: nn.Module,
    forward: Callable[[], torch.Tensor],
    saved: SavedTensors | None = None,
    *,
    cancel: Callable[[], bool] | None = None,
    stats: ModuleStats | None = None,
) -> StepCost:
    """Run ``forward()`` (returning the loss) and its backward on ``model``, counting as it goes.

    ``stats`` (attached here for the step) also charges every op to the module that ran it.

    The model's gradients are left as the step made them; callers working on a copy discard it.
    ``temporary_bytes`` is what the step holds at its worst moment beyond the saved activations
    and the parameters' gradients (both counted apart): activation gradients in flight, the
    intermediates an op sequence keeps alive together, the loss.
    """
    saved = saved or SavedTensors(model)
    on_meta = all(p.device.type == "meta" for p in model.parameters())
    counter = StepFlopCounter(
        MetaResults() if on_meta else None, exclude=saved.excluded, cancel=cancel, stats=stats
    )
    saved.stats = stats
    if stats is not None:
        stats.attach()
    try:
        with meta_shims(), counter:
            with saved.hooks():
                loss = forward()
            forward_flops = counter.total
            if stats is not None:
                stats.backward = True
            if loss.requires_grad:
                loss.backward()  # type: ignore[no-untyped-call]
    finally:
        if stats is not None:
            stats.detach()
        saved.stats = None
    grads = {
        storage_key(p.grad): p.grad.untyped_storage().nbytes()
        for p in model.parameters()
        if p.grad is not None
    }
    beyond = counter.peak_live - sum(grads.values()) - saved.bytes
    cost = StepCost(
        activations_bytes=saved.bytes,
        temporary_bytes=max(beyond, 0) if counter.peak_live else counter.largest_output,
        forward_flops=int(forward_flops),
        backward_flops=counter.total - forward_flops,
    )
    saved.release()
    return cost
