"""``freezegui probe``: which layers matter on this data, by their relative gradient norm (RGN).

K forward/backward passes of the whole model (every tensor gets a gradient, nothing is updated) on
the user's data or synthetic data, as the training engine builds it. For each module, over the
unique tensors in its subtree (a tied tensor once): ``grad_norm`` is ‖∇W‖ of a batch, averaged over
the K batches, and ``rgn`` that over ‖W‖ — the relative gradient norm Lee et al. ("Surgical
Fine-Tuning Improves Adaptation to Distribution Shifts", ICLR 2023) rank blocks by (Auto-RGN).
The passes run on a copy, so the model, its flags and its BatchNorm statistics stay as they were.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from freezegui.core.errors import TrainingError
from freezegui.core.messages import first_line
from freezegui.core.structure.tree import ModuleTree, build_tree
from freezegui.core.training.config import SYNTHETIC, TrainingConfig, resolve_device
from freezegui.core.training.data import TrainingData, make_data


@dataclass(frozen=True)
class ProbeStep:
    """One pass done (the app's progress)."""

    batch: int  # 1-based
    batches: int
    loss: float


@dataclass
class ProbeResult:
    """Per-module gradient norms and RGN, by module path (a model whose head the data resized
    keeps its other paths)."""

    paths: list[str]  # modules with parameters, in model order (the root, "", first)
    grad_norm: np.ndarray  # per path: mean over batches of ‖∇W‖
    weight_norm: np.ndarray  # per path: ‖W‖
    batches: int
    batch_size: int
    seed: int
    data: str
    device: str
    losses: list[float] = field(default_factory=list)

    @property
    def rgn(self) -> np.ndarray:
        """‖∇W‖ / ‖W‖ per path; 0 where both are 0, NaN where only ‖W‖ is (no ratio)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio: np.ndarray = np.asarray(self.grad_norm / self.weight_norm, dtype=np.float64)
        ratio[(self.weight_norm == 0) & (self.grad_norm == 0)] = 0.0
        ratio[(self.weight_norm == 0) & (self.grad_norm != 0)] = math.nan
        return ratio

    def by_path(self) -> dict[str, float]:
        """RGN by module path (NaN: no ratio)."""
        return dict(zip(self.paths, self.rgn.tolist()))

    def for_tree(self, tree: ModuleTree) -> np.ndarray:
        """RGN per module of ``tree`` (NaN where the probe has no value)."""
        found = self.by_path()
        return np.array([found.get(p, math.nan) for p in tree.paths], dtype=np.float64)

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` shape: ``modules: [{name, rgn, grad_norm}]`` (the root as the totals)."""
        rgn = self.rgn.tolist()
        modules = [
            {"name": p, "rgn": _finite(r), "grad_norm": float(g)}
            for p, r, g in zip(self.paths, rgn, self.grad_norm.tolist())
            if p
        ]
        total = self.paths.index("") if "" in self.paths else None
        return {
            "modules": modules,
            "rgn": _finite(rgn[total]) if total is not None else None,
            "grad_norm": float(self.grad_norm[total]) if total is not None else None,
            "batches": self.batches,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "data": self.data,
            "device": self.device,
            "loss": float(np.mean(self.losses)) if self.losses else None,
        }

    def lines(self, top: int = 20) -> list[str]:
        """The ``top`` modules by RGN, as a table."""
        order = sorted(
            (i for i, p in enumerate(self.paths) if p),
            key=lambda i: -np.nan_to_num(self.rgn[i], nan=-1.0),
        )
        out = [f"{'module':<48}{'RGN':>12}{'grad norm':>14}", "-" * 74]
        for i in order[:top]:
            out.append(f"{self.paths[i]:<48}{self.rgn[i]:>12.4g}{self.grad_norm[i]:>14.4g}")
        out.append(
            f"({len(order)} modules; {self.batches} batches of {self.batch_size}, {self.data}, {self.device})"
        )
        return out


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def probe(model: nn.Module, **kwargs: Any) -> ProbeResult:
    """:func:`probe_steps` run to the end."""
    steps = probe_steps(model, **kwargs)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: ProbeResult = done.value
            return result


def probe_steps(
    model: nn.Module,
    *,
    data: str | TrainingData | None = None,
    batches: int = 4,
    batch_size: int = 8,
    seed: int = 0,
    device: str = "auto",
    seq_len: int = 32,
    image_size: int | None = None,
    model_dir: str | Path | None = None,
    tokenizer: str | None = None,
) -> Generator[ProbeStep, None, ProbeResult]:
    """Run ``batches`` forward/backward passes of a copy of ``model`` and measure per-module norms.

    ``data``: ``None``/``"synthetic"``, an image folder or a text file (as ``freezegui train --data``),
    or a :class:`TrainingData` whose batches are on ``device``; ``model_dir``/``tokenizer``: where a
    text file's tokenizer is. Seeded by ``seed`` (data and dropout).
    Closing the generator stops after the current pass. Raises :class:`TrainingError` for a model
    without weights, bad data or a loss that is not finite.
    """
    if batches < 1 or batch_size < 1:
        raise TrainingError(f"batches and batch size must be at least 1, got {batches} and {batch_size}")
    if any(p.is_meta for p in model.parameters()):
        raise TrainingError(
            "the model was opened structure-only (no weights); reopen it with weights to probe"
        )
    dev = resolve_device(device)
    torch.manual_seed(seed)
    work = _copy_to(model, dev)
    source = _data_for(work, data, dev, batch_size, seed, seq_len, image_size, model_dir, tokenizer)
    tree = build_tree(work)  # after the data may have resized the head
    tensors = tree.tensors
    for t in tensors:
        t.requires_grad_(True)
    work.train()
    grad_sum = np.zeros(len(tree.modules))
    losses: list[float] = []
    for k in range(batches):
        losses.append(_pass(work, source, k, tensors))
        grad_sum += np.sqrt(subtree_sums(tree, _squares([t.grad for t in tensors])))
        yield ProbeStep(k + 1, batches, losses[-1])
    weight = np.sqrt(subtree_sums(tree, _squares(list(tensors))))
    keep = [i for i in range(len(tree.modules)) if tree.nparams[i]]
    return ProbeResult(
        paths=[tree.paths[i] for i in keep],
        grad_norm=grad_sum[keep] / batches,
        weight_norm=weight[keep],
        batches=batches,
        batch_size=batch_size,
        seed=seed,
        data=source.description,
        device=str(dev),
        losses=losses,
    )


def _data_for(
    work: nn.Module,
    data: str | TrainingData | None,
    dev: torch.device,
    batch_size: int,
    seed: int,
    seq_len: int,
    image_size: int | None,
    model_dir: str | Path | None,
    tokenizer: str | None,
) -> TrainingData:
    """The batches: given, or built as the training engine builds them (it may resize the head)."""
    if isinstance(data, TrainingData):
        return data
    config = TrainingConfig(
        batch_size=batch_size,
        seed=seed,
        data=data or SYNTHETIC,
        seq_len=seq_len,
        image_size=image_size,
        tokenizer=tokenizer,
    )
    config.validate()
    return make_data(work, config, dev, model_dir=model_dir)


def _copy_to(model: nn.Module, device: torch.device) -> nn.Module:
    try:
        return copy.deepcopy(model).to(device)
    except (RuntimeError, MemoryError) as exc:
        raise TrainingError(f"cannot copy the model to {device} to probe it: {first_line(exc)}") from None


def _pass(work: nn.Module, source: TrainingData, k: int, tensors: list[torch.Tensor]) -> float:
    """One forward/backward on batch ``k``; leaves each tensor's gradient of that batch alone."""
    for t in tensors:
        t.grad = None
    loss = source.loss(work, source.batch(k))
    value = float(loss.detach())
    if not math.isfinite(value):
        raise TrainingError(f"the loss is {value} on batch {k + 1}; the probe needs a finite loss")
    loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
    return value


def _squares(tensors: list[torch.Tensor | None]) -> np.ndarray:
    """Per tensor: the sum of its squared entries, accumulated in float64 (0 for a missing gradient);
    computed where the tensors are and copied back once."""
    with torch.no_grad():
        values = [
            torch.linalg.vector_norm(t.detach(), dtype=torch.float64).square()
            if t is not None
            else torch.zeros((), dtype=torch.float64)
            for t in tensors
        ]
        if not values:
            return np.zeros(0)
        devices = {v.device for v in values}
        if len(devices) > 1:
            values = [v.cpu() for v in values]
        return torch.stack(values).cpu().numpy()


def subtree_sums(tree: ModuleTree, values: np.ndarray) -> np.ndarray:
    """Per module: ``values`` (one per unique tensor) summed over its subtree, each tensor once."""
    out = np.zeros(len(tree.modules))
    starts, ends, occ = tree.occ_start, tree.node_end, tree.occ_param
    for i in range(len(tree.modules)):
        lo, hi = int(starts[i]), int(starts[ends[i]])
        if hi > lo:
            out[i] = values[np.unique(occ[lo:hi])].sum()
    return out
