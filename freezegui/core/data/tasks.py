"""What data a model takes and the loss that fits it: shared by synthetic batches and real data sets.

The planner and the training engine both read a model's task here, so the step the plan runs is
the step that trains.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from freezegui.core.errors import TrainingError

Batch = tuple[Any, torch.Tensor]  # (model inputs: a tensor or a dict of tensors, labels)


def is_transformers_model(model: nn.Module) -> bool:
    config = getattr(model, "config", None)
    return config is not None and hasattr(config, "model_type") and hasattr(model, "get_input_embeddings")


def hf_task(model: nn.Module) -> str:
    """A transformers model's task from its class name (``"features"`` for a bare backbone)."""
    name = type(model).__name__
    for suffix, task in (
        ("ForSequenceClassification", "sequence_classification"),
        ("ForCausalLM", "causal_lm"),
        ("LMHeadModel", "causal_lm"),
        ("ForMaskedLM", "masked_lm"),
        ("ForImageClassification", "image_classification"),
    ):
        if name.endswith(suffix):
            return task
    return "features"


def first_leaf(model: nn.Module) -> nn.Module | None:
    """The first layer that decides the input's kind (images, vectors or token ids)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.Embedding)):
            return module
    return None


def vocab_size(config: Any) -> int:
    vocab = getattr(config, "vocab_size", None)
    if vocab is None and hasattr(config, "get_text_config"):
        vocab = getattr(config.get_text_config(), "vocab_size", None)
    if not vocab:
        raise TrainingError(f"{type(config).__name__} has no vocab_size; cannot make token data")
    return int(vocab)


def float_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def length_kind(model: nn.Module) -> str:
    """What a step's length means for this model: ``"tokens"``, ``"pixels"`` or ``""`` (neither)."""
    if is_transformers_model(model):
        return "pixels" if hf_task(model) == "image_classification" else "tokens"
    first = first_leaf(model)
    if isinstance(first, nn.Embedding):
        return "tokens"
    return "pixels" if isinstance(first, (nn.Conv2d, nn.Conv3d)) else ""


# ------------------------------------------------------------------------------------------ losses
def logits_of(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    logits = getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TrainingError(f"the model returned {type(out).__name__}; expected logits (a tensor)")


def classify_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    x, y = batch
    out = model(**x) if isinstance(x, dict) else model(x)
    return F.cross_entropy(logits_of(out).float(), y)


def token_lm_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    ids, _ = batch
    logits = logits_of(model(ids)).float()
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


def hf_label_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    inputs, labels = batch
    out = model(**inputs, labels=labels)
    loss: torch.Tensor = out.loss
    return loss


def hf_features_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    inputs, target = batch
    out = model(**inputs)
    hidden = getattr(out, "last_hidden_state", None)
    if hidden is None:
        hidden = logits_of(out)
    return F.mse_loss(hidden[:, 0].float(), target)
