"""Frozen normalisation layers keep their running statistics.

Freezing a BatchNorm's weight and bias is not enough: in ``model.train()`` it still normalises with
batch statistics and overwrites ``running_mean``/``running_var`` on every forward pass, so the
"frozen" backbone drifts. A forward pre-hook keeps such layers in eval mode whatever ``train()`` says.
The hook is a module-level function, so hooked models still pickle.
"""

from __future__ import annotations

import re
from typing import Any

from torch import nn
from torch.nn.modules.batchnorm import _NormBase

_HOOKS_ATTR = "_freezegui_norm_hook"
_NORM_TYPES: tuple[type[nn.Module], ...] = (_NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
if hasattr(nn, "RMSNorm"):
    _NORM_TYPES += (nn.RMSNorm,)
_NORM_NAME = re.compile(r".*(Norm|LayerNorm|RMSNorm|BatchNorm\w*)$")


def is_norm(module: nn.Module) -> bool:
    """The one "is a normalisation layer" (Freeze norms, ``no_decay``), library classes such as
    ``LlamaRMSNorm`` included; :func:`has_running_stats` is the narrower "keeps statistics"."""
    return isinstance(module, _NORM_TYPES) or bool(_NORM_NAME.match(type(module).__name__))


def has_running_stats(module: nn.Module) -> bool:
    """BatchNorm/SyncBatchNorm/InstanceNorm layers that track running statistics."""
    return isinstance(module, _NormBase) and bool(module.track_running_stats)


def _keep_eval(module: nn.Module, args: Any) -> None:
    module.training = False


def freeze_norm_stats(module: nn.Module) -> None:
    """Keep ``module`` in eval mode from now on (running statistics used and unchanged)."""
    if getattr(module, _HOOKS_ATTR, None) is None:
        handle = module.register_forward_pre_hook(_keep_eval)
        object.__setattr__(module, _HOOKS_ATTR, handle)
    module.training = False


def release_norm_stats(module: nn.Module) -> None:
    """Undo :func:`freeze_norm_stats` (the layer follows ``train()``/``eval()`` again)."""
    handle = getattr(module, _HOOKS_ATTR, None)
    if handle is not None:
        handle.remove()
        object.__setattr__(module, _HOOKS_ATTR, None)


def is_stats_frozen(module: nn.Module) -> bool:
    return getattr(module, _HOOKS_ATTR, None) is not None
