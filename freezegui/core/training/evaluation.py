"""Held-out evaluation: the seeded split of a run's examples and the validation loss and metric.

The split (:func:`hold_out`) takes the examples after the data has been built and shuffled with the
run's seed, so it is the same for every run of a comparison. :func:`evaluate` scores the model in eval
mode without gradients and puts every module's train/eval flag back, so frozen weights and BatchNorm
statistics stay bit-identical: accuracy for classification, perplexity for language modelling.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from freezegui.core.data.chat import IGNORE_INDEX
from freezegui.core.data.split import split_indices
from freezegui.core.data.synthetic import _eval_no_grad
from freezegui.core.data.tasks import logits_of as _logits
from freezegui.core.training.data import TrainingData, _Pool, _Streamed
from freezegui.core.training.heldout import HeldOut
from freezegui.core.training.report import Evaluation

CLASSIFICATION_TASKS = ("classification", "sequence_classification", "image_classification")
LM_TASKS = ("causal_lm", "masked_lm", "token_lm")


def _take(value: Any, index: torch.Tensor) -> Any:
    if isinstance(value, dict):
        return {k: v.index_select(0, index.to(v.device)) for k, v in value.items()}
    return value.index_select(0, index.to(value.device))


def _tensors(value: Any) -> list[torch.Tensor]:
    return [value[k] for k in sorted(value)] if isinstance(value, dict) else [value]


def _digest(tensors: list[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(str((tuple(t.shape), t.dtype)).encode())
        h.update(t.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def pool_held_out(pool: _Pool, description: str) -> HeldOut:
    """Every example of ``pool`` once, ``pool.bs`` at a time (the last batch short, never topped up)."""

    def batches() -> Iterator[tuple[Any, torch.Tensor]]:
        for start in range(0, pool.n, pool.bs):
            index = torch.arange(start, min(start + pool.bs, pool.n))
            yield _take(pool.inputs, index), _take(pool.labels, index)

    return HeldOut(description, pool.n, batches, _digest([*_tensors(pool.inputs), pool.labels]))


def streamed_held_out(streamed: _Streamed, description: str) -> HeldOut:
    """Every example of a decoded-on-demand set once; identified by its places in the data."""
    order = list(streamed.order)

    def batches() -> Iterator[tuple[Any, torch.Tensor]]:
        for start in range(0, len(order), streamed.bs):
            chunk = order[start : start + streamed.bs]
            items = [streamed.load(i) for i in chunk]
            x = torch.stack([t for t, _ in items]).to(device=streamed.device, dtype=streamed.dtype)
            yield streamed.wrap(x), torch.tensor([c for _, c in items], device=streamed.device)

    digest = hashlib.sha256(repr(sorted(order)).encode()).hexdigest()[:16]
    return HeldOut(description, len(order), batches, digest)


def held_out_of(get_batch: object, description: str) -> HeldOut | None:
    """The examples behind a data source's batches as a held-out set (None for a plain function)."""
    if isinstance(get_batch, _Pool):
        return pool_held_out(get_batch, description)
    if isinstance(get_batch, _Streamed):
        return streamed_held_out(get_batch, description)
    return None


def hold_out(data: TrainingData, fraction: float, seed: int) -> TrainingData:
    """``data`` with ``fraction`` of its examples moved to a held-out set (seeded, the same every run)."""
    source = data.get_batch
    if fraction <= 0 or not isinstance(source, (_Pool, _Streamed)):
        return data
    n = source.n if isinstance(source, _Pool) else len(source.order)
    train, val = split_indices(n, fraction, seed)
    if not val:
        return data
    what = f"{len(val)} of {n} examples held out ({fraction:g} of the data, seed {seed})"
    if isinstance(source, _Pool):
        ti, vi = torch.tensor(train), torch.tensor(val)
        kept = _Pool(_take(source.inputs, ti), _take(source.labels, ti), source.bs)
        held = pool_held_out(_Pool(_take(source.inputs, vi), _take(source.labels, vi), source.bs), what)
        return dataclasses.replace(data, get_batch=kept, val=held)

    def part(indices: list[int]) -> _Streamed:
        order = [source.order[i] for i in indices]
        return _Streamed(source.load, order, source.bs, source.wrap, source.device, source.dtype)

    return dataclasses.replace(data, get_batch=part(train), val=streamed_held_out(part(val), what))


def _forward(model: nn.Module, inputs: Any) -> torch.Tensor:
    return _logits(model(**inputs) if isinstance(inputs, dict) else model(inputs)).float()


def _lm_sums(logits: torch.Tensor, labels: torch.Tensor, shift: bool) -> tuple[float, int]:
    if shift:
        logits, labels = logits[:, :-1], labels[:, 1:]
    flat = labels.reshape(-1)
    total = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), flat, ignore_index=IGNORE_INDEX, reduction="sum"
    )
    return float(total), int((flat != IGNORE_INDEX).sum())


def _score(task: str, model: nn.Module, batch: tuple[Any, torch.Tensor]) -> tuple[float, float, int]:
    """``(loss sum, correct, count)`` of one batch: examples for classification, tokens for LMs."""
    inputs, labels = batch
    if task == "token_lm":
        loss, count = _lm_sums(_forward(model, inputs), inputs, shift=True)
        return loss, 0.0, count
    logits = _forward(model, inputs)
    if task in CLASSIFICATION_TASKS:
        loss_sum = float(F.cross_entropy(logits, labels, reduction="sum"))
        return loss_sum, float((logits.argmax(-1) == labels).sum()), int(labels.shape[0])
    if task in LM_TASKS:
        loss, count = _lm_sums(logits, labels, shift=task == "causal_lm")
        return loss, 0.0, count
    target = labels.float()
    return float(F.mse_loss(logits[:, 0], target, reduction="mean")) * len(target), 0.0, len(target)


def metric_name(task: str) -> str | None:
    """The task's metric: accuracy (classification), perplexity (language modelling), else none."""
    if task in CLASSIFICATION_TASKS:
        return "accuracy"
    return "perplexity" if task in LM_TASKS else None


def evaluate(model: nn.Module, data: TrainingData, step: int) -> Evaluation:
    """Validation loss (mean per example, or per target token) and metric of ``model`` on ``data.val``."""
    assert data.val is not None
    loss_sum = correct = 0.0
    count = 0
    with _eval_no_grad(model):  # eval mode, no autograd, every module's flag put back
        for batch in data.val.batches():
            a, b, c = _score(data.task, model, batch)
            loss_sum, correct, count = loss_sum + a, correct + b, count + c
    loss = loss_sum / count if count else math.nan
    name = metric_name(data.task)
    value: float | None = None
    if name == "accuracy" and count:
        value = correct / count
    elif name == "perplexity" and count:
        value = math.exp(loss) if loss < 700 else math.inf
    return Evaluation(step, loss, name, value, data.val.count)
