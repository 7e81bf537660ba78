"""Library functions swapped while a meta step runs, so that meta tensors take the real devices' path.

* ``F.scaled_dot_product_attention``: the fused kernel CPU and GPU use (see :mod:`.attention`).
  An attribute swap rather than a ``TorchFunctionMode``: a mode is off inside its own handler, so
  SDPA called from ``F.multi_head_attention_forward`` (torchvision's ViT) would escape it.
* transformers' ``find_packed_sequence_indices``: it asks a tensor's value (``.all()``) to detect
  packed sequences when there is no cache (gradient checkpointing turns the cache off); a synthetic
  batch holds one sequence per row, so on meta the answer is "not packed".

Each wrapper diverts meta tensors only, so training in another thread is unaffected; the swaps are
reference-counted and undone when the last meta step ends.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from torch.nn import functional as F

from freezegui.core.plan.attention import sdpa_on_meta

_lock = threading.Lock()
_users = 0
_undo: list[Callable[[], None]] = []


def _not_packed_on_meta(original: Callable[..., Any]) -> Callable[..., Any]:
    def find_packed_sequence_indices(position_ids: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(position_ids, "is_meta", False):
            return None
        return original(position_ids, *args, **kwargs)

    return find_packed_sequence_indices


def _swap(owner: Any, name: str, wrap: Callable[[Any], Any]) -> None:
    original = getattr(owner, name, None)
    if original is None:
        return
    setattr(owner, name, wrap(original))
    _undo.append(lambda: setattr(owner, name, original))


@contextlib.contextmanager
def meta_shims() -> Iterator[None]:
    """While active, meta tensors take the real devices' attention kernel and skip value checks."""
    global _users
    with _lock:
        if _users == 0:
            _swap(F, "scaled_dot_product_attention", sdpa_on_meta)
            masking = sys.modules.get("transformers.masking_utils")  # only when transformers is in use
            if masking is not None:
                _swap(masking, "find_packed_sequence_indices", _not_packed_on_meta)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                while _undo:
                    _undo.pop()()
