"""Attention on the meta device as the real devices run it: the fused kernel, not the math fallback.

``F.scaled_dot_product_attention`` picks its kernel by device. On CPU and GPU it runs a fused
(flash-style) kernel that saves only the output and a log-sum-exp for backward; on the meta device it
falls back to the math path, which saves the full ``L x L`` attention matrix (about 40 GiB for a
70B model at 2,048 tokens). the wrapper :func:`sdpa_on_meta` (installed by :mod:`freezegui.core.plan.shims`) routes meta calls to the same fused op the
CPU would pick, so saved bytes match. PyTorch's FLOP counter has no formula for the CPU fused op;
:data:`ATTENTION_FLOPS` adds PyTorch's own SDPA formulas for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

_FUSED = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
_FUSED_BACKWARD = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward
_FLASH_CHOICE = 1  # torch._fused_sdp_choice's code for the flash kernel


def _fused_flops(query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return int(sdpa_flop_count(query, key, value))  # type: ignore[no-untyped-call]


def _fused_backward_flops(
    grad_out: Any, query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any
) -> int:
    return int(sdpa_backward_flop_count(grad_out, query, key, value))  # type: ignore[no-untyped-call]


ATTENTION_FLOPS: dict[Any, Callable[..., int]] = {
    _FUSED: _fused_flops,
    _FUSED_BACKWARD: _fused_backward_flops,
}


def _cpu_would_fuse(
    q: torch.Tensor, k: torch.Tensor, mask: Any, dropout: float, causal: bool, gqa: bool
) -> bool:
    """Ask PyTorch's own kernel choice, on one-token CPU stand-ins of the same dtype and heads."""
    if q.dim() != 4 or k.dim() != 4:
        return False
    qc = torch.zeros(1, q.shape[1], 1, q.shape[3], dtype=q.dtype)
    kc = torch.zeros(1, k.shape[1], 1, k.shape[3], dtype=k.dtype)
    mc = None if mask is None else torch.zeros(1, 1, 1, 1, dtype=mask.dtype)
    try:
        choice = torch._fused_sdp_choice(qc, kc, kc, mc, dropout, causal, enable_gqa=gqa)
    except (RuntimeError, TypeError):
        return False
    return int(choice) == _FLASH_CHOICE


def sdpa_on_meta(original: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Wrap ``F.scaled_dot_product_attention``: meta calls go to the fused op, others pass through."""

    def sdpa(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if getattr(query, "is_meta", False):
            out = _fused(query, key, value, *args, **kwargs)
            if out is not None:
                return out
        return original(query, key, value, *args, **kwargs)

    return sdpa


def _fused(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> torch.Tensor | None:
    if not _cpu_would_fuse(query, key, attn_mask, dropout_p, is_causal, enable_gqa):
        return None
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        attn_mask = torch.where(attn_mask, 0.0, float("-inf")).to(query.dtype)
    out: torch.Tensor = _FUSED(query, key, value, dropout_p, is_causal, attn_mask=attn_mask, scale=scale)[0]
    return out
