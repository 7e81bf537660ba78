"""Full fine-tuning vs method 1 (requires_grad) vs method 2 (lr_zero) on the same data and steps.

Method 1 skips gradients and optimizer state for frozen parameters (and the backward pass below the
lowest trainable layer); method 2 computes everything and discards the frozen part with lr 0. Each run
starts from its own copy of the same weights. Memory is the training state (weights + gradients +
optimizer state, exact tensor bytes; activations are not included) and, on CUDA, the peak allocated.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import gc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.runtime.apply import RulesLike, as_ruleset
from freezegui.core.structure.counting import format_bytes
from freezegui.core.training.config import TrainingConfig
from freezegui.core.training.engine import TrainingRun
from freezegui.core.training.report import StepResult, TrainingReport, TrainingStatus

METHOD_LABELS = {
    "full": "full fine-tune",
    "requires_grad": "method 1: requires_grad",
    "lr_zero": "method 2: lr_zero",
}


@dataclass
class MethodResult:
    """One row of the comparison, with the cost planner's prediction for it (None if it could not plan)."""

    name: str
    report: TrainingReport
    plan: Any = None  # freezegui.core.plan.Plan

    @property
    def label(self) -> str:
        return METHOD_LABELS[self.name]

    def as_dict(self) -> dict[str, Any]:
        r = self.report
        return {
            "method": self.name,
            "status": r.status,
            "trainable": r.counts.trainable,
            "time_per_step_s": r.time_per_step,
            "state_bytes": r.memory.state_bytes,
            "grads_bytes": r.memory.grads_bytes,
            "optimizer_bytes": r.memory.optimizer_bytes,
            "peak_device_bytes": r.memory.peak_device_bytes,
            "first_loss": r.first_loss,
            "last_loss": r.last_loss,
            "frozen_verified": r.proof.frozen_verified_elements if r.proof else None,
            "proof_ok": r.proof.ok if r.proof else None,
            "plan_step_flops_ratio": self.plan.ratio("step_flops") if self.plan is not None else None,
            "plan_peak_bytes": self.plan.peak_bytes if self.plan is not None else None,
        }


def compare_methods(
    model: nn.Module,
    config: TrainingConfig,
    *,
    rules: RulesLike,
    spec: str | None = None,
    on_step: Callable[[str, StepResult], Any] | None = None,
    methods: tuple[str, ...] = ("full", "requires_grad", "lr_zero"),
    **run_kwargs: Any,
) -> list[MethodResult]:
    """Train a fresh copy of ``model`` per method with identical settings; ``model`` itself is not touched."""
    base: RuleSet = as_ruleset(rules)
    results: list[MethodResult] = []
    for name in methods:
        if name == "full":
            rs, method = RuleSet(default="train", batchnorm=base.batchnorm), "requires_grad"
        else:
            rs, method = base, name
        trial = copy.deepcopy(model)
        run = TrainingRun(
            trial, dataclasses.replace(config, method=method), rules=rs, spec=spec, **run_kwargs
        )
        report = run.run(None if on_step is None else functools.partial(on_step, name))
        results.append(MethodResult(name, report, run.plan))  # the run's own plan, made before its first step
        run.release()
        del trial, run
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if report.status == TrainingStatus.STOPPED:
            break
    return results


def format_comparison(results: list[MethodResult]) -> str:
    """A plain-text table: time per step, training state, peak device memory, loss, proof."""
    header = (
        "method",
        "trainable",
        "ms/step",
        "vs full",
        "state",
        "grads+optim",
        "peak device",
        "loss",
        "frozen ok",
        "plan vs full",
        "plan peak",
    )
    full = next((r.report.time_per_step for r in results if r.name == "full"), None)
    rows = []
    for r in results:
        rep = r.report
        tps = rep.time_per_step
        ratio = f"{tps / full:.2f}x" if tps and full else "-"
        rows.append(
            (
                r.label,
                f"{rep.counts.trainable:,}",
                f"{tps * 1000:.1f}" if tps else "-",
                ratio,
                format_bytes(rep.memory.state_bytes),
                format_bytes(rep.memory.grads_bytes + rep.memory.optimizer_bytes),
                format_bytes(rep.memory.peak_device_bytes)
                if rep.memory.peak_device_bytes is not None
                else "n/a",
                f"{rep.first_loss:.3f}→{rep.last_loss:.3f}" if rep.losses else "-",
                ("yes" if rep.proof.ok else "NO") if rep.proof and rep.proof.frozen_tensors else "-",
                _plan_ratio(r.plan),
                format_bytes(r.plan.peak_bytes) if r.plan is not None else "-",
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    lines.append(
        "state = weights + gradients + optimizer state (exact tensor bytes, activations not counted); "
        "peak device = torch.cuda.max_memory_allocated (CUDA only); plan vs full = the planner's "
        "step-FLOPs ratio to full fine-tuning (compare with 'vs full'), plan peak = its predicted peak memory"
    )
    return "\n".join(lines)


def _plan_ratio(predicted: Any) -> str:
    ratio = predicted.ratio("step_flops") if predicted is not None else None
    return f"{ratio:.2f}x" if ratio is not None else "-"
