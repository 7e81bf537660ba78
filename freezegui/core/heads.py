"""Classification heads: find the layer that produces the logits, and replace it for N classes."""

from __future__ import annotations

import weakref

from torch import nn

# Which head `num_classes` replaced, per model (weak: no leak when models are dropped).
_REPLACED: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()

# Well-known head paths; tried in order before the generic search.
_KNOWN_HEADS = ("fc", "classifier", "head", "heads.head", "heads", "score", "classifier.out_proj", "lm_head")


def _get(model: nn.Module, path: str) -> nn.Module | None:
    try:
        return model.get_submodule(path)
    except AttributeError:
        return None


def find_head(model: nn.Module) -> str | None:
    """Path of the final classification layer: the one ``num_classes`` replaced, a well-known name, or
    the last ``Linear`` (or 1x1 ``Conv2d`` for SqueezeNet-style heads) in registration order."""
    if model in _REPLACED:
        return _REPLACED[model]
    for path in _KNOWN_HEADS:
        sub = _get(model, path)
        if isinstance(sub, (nn.Linear, nn.Conv2d)):
            return path
        if isinstance(sub, nn.Sequential):
            last = _last_linear(sub)
            if last is not None:
                return f"{path}.{last}"
    return _last_linear(model)


def _last_linear(module: nn.Module) -> str | None:
    found = None
    for path, sub in module.named_modules():
        if isinstance(sub, nn.Linear) or (isinstance(sub, nn.Conv2d) and sub.kernel_size == (1, 1)):
            found = path
    return found


def replace_head(model: nn.Module, num_classes: int) -> str:
    """Swap the classification layer for a fresh one with ``num_classes`` outputs; returns its path.

    The new layer is created with the old one's dtype and device and trains (``requires_grad``).
    """
    if num_classes < 1:
        raise ValueError("num_classes must be at least 1")
    path = find_head(model)
    if path is None:
        raise ValueError(f"{type(model).__name__} has no Linear layer to use as a classification head")
    old = model.get_submodule(path)
    ref = next(old.parameters())
    if isinstance(old, nn.Linear):
        new: nn.Module = nn.Linear(
            old.in_features, num_classes, bias=old.bias is not None, device=ref.device, dtype=ref.dtype
        )
    else:
        assert isinstance(old, nn.Conv2d)
        new = nn.Conv2d(
            old.in_channels,
            num_classes,
            _pair(old.kernel_size),
            _pair(old.stride),
            old.padding if isinstance(old.padding, str) else _pair(old.padding),
            bias=old.bias is not None,
            device=ref.device,
            dtype=ref.dtype,
        )
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, name, new)
    _REPLACED[model] = path
    return path


def _pair(size: tuple[int, ...]) -> tuple[int, int]:
    """A Conv2d's stored size (typed ``tuple[int, ...]``) as the pair its constructor is typed for."""
    return size[0], size[1]


def remember_head(model: nn.Module, path: str) -> None:
    """Record that ``path`` is the model's head (when built with ``num_classes`` directly)."""
    _REPLACED[model] = path
