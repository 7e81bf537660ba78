"""Synthetic batches shaped for a model: described once, then made on meta (a plan) or for real (a run).

:func:`describe` finds what one batch is (input shape and dtype, labels, task, loss) with a dry
forward of two examples; nothing of the batch's size exists yet. :meth:`SyntheticBatch.meta` is the
planner's batch: meta tensors of exactly the batch's size, never allocated and never a view of a
larger pool (autograd would count the pool's whole storage as saved). :func:`~freezegui.core.data.examples.make_batch`
gives the training engine ``n`` real, learnable examples with the same layout.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from freezegui.core.data import tasks
from freezegui.core.data.tasks import Batch
from freezegui.core.errors import TrainingError
from freezegui.core.messages import error_line
from freezegui.core.structure.counting import format_bytes

MASK_PROB = 0.15
DEFAULT_IMAGE_SIZE = 64  # synthetic images when no size is given (then 224 and 299 are tried)
_ADDRESSABLE = 2**63  # a tensor's bytes must fit a signed 64-bit count, even on meta


class BatchTooLargeError(TrainingError):
    """One batch is more bytes than a tensor can address: no step can run, not even on meta."""


@dataclass(frozen=True)
class SyntheticBatch:
    """What one synthetic batch is: its inputs, its labels and the loss that fits them.

    ``labels`` is ``"classes"`` (one class id per example), ``"inputs"`` (the ids themselves, for
    next-token losses), ``"masked"`` (ids, -100 where not masked) or ``"target"`` (a float vector).
    ``key`` names the input in a keyword dict (``input_ids``, ``pixel_values``); None passes a tensor.
    """

    task: str
    kind: str  # what the inputs are, for the description: images, vectors, tokens
    shape: tuple[int, ...]  # one example's input
    dtype: torch.dtype
    batch_size: int
    loss_fn: Callable[[nn.Module, Batch], torch.Tensor]
    labels: str = "classes"
    key: str | None = None
    classes: int | None = None
    vocab: int | None = None
    width: int | None = None  # the target vector's length (labels == "target")
    mask_id: int | None = None
    seed: int = 0
    model_name: str = ""

    @property
    def batch_bytes(self) -> int:
        """Bytes of one batch (inputs and labels), computed without making anything."""
        return self.batch_size * example_bytes(self)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return self.loss_fn(model, batch)

    def meta(self) -> Batch:
        """One batch on the meta device: the batch's own tensors at its size, nothing allocated."""
        return self._layout(self.batch_size, torch.device("meta"))

    def _layout(self, n: int, device: torch.device) -> Batch:
        x = torch.empty((n, *self.shape), dtype=self.dtype, device=device)
        if self.labels == "inputs":
            y = x
        elif self.labels == "masked":
            y = torch.empty((n, *self.shape), dtype=torch.long, device=device)
        elif self.labels == "target":
            y = torch.empty((n, self.width or 1), dtype=torch.float32, device=device)
        else:
            y = torch.empty((n,), dtype=torch.long, device=device)
        return ({self.key: x} if self.key else x), y


def example_bytes(spec: SyntheticBatch) -> int:
    """Bytes of one example's input and labels."""
    size = math.prod(spec.shape)
    x = size * torch.empty((), dtype=spec.dtype).element_size()
    y = {"inputs": 0, "masked": 8 * size, "target": 4 * (spec.width or 1)}.get(spec.labels, 8)
    return x + y


def check_addressable(spec: SyntheticBatch, n: int) -> None:
    """Raise :class:`BatchTooLargeError` when ``n`` examples exceed what a tensor can address."""
    if n * example_bytes(spec) >= _ADDRESSABLE or n * math.prod(spec.shape) >= _ADDRESSABLE:
        raise _too_large(spec.kind, spec.shape, spec.dtype, n, n * example_bytes(spec))


def _too_large(
    kind: str, shape: tuple[int, ...], dtype: torch.dtype, n: int, nbytes: int
) -> BatchTooLargeError:
    dims = "×".join(map(str, shape))
    return BatchTooLargeError(
        f"one batch of {n:,} {kind} {dims} ({str(dtype).removeprefix('torch.')}) is {format_bytes(nbytes)}, "
        "more than a tensor can address; lower the batch size or the input size"
    )


# ------------------------------------------------------------------------------------------ describe
def describe(
    model: nn.Module,
    *,
    batch_size: int,
    seq_len: int = 32,
    image_size: int | None = None,
    seed: int = 0,
    device: torch.device | None = None,
) -> SyntheticBatch:
    """The synthetic batch that fits ``model`` (a dry forward of two examples on ``device`` decides).

    Raises :class:`TrainingError` for a model no synthetic data fits, :class:`BatchTooLargeError`
    for a batch no tensor can hold (checked before anything of its size is made).
    """
    device = device or torch.device("cpu")
    if tasks.is_transformers_model(model):
        return _describe_hf(model, batch_size, seq_len, seed)
    first = tasks.first_leaf(model)
    if isinstance(first, nn.Embedding):
        return _describe_tokens(model, first, batch_size, seq_len, seed, device)
    if isinstance(first, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
        return _describe_tensors(model, first, batch_size, image_size, seed, device)
    raise TrainingError(
        f"cannot make synthetic data for {type(model).__name__}: its first layer is "
        f"{type(first).__name__ if first is not None else 'missing'}; use an image folder or a text file"
    )


@contextlib.contextmanager
def _eval_no_grad(model: nn.Module) -> Iterator[None]:
    """A dry forward pass that changes nothing: eval mode (no BN statistics), no autograd, flags restored."""
    flags = [m.training for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, flag in zip(model.modules(), flags):
            m.training = flag


def _dry_output(
    model: nn.Module,
    shapes: Sequence[tuple[int, ...]],
    dtype: torch.dtype,
    device: torch.device,
    check: Callable[[tuple[int, ...]], None],
) -> tuple[tuple[int, ...], torch.Tensor]:
    """Try input shapes in turn; the first that runs (two examples) gives the output and its shape."""
    errors = []
    for shape in shapes:
        check(shape)
        x = torch.zeros(2, *shape, dtype=dtype, device=device)
        try:
            with _eval_no_grad(model):
                return shape, tasks.logits_of(model(x))
        except TrainingError:
            raise
        except Exception as exc:  # a shape the model refuses; try the next one
            errors.append(f"{tuple(shape)}: {error_line(exc, 200)}")
    raise TrainingError(
        f"cannot make synthetic data for {type(model).__name__}: no input shape worked ({'; '.join(errors)})"
    )


def _checker(
    kind: str, dtype: torch.dtype, batch_size: int, label_bytes: int
) -> Callable[[tuple[int, ...]], None]:
    def check(shape: tuple[int, ...]) -> None:
        n = max(batch_size, 2)
        size = math.prod(shape)
        nbytes = n * (size * torch.empty((), dtype=dtype).element_size() + label_bytes)
        if nbytes >= _ADDRESSABLE or n * size >= _ADDRESSABLE:
            raise _too_large(kind, shape, dtype, batch_size, nbytes)

    return check


def _image_sizes(image_size: int | None) -> list[int]:
    sizes = [image_size or DEFAULT_IMAGE_SIZE]
    if image_size is None:
        sizes += [s for s in (224, 299) if s not in sizes]
    return sizes


def _describe_tensors(
    model: nn.Module,
    first: nn.Module,
    batch_size: int,
    image_size: int | None,
    seed: int,
    device: torch.device,
) -> SyntheticBatch:
    dtype = tasks.float_dtype(model)
    if isinstance(first, nn.Linear):
        shapes: list[tuple[int, ...]] = [(first.in_features,)]
    else:
        assert isinstance(first, (nn.Conv1d, nn.Conv2d, nn.Conv3d))
        dims = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}[type(first)]
        shapes = [(first.in_channels, *([s] * dims)) for s in _image_sizes(image_size)]
    kind = "vectors" if len(shapes[0]) == 1 else "images"
    shape, out = _dry_output(model, shapes, dtype, device, _checker(kind, dtype, batch_size, 8))
    if out.dim() != 2:
        raise TrainingError(
            f"{type(model).__name__} returns shape {tuple(out.shape)} for a batch; synthetic data supports "
            "models that return (batch, classes) logits"
        )
    kind = "images" if len(shape) == 3 else "vectors"
    return SyntheticBatch(
        "classification",
        kind,
        shape,
        dtype,
        batch_size,
        tasks.classify_loss,
        classes=int(out.shape[1]),
        seed=seed,
    )


def _describe_tokens(
    model: nn.Module, emb: nn.Embedding, batch_size: int, seq_len: int, seed: int, device: torch.device
) -> SyntheticBatch:
    vocab = emb.num_embeddings
    check = _checker("sequences", torch.long, batch_size, 8)
    _, out = _dry_output(model, [(seq_len,)], torch.long, device, check)
    common: dict[str, Any] = {"vocab": vocab, "seed": seed}
    if out.dim() == 3 and out.shape[-1] == vocab:
        return SyntheticBatch(
            "token_lm", "tokens", (seq_len,), torch.long, batch_size, tasks.token_lm_loss, "inputs", **common
        )
    if out.dim() == 2:
        classes = int(out.shape[1])
        return SyntheticBatch(
            "classification",
            "tokens",
            (seq_len,),
            torch.long,
            batch_size,
            tasks.classify_loss,
            classes=classes,
            **common,
        )
    raise TrainingError(f"{type(model).__name__} returns shape {tuple(out.shape)}; no synthetic task fits it")


def _describe_hf(model: nn.Module, batch_size: int, seq_len: int, seed: int) -> SyntheticBatch:
    cfg: Any = model.config  # a transformers PretrainedConfig (untyped here)
    task = tasks.hf_task(model)
    name = type(model).__name__
    if task == "image_classification":
        side = getattr(cfg, "image_size", 224) or 224  # an int, or (height, width) in some configs
        size = int(side[0] if isinstance(side, (tuple, list)) else side)
        shape = (int(getattr(cfg, "num_channels", 3) or 3), size, size)
        dtype = tasks.float_dtype(model)
        _checker("images", dtype, batch_size, 8)(shape)
        return SyntheticBatch(
            task, "images", shape, dtype, batch_size, tasks.classify_loss,
            key="pixel_values", classes=int(cfg.num_labels), seed=seed,
        )  # fmt: skip
    vocab = tasks.vocab_size(cfg)
    max_pos = getattr(cfg, "max_position_embeddings", None)
    if max_pos is not None and seq_len > max_pos:
        raise TrainingError(f"sequence length {seq_len} exceeds {name}'s max_position_embeddings ({max_pos})")
    _checker("sequences", torch.long, batch_size, 8 * seq_len)((seq_len,))
    common: dict[str, Any] = {"key": "input_ids", "vocab": vocab, "seed": seed}
    spec = (seq_len,), torch.long, batch_size
    if task == "sequence_classification":
        return SyntheticBatch(
            task, "tokens", *spec, tasks.classify_loss, classes=int(cfg.num_labels), **common
        )
    if task == "causal_lm":
        return SyntheticBatch(task, "tokens", *spec, tasks.hf_label_loss, "inputs", **common)
    if task == "masked_lm":
        mask_id = getattr(cfg, "mask_token_id", None)
        mask = vocab - 1 if mask_id is None else int(mask_id)
        return SyntheticBatch(task, "tokens", *spec, tasks.hf_label_loss, "masked", mask_id=mask, **common)
    hidden = getattr(cfg, "hidden_size", None)
    if hidden is None:
        raise TrainingError(f"{name} has no task head freezegui knows how to train; load a *For...* class")
    return SyntheticBatch(
        task, "tokens", *spec, tasks.hf_features_loss, "target", width=int(hidden), model_name=name, **common
    )
