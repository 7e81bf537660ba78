"""A plan's numbers: training state, saved activations, peak and FLOPs, per job and per rank."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from freezegui.core.plan.modules import ModuleCost
from freezegui.core.plan.options import PlanOptions
from freezegui.core.structure.counting import Counts, format_bytes

KEYS = (
    "weights_bytes",
    "gradients_bytes",
    "optimizer_bytes",
    "activations_bytes",
    "peak_bytes",
    "forward_flops",
    "backward_flops",
    "step_flops",
)


@dataclass(frozen=True)
class Cost:
    """Bytes and FLOPs of one training step. ``peak_bytes`` is state + activations + largest temporary."""

    weights_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int = 0
    temporary_bytes: int = 0
    forward_flops: int = 0
    backward_flops: int = 0

    @property
    def state_bytes(self) -> int:
        return self.weights_bytes + self.gradients_bytes + self.optimizer_bytes

    @property
    def peak_bytes(self) -> int:
        return self.state_bytes + self.activations_bytes + self.temporary_bytes

    @property
    def step_flops(self) -> int:
        return self.forward_flops + self.backward_flops

    def as_dict(self) -> dict[str, int]:
        return {key: int(getattr(self, key)) for key in KEYS}


@dataclass
class Plan:
    """The cost of training one selection, and the same for full fine-tuning (``full_finetune``).

    ``cost`` is the whole job (all ranks); ``per_rank`` what one GPU holds and computes. ``step_ran``
    is False when the forward could not run on the meta device: ``message`` says why, and only the
    training state (weights, gradients, optimizer) is known. ``modules`` (a plan made with
    ``per_module=True`` whose step ran): every module's :class:`ModuleCost` by path, in tree order,
    per GPU; the root's (``""``) equal ``per_rank``'s activations and FLOPs.
    """

    cost: Cost
    per_rank: Cost
    counts: Counts
    options: PlanOptions
    step_ran: bool = True
    message: str = ""
    full_finetune: Plan | None = field(default=None, repr=False)
    modules: dict[str, ModuleCost] | None = field(default=None, repr=False)

    weights_bytes = property(lambda self: self.cost.weights_bytes)
    gradients_bytes = property(lambda self: self.cost.gradients_bytes)
    optimizer_bytes = property(lambda self: self.cost.optimizer_bytes)
    activations_bytes = property(lambda self: self.cost.activations_bytes)
    temporary_bytes = property(lambda self: self.cost.temporary_bytes)
    peak_bytes = property(lambda self: self.cost.peak_bytes)
    forward_flops = property(lambda self: self.cost.forward_flops)
    backward_flops = property(lambda self: self.cost.backward_flops)
    step_flops = property(lambda self: self.cost.step_flops)

    def fits(self, gpu_bytes: float) -> bool:
        """Does one rank's peak fit a GPU of this size?"""
        return self.per_rank.peak_bytes <= gpu_bytes

    def ratio(self, key: str) -> float | None:
        """This selection's ``key`` over full fine-tuning's (None when either is unknown or zero)."""
        full = self.full_finetune
        if full is None:
            return None
        a, b = getattr(self.cost, key), getattr(full.cost, key)
        return a / b if b else None

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` shape: exactly :data:`KEYS` (integers), ``full_finetune`` and, for gpus > 1, ``per_rank``."""
        out: dict[str, Any] = self.cost.as_dict()
        if self.full_finetune is not None:
            out["full_finetune"] = self.full_finetune.cost.as_dict()
        if self.options.gpus > 1:
            out["per_rank"] = self.per_rank.as_dict()
        return out

    def lines(self) -> list[str]:
        """A readable table: this selection beside full fine-tuning and the ratio."""
        full = self.full_finetune
        head = f"{'':<22}{'this selection':>18}{'full fine-tune':>18}{'ratio':>9}"
        out = [head, "-" * len(head)]
        rows = [(k.removesuffix("_bytes").removesuffix("_flops"), k) for k in KEYS]
        for label, key in rows:
            fmt = format_flops if key.endswith("_flops") else format_bytes
            mine = getattr(self.cost, key)
            theirs = getattr(full.cost, key) if full is not None else None
            ratio = self.ratio(key)
            name = f"{label} {'FLOPs' if key.endswith('_flops') else ''}".strip()
            out.append(
                f"{name:<22}{fmt(mine):>18}{fmt(theirs) if theirs is not None else '-':>18}"
                f"{f'{ratio:.3g}x' if ratio is not None else '-':>9}"
            )
        if self.options.gpus > 1:
            out.append(
                f"per rank ({self.options.gpus} GPUs, shard {self.options.shard}): peak "
                f"{format_bytes(self.per_rank.peak_bytes)}, step {format_flops(self.per_rank.step_flops)} FLOPs"
            )
        if not self.step_ran:
            out.append(f"note: {self.message}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def format_flops(n: float) -> str:
    """``2.37e9`` -> ``'2.37 G'``."""
    for scale, unit in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f}"
