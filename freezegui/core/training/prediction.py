"""The cost planner's forecast for a training run, made once before its first step.

A run reports it beside what it measured: the predicted peak beside ``torch.cuda.max_memory_allocated``
(CUDA; on CPU the peak is not measured), and the predicted step-FLOPs ratio to full fine-tuning
beside the measured ms/step (a single run has no full fine-tune timing to divide by:
:func:`freezegui.core.training.compare.compare_methods` measures both). Planning runs a meta step of
the selection and one of full fine-tuning (about 0.6 s for a ResNet-18 here); a model whose forward
cannot run on meta gets the state part and a note, and a planner failure never stops the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from torch import nn

from freezegui.core.models.wrappers import unwrap
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.structure.counting import format_bytes

if TYPE_CHECKING:
    from freezegui.core.plan import Plan
    from freezegui.core.training.config import TrainingConfig


@dataclass(frozen=True)
class Prediction:
    """What the planner predicted for one run (bytes per device, FLOPs ratios to full fine-tuning)."""

    peak_bytes: int | None = None
    state_bytes: int | None = None
    activations_bytes: int | None = None
    step_flops_ratio: float | None = None
    peak_ratio: float | None = None
    plan_s: float = 0.0
    note: str = ""  # why a part (or all) of the prediction is missing

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self, measured_peak: int | None, ms_per_step: float | None) -> list[str]:
        """The prediction beside what the run measured, each clearly labelled."""
        if self.peak_bytes is None:
            return [f"plan: no prediction ({self.note})"]
        measured = (
            f"measured peak {format_bytes(measured_peak)} (torch.cuda.max_memory_allocated, "
            f"{measured_peak / self.peak_bytes:.2f}x of predicted)"
            if measured_peak is not None and self.peak_bytes
            else "measured peak: not measured on CPU"
        )
        out = [
            f"plan: predicted peak {format_bytes(self.peak_bytes)} (training state "
            f"{format_bytes(self.state_bytes or 0)} + activations {format_bytes(self.activations_bytes or 0)} "
            f"+ largest temporary) · {measured}"
        ]
        speed = f"{ms_per_step:.1f} ms/step measured" if ms_per_step is not None else "no step timed"
        if self.step_flops_ratio is not None:
            out.append(
                f"plan: step FLOPs {self.step_flops_ratio:.2f}x of full fine-tuning (predicted) · {speed} "
                "(full fine-tuning not timed in this run; `freezegui train --compare-methods` times both)"
            )
        if self.note:
            out.append(f"plan: note: {self.note}")
        out.append(f"plan: made in {self.plan_s:.2f} s before the first step")
        return out


def predict(model: nn.Module, rules: RuleSet, config: TrainingConfig) -> tuple[Plan | None, Prediction]:
    """Plan ``model`` under ``rules`` with the run's batch, length and optimizer (never raises)."""
    from freezegui.core.plan import length_kind, plan

    t0 = time.perf_counter()
    optimizer = "sgd-momentum" if config.optimizer == "sgd" and config.momentum else config.optimizer
    image_size = config.image_size
    if image_size is None and config.data != "synthetic" and length_kind(model) == "pixels":
        image_size = 224  # an image folder's default size
    stages = len(rules.schedule)
    try:
        k, planned = costliest_stage(
            model,
            rules,
            lambda rs, full: plan(
                model,
                rs,
                batch_size=config.batch_size,
                seq_len=config.seq_len,
                image_size=image_size,
                optimizer=optimizer,
                full_finetune=full,
            ),
        )
    except BaseException as exc:  # user code's sys.exit / Ctrl+C in the plan's forward too:
        # the prediction is optional; a planner problem is a note in the report, never a failed run
        from freezegui.core.messages import error_line

        note = f"the planner failed ({error_line(exc, 200)})"
        return None, Prediction(plan_s=time.perf_counter() - t0, note=note)
    rank = planned.per_rank
    return planned, Prediction(
        peak_bytes=rank.peak_bytes,
        state_bytes=rank.state_bytes,
        activations_bytes=rank.activations_bytes if planned.step_ran else None,
        step_flops_ratio=planned.ratio("step_flops") if planned.step_ran else None,
        peak_ratio=planned.ratio("peak_bytes"),
        plan_s=time.perf_counter() - t0,
        note="; ".join(
            n
            for n in (planned.message, f"planned at stage {k} of {stages}, the costliest" if stages else "")
            if n
        ),
    )


def costliest_stage(
    model: nn.Module, rules: RuleSet, plan_one: Callable[[RuleSet, Plan | None], Plan]
) -> tuple[int, Plan]:
    """The stage whose plan has the highest per-GPU peak, and that plan (stage 0 without a
    schedule). Stage rules may freeze as well as train, so no stage is the costliest by position;
    stages that train the same tensors are planned once, and the full fine-tune plan is shared."""
    from freezegui.core.lr.evaluate import evaluate_stages
    from freezegui.core.structure.tree import build_tree

    seen: dict[bytes, int] = {}
    best: tuple[int, Plan] | None = None
    full: Plan | None = None
    states = evaluate_stages(build_tree(unwrap(model).model), rules) if rules.schedule else []
    for k in range(len(rules.schedule) + 1):
        key = states[k].trainable.tobytes() if states else b""
        if key in seen:
            continue
        seen[key] = k
        planned = plan_one(rules.at_stage(k), full)
        full = planned.full_finetune
        if best is None or planned.per_rank.peak_bytes > best[1].per_rank.peak_bytes:
            best = (k, planned)
    assert best is not None
    return best
