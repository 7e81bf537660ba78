"""Classification heads: find the layer that produces the logits, and replace it for N classes.

A head is taken from what the model says first (timm's ``get_classifier()``, a transformers base
model that has no head), then from well-known names, then from a search for the last ``Linear``.
A searched candidate is kept only if it is the last layer with parameters that the output goes
through (checked by a forward pass on the meta device, which costs no memory and no compute), so a
model shipped without a classifier never gets an inner layer replaced.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn

from freezegui.core.errors import FreezeguiError

# Which head `num_classes` replaced, per model (weak: no leak when models are dropped).
_REPLACED: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()

# Well-known head paths; tried in order before the generic search.
_KNOWN_HEADS = ("fc", "classifier", "head", "heads.head", "heads", "score", "classifier.out_proj", "lm_head")
# Top-level names that, when present without parameters (nn.Identity), mean "the head was removed".
_REMOVED_HEAD_NAMES = ("fc", "classifier", "head", "heads")
_UNKNOWN = object()  # the model's API says nothing about its head


class NoHeadError(FreezeguiError, ValueError):
    """The model has no classification head to replace, and its API cannot add one."""


def _get(model: nn.Module, path: str) -> nn.Module | None:
    try:
        return model.get_submodule(path)
    except AttributeError:
        return None


def _path_of(model: nn.Module, module: nn.Module) -> str | None:
    for path, sub in model.named_modules():
        if sub is module:
            return str(path)
    return None


def _has_params(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def has_classifier_api(model: nn.Module) -> bool:
    """timm's head API: ``get_classifier()`` and ``reset_classifier(num_classes)``."""
    return callable(getattr(model, "get_classifier", None)) and callable(
        getattr(model, "reset_classifier", None)
    )


def _declared_head(model: nn.Module) -> Any:
    """The head path the model's own API gives, None when it says there is none, else ``_UNKNOWN``."""
    if has_classifier_api(model):
        try:
            head = model.get_classifier()  # type: ignore[operator]
        except Exception:
            return _UNKNOWN
        if isinstance(head, (tuple, list)):  # distilled models: (head, head_dist); the first is the head
            head = head[0] if head else None
        if not isinstance(head, nn.Module) or not _has_params(head):
            return None  # timm models built with num_classes=0 return nn.Identity
        path = _path_of(model, head)
        if path is None:
            return _UNKNOWN
        if isinstance(head, nn.Sequential):
            last = _last_linear(head)
            return f"{path}.{last}" if last and path else last or path
        return path
    base = getattr(model, "base_model", None)
    if isinstance(base, nn.Module) and base is model and hasattr(model, "config"):
        return None  # a transformers base model (AutoModel): hidden states out, no head
    return _UNKNOWN


def find_head(model: nn.Module) -> str | None:
    """Path of the final classification layer, or None when the model has none.

    The layer ``num_classes`` replaced, else what the model's API declares, else a well-known name,
    else the last ``Linear`` (or 1x1 ``Conv2d``, SqueezeNet-style) if the output goes through it last.
    """
    if model in _REPLACED:
        return _REPLACED[model]
    declared = _declared_head(model)
    if declared is not _UNKNOWN:
        return declared  # type: ignore[no-any-return]
    for path in _KNOWN_HEADS:
        sub = _get(model, path)
        if isinstance(sub, (nn.Linear, nn.Conv2d)):
            return path
        if isinstance(sub, nn.Sequential):
            last = _last_linear(sub)
            if last is not None:
                return f"{path}.{last}"
    for path in _REMOVED_HEAD_NAMES:
        sub = _get(model, path)
        if sub is not None and not _has_params(sub):
            return None  # e.g. a ResNet whose fc was set to nn.Identity(): the features are the output
    candidate = _last_linear(model)
    if candidate is None:
        return None
    last = last_layer_called(model)
    if last is not None:
        return candidate if last == candidate else None
    return None if _inside_repeated_block(model, candidate) else candidate  # no forward: by structure


def _inside_repeated_block(model: nn.Module, path: str) -> bool:
    """True when ``path`` lies inside one block of a list of same-typed blocks (``blocks.11.mlp.fc2``):
    such a layer feeds the next block or the final norm, it is never the head."""
    parts = path.split(".")
    for i in range(1, len(parts) - 1):
        parent = _get(model, ".".join(parts[: i - 1])) if i > 1 else model
        container = getattr(parent, parts[i - 1], None) if parent is not None else None
        if not isinstance(container, (nn.ModuleList, nn.Sequential)) or len(container) < 2:
            continue
        if len({type(m) for m in container}) == 1 and parts[i].isdecimal():
            return True
    return False


def _last_linear(module: nn.Module) -> str | None:
    found = None
    for path, sub in module.named_modules():
        if isinstance(sub, nn.Linear) or (isinstance(sub, nn.Conv2d) and sub.kernel_size == (1, 1)):
            found = path
    return found


def _example_input(model: nn.Module) -> torch.Tensor | None:
    """A meta input the model plausibly takes: timm's configured size, else from the first layer."""
    for sub in model.modules():  # a timm model, or a wrapper around one
        cfg = getattr(sub, "pretrained_cfg", None)
        if isinstance(cfg, dict) and isinstance(cfg.get("input_size"), (tuple, list)):
            return torch.empty(1, *cfg["input_size"], device="meta")
    for sub in model.modules():
        if isinstance(sub, nn.Conv2d):
            return torch.empty(1, sub.in_channels, 224, 224, device="meta")
        if isinstance(sub, nn.Linear):
            return torch.empty(1, sub.in_features, device="meta")
        if isinstance(sub, (nn.Conv1d, nn.Conv3d, nn.Embedding)) or (_has_params(sub) and not sub._modules):
            return None  # inputs we cannot guess: no check
    return None


def last_layer_called(model: nn.Module, example: torch.Tensor | None = None) -> str | None:
    """Path of the last module with its own parameters that a forward pass runs (on meta tensors:
    no memory, no compute, the model is untouched). None when no input can be guessed or the
    forward does not run on meta tensors."""
    x = _example_input(model) if example is None else example
    if x is None:
        return None
    names = {
        id(m): p for p, m in model.named_modules() if next(m.parameters(recurse=False), None) is not None
    }
    order: list[str] = []

    def record(mod: nn.Module, *_: object) -> None:
        order.append(names[id(mod)])

    # A leaf counts when it finishes; a container that holds parameters of its own (a ViT's
    # cls_token) when it starts, since its hook would otherwise fire after every child's.
    hooks = [
        m.register_forward_hook(record) if not m._modules else m.register_forward_pre_hook(record)
        for m in model.modules()
        if id(m) in names
    ]
    tensors = [*model.named_parameters(), *model.named_buffers()]
    meta = {k: torch.empty_like(v, device="meta") for k, v in tensors}
    try:
        with torch.no_grad():
            torch.func.functional_call(model, meta, (x,), strict=False)
    except Exception:
        return None
    finally:
        for h in hooks:
            h.remove()
    return order[-1] if order else None


def replace_head(model: nn.Module, num_classes: int) -> str:
    """Swap the classification layer for a fresh one with ``num_classes`` outputs; returns its path.

    timm models use their own ``reset_classifier`` (which also adds a head to a ``num_classes=0``
    model). The new layer is created with the old one's dtype and device and trains. Raises
    :class:`NoHeadError` rather than replace an inner layer of a model that has no head.
    """
    if num_classes < 1:
        raise ValueError("num_classes must be at least 1")
    if has_classifier_api(model):
        return _reset_classifier(model, num_classes)
    path = find_head(model)
    if path is None:
        raise NoHeadError(
            f"{type(model).__name__} has no classification head (its output does not come from a Linear "
            f"layer), so num_classes cannot replace one without breaking an inner layer; add a head in the "
            f"model's factory, or leave num_classes out"
        )
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


def _reset_classifier(model: nn.Module, num_classes: int) -> str:
    ref = next(model.parameters(), None)
    _REPLACED.pop(model, None)
    model.reset_classifier(num_classes)  # type: ignore[operator]
    path = _declared_head(model)
    if not isinstance(path, str):
        raise NoHeadError(f"{type(model).__name__}.reset_classifier({num_classes}) added no head")
    if ref is not None:
        model.get_submodule(path).to(device=ref.device, dtype=ref.dtype)
    _REPLACED[model] = path
    return path


def remember_head(model: nn.Module, path: str) -> None:
    """Record that ``path`` is the model's head (when built with ``num_classes`` directly)."""
    _REPLACED[model] = path
