"""Reuses meta-kernel results for repeated ops: a 70B model runs the same ops on the same shapes
in each of its 80 blocks, and most of a meta step's time is PyTorch's Python meta kernels
(``torch._refs`` shape and stride rules) recomputing one answer.

An op whose schema neither mutates nor aliases its inputs returns fresh tensors that depend only on
the inputs' metadata and the other arguments; on meta such a result is fully described by each
output's size, stride and dtype, so a repeat gets new empty tensors of that layout. Anything else
(views, in-place ops, arguments this cannot key) runs the real kernel.
"""

from __future__ import annotations

from typing import Any

import torch

_MISSING = object()
_UNCACHEABLE = object()
# Plain values an op's result may depend on, keyed as they are.
_PLAIN = (int, float, bool, str, type(None), torch.dtype, torch.device, torch.layout, torch.memory_format)


def _key_of(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        if value.device.type != "meta" or value.layout != torch.strided or value.is_conj() or value.is_neg():
            raise TypeError
        return ("T", tuple(value.shape), value.stride(), value.storage_offset(), value.dtype)
    if isinstance(value, _PLAIN):
        return (type(value), value)
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(_key_of(v) for v in value))
    raise TypeError


def _layout_of(value: Any) -> Any:
    """How to remake an output: tensors by layout, plain values as they are."""
    if isinstance(value, torch.Tensor):
        if value.device.type != "meta" or value.layout != torch.strided or value.is_conj() or value.is_neg():
            raise TypeError  # a real tensor (a CPU factory call, say) carries data: run it each time
        return ("T", tuple(value.shape), value.stride(), value.dtype)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (list, tuple)):
        return (type(value), [_layout_of(v) for v in value])
    raise TypeError


def _remake(layout: Any) -> Any:
    if isinstance(layout, tuple) and layout and layout[0] == "T":
        return torch.empty_strided(layout[1], layout[2], dtype=layout[3], device="meta")
    if isinstance(layout, tuple) and layout and layout[0] in (list, tuple):
        return layout[0](_remake(v) for v in layout[1])
    return layout


def _pure(func: Any) -> bool:
    schema = func._schema
    return not schema.is_mutable and all(r.alias_info is None for r in schema.returns)


class MetaResults:
    """Runs ops on meta tensors, answering repeats of pure ones from the layouts seen so far."""

    def __init__(self) -> None:
        self._results: dict[Any, Any] = {}
        self._pure: dict[Any, bool] = {}
        self.hits = self.misses = 0

    def call(self, func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
        pure = self._pure.get(func)
        if pure is None:
            pure = self._pure[func] = _pure(func)
        if not pure:
            return func(*args, **kwargs)
        try:
            key = (func, _key_of(args), _key_of(tuple(sorted(kwargs.items()))))
        except TypeError:
            return func(*args, **kwargs)
        layout = self._results.get(key, _MISSING)
        if layout is _UNCACHEABLE:
            return func(*args, **kwargs)
        if layout is not _MISSING:
            self.hits += 1
            return _remake(layout)
        self.misses += 1
        out = func(*args, **kwargs)
        if _shares_storage(out, args, kwargs):  # e.g. aten._unsafe_view: an alias its schema hides
            self._pure[func] = False
            return out
        try:
            self._results[key] = _layout_of(out)
        except TypeError:
            self._results[key] = _UNCACHEABLE
        return out


def _storages(value: Any) -> set[int]:
    if isinstance(value, torch.Tensor):
        return {int(value.untyped_storage()._cdata)}
    if isinstance(value, (list, tuple)):
        return set().union(*(_storages(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return _storages(list(value.values()))
    return set()


def _shares_storage(out: Any, args: Any, kwargs: Any) -> bool:
    return bool(_storages(out) & (_storages(args) | _storages(kwargs)))
