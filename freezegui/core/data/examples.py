"""Real synthetic examples for a training run: learnable patterns, reproducible from a seed.

Images and vectors are class prototypes plus noise (a frozen backbone still separates them); token
ids for classification draw each class from its own band of the vocabulary. Made only when a run
needs them: a plan uses :meth:`SyntheticBatch.meta` and makes nothing.
"""

from __future__ import annotations

import torch

from freezegui.core.data.synthetic import MASK_PROB, SyntheticBatch, check_addressable
from freezegui.core.data.tasks import Batch


def make_batch(spec: SyntheticBatch, n: int, device: torch.device) -> Batch:
    """``n`` real examples on ``device``, learnable and reproducible from ``spec.seed`` (the training
    engine's pool). Raises :class:`BatchTooLargeError` when no tensor could address them."""
    check_addressable(spec, n)
    x, y = make_examples(spec, n, torch.Generator().manual_seed(spec.seed))  # the engine reports an
    x, y = x.to(device=device), y.to(device)  # allocator's refusal with the batch size to lower
    return ({spec.key: x} if spec.key else x), y


def make_examples(spec: SyntheticBatch, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels) of ``n`` examples on the CPU, drawn from ``gen`` in a fixed order."""
    if spec.kind in ("images", "vectors"):
        classes = spec.classes or 1
        labels = torch.randint(0, classes, (n,), generator=gen)
        protos = torch.randn(classes, *spec.shape, generator=gen)
        x = 0.5 * torch.randn(n, *spec.shape, generator=gen) + protos[labels]
        return x.to(spec.dtype), labels
    ids = torch.randint(0, spec.vocab or 1, (n, *spec.shape), generator=gen)
    if spec.labels == "inputs":
        return ids, ids
    if spec.labels == "masked":
        return mask_tokens(ids, spec.mask_id or 0, gen)
    if spec.labels == "target":
        return ids, torch.randn(n, spec.width or 1, generator=gen)
    classes = spec.classes or 1
    labels = torch.randint(0, classes, (n,), generator=gen)
    return banded_ids(ids, labels, spec.vocab or 1, classes), labels


def banded_ids(ids: torch.Tensor, labels: torch.Tensor, vocab: int, classes: int) -> torch.Tensor:
    band = max(1, vocab // max(classes, 1))
    return (ids % band + labels[:, None] * band).clamp_(max=vocab - 1)


def mask_tokens(ids: torch.Tensor, mask_id: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """MLM masking: 15% of positions (at least one per sequence) become ``mask_id``; labels elsewhere -100."""
    chosen = torch.rand(ids.shape, generator=gen) < MASK_PROB
    chosen[torch.arange(ids.shape[0]), torch.randint(0, ids.shape[1], (ids.shape[0],), generator=gen)] = True
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    inputs = torch.where(chosen, torch.full_like(ids, mask_id), ids)
    return inputs, labels


def describe_examples(spec: SyntheticBatch, n: int) -> str:
    """One line on what ``n`` examples are (the run's data description)."""
    seed = spec.seed
    if spec.kind in ("images", "vectors"):
        dims = "x".join(map(str, spec.shape))
        return f"synthetic {spec.kind} {dims}, {spec.classes} classes, {n} examples (seed {seed})"
    head = f"synthetic token ids, {n} sequences of {spec.shape[0]}"
    if spec.labels == "inputs":
        return f"{head} (vocabulary {spec.vocab}, seed {seed})"
    if spec.labels == "masked":
        return f"{head}, 15% masked (seed {seed})"
    if spec.labels == "target":
        return (
            f"{head}; {spec.model_name} has no task head, so the loss fits the first token's hidden state "
            f"to fixed random targets (seed {seed})"
        )
    return f"{head}, {spec.classes} classes (seed {seed})"
