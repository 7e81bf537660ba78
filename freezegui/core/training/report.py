"""What a training run reports: one :class:`StepResult` per step and a :class:`TrainingReport` at the end.

Kept apart from the engine so that saving (:mod:`freezegui.core.training.checkpoint`) and the
comparison can use the report without importing the training loop.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass, field
from typing import Any

from freezegui.core.strenum import StrEnum
from freezegui.core.structure.counting import Counts, format_bytes, format_count
from freezegui.core.training.prediction import Prediction
from freezegui.core.training.proof import ProofReport


class TrainingStatus(StrEnum):
    """How a run ended (the ``status`` of a :class:`TrainingReport` and of its JSON)."""

    COMPLETED = "completed"
    STOPPED = "stopped"  # a stop request, Ctrl+C, or the caller closed the generator
    DIVERGED = "diverged"  # the loss became NaN or infinite
    FAILED = "failed"  # a step raised


@dataclass(frozen=True, slots=True)
class StepResult:
    """One finished step. ``elapsed`` is wall time since the first step began; ``eta`` the time left."""

    step: int
    steps: int
    loss: float
    examples_per_s: float
    elapsed: float
    eta: float
    stage: int = 0  # schedule stages applied before this step (a loss chart marks where it grows)
    epoch: int = 0  # epochs completed before this step (0 in the first), as Lightning's current_epoch
    evaluation: Evaluation | None = None  # the held-out score after this step, when one was due


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The held-out score after ``step``: loss (per example, or per target token) and the task's metric."""

    step: int
    loss: float
    metric: str | None  # "accuracy" | "perplexity" | None (a task without one)
    value: float | None
    examples: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def text(self) -> str:
        """``val loss 0.412 · accuracy 87.2 %`` (perplexity as a plain number)."""
        out = f"val loss {self.loss:.4f}"
        if self.metric == "accuracy" and self.value is not None:
            out += f" · accuracy {self.value * 100:.1f} %"
        elif self.metric is not None and self.value is not None:
            out += f" · {self.metric} {self.value:.2f}"
        return out


@dataclass
class MemoryStats:
    """Training state in bytes: weights, gradients and optimizer state (activations are not counted).

    ``peak_device_bytes`` is ``torch.cuda.max_memory_allocated`` on CUDA (activations included), else None.
    """

    params_bytes: int = 0
    grads_bytes: int = 0
    optimizer_bytes: int = 0
    peak_device_bytes: int | None = None

    @property
    def state_bytes(self) -> int:
        return self.params_bytes + self.grads_bytes + self.optimizer_bytes

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "state_bytes": self.state_bytes}


@dataclass
class TrainingReport:
    """How a run ended, what it measured, and the frozen-weights proof."""

    status: TrainingStatus
    message: str
    steps_done: int
    steps_planned: int
    method: str
    optimizer: str
    device: str
    data: str
    counts: Counts
    losses: list[float] = field(default_factory=list)
    step_times: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    examples_per_s: float = 0.0
    proof: ProofReport | None = None
    memory: MemoryStats = field(default_factory=MemoryStats)
    config: dict[str, Any] = field(default_factory=dict)
    saved: list[str] = field(default_factory=list)
    steps_per_epoch: int | None = None  # one pass over the data; None when it has no length
    stages_not_reached: list[str] = field(default_factory=list)  # "stage 2 at epoch 3" labels
    prediction: Prediction | None = None  # the cost planner's forecast, made before the first step
    evaluations: list[Evaluation] = field(default_factory=list)  # held-out scores, in step order
    val_description: str | None = None  # what was held out (None: no validation data)
    val_digest: str | None = None  # identifies the held-out examples (equal across compared runs)

    @property
    def final_evaluation(self) -> Evaluation | None:
        return self.evaluations[-1] if self.evaluations else None

    @property
    def ok(self) -> bool:
        """Completed and proven: every frozen tensor bit-identical."""
        return self.status == TrainingStatus.COMPLETED and (self.proof is None or self.proof.ok)

    @property
    def first_loss(self) -> float | None:
        return self.losses[0] if self.losses else None

    @property
    def last_loss(self) -> float | None:
        return self.losses[-1] if self.losses else None

    @property
    def time_per_step(self) -> float | None:
        """Median step time, leaving out the first (warm-up) step when there are others."""
        times = self.step_times[1:] if len(self.step_times) > 1 else self.step_times
        return statistics.median(times) if times else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "ok": self.ok,
            "message": self.message,
            "steps_done": self.steps_done,
            "steps_planned": self.steps_planned,
            "method": self.method,
            "optimizer": self.optimizer,
            "device": self.device,
            "data": self.data,
            "counts": self.counts.as_dict(),
            "first_loss": self.first_loss,
            "last_loss": self.last_loss,
            "losses": self.losses,
            "elapsed_s": round(self.elapsed, 4),
            "time_per_step_s": self.time_per_step,
            "examples_per_s": round(self.examples_per_s, 3),
            "memory": self.memory.as_dict(),
            "proof": self.proof.as_dict() if self.proof else None,
            "config": self.config,
            "saved": self.saved,
            "steps_per_epoch": self.steps_per_epoch,
            "stages_not_reached": self.stages_not_reached,
            "prediction": self.prediction.as_dict() if self.prediction is not None else None,
            **self._validation_dict(),
        }

    def _validation_dict(self) -> dict[str, Any]:
        last = self.final_evaluation
        return {
            "val_loss": last.loss if last else None,
            "val_metric": last.value if last else None,
            "metric": last.metric if last else None,
            "val_examples": last.examples if last else None,
            "val_digest": self.val_digest,
            "val_data": self.val_description,
            "evaluations": [e.as_dict() for e in self.evaluations],
        }

    def lines(self) -> list[str]:
        """The report in words (the CLI prints these, the app shows them)."""
        out = [f"status: {self.status}" + (f" — {self.message}" if self.message else "")]
        out.append(
            f"steps: {self.steps_done}/{self.steps_planned} · method {self.method} · optimizer {self.optimizer} "
            f"· device {self.device}"
        )
        per_epoch = f" ({self.steps_per_epoch} steps per epoch)" if self.steps_per_epoch else ""
        out.append(f"data: {self.data}{per_epoch}")
        out.append(self._parameters_line())
        if self.losses:
            out.append(f"loss: {self.losses[0]:.4f} → {self.losses[-1]:.4f}")
        last = self.final_evaluation
        if last is not None:
            out.append(f"validation after step {last.step}: {last.text()} on {self.val_description}")
        tps = self.time_per_step
        if tps is not None:
            out.append(self._time_line(tps))
        mem = self.memory
        line = (
            f"training state: {format_bytes(mem.state_bytes)} (weights {format_bytes(mem.params_bytes)}, "
            f"gradients {format_bytes(mem.grads_bytes)}, optimizer {format_bytes(mem.optimizer_bytes)})"
        )
        if mem.peak_device_bytes is not None:
            line += f" · peak device memory {format_bytes(mem.peak_device_bytes)}"
        out.append(line)
        if self.prediction is not None:
            tps = self.time_per_step
            out += self.prediction.lines(mem.peak_device_bytes, tps * 1000 if tps is not None else None)
        if self.proof is not None:
            out += self.proof.lines()
        out += [
            f"note: {label} was not reached in {self.steps_done} steps" for label in self.stages_not_reached
        ]
        out += [f"saved: {p}" for p in self.saved]
        return out

    def _parameters_line(self) -> str:
        """Trainable and frozen counts; with a schedule, at the start and after the last stage reached
        (what the proof's "trainable parameters changed" counts), so the two lines agree."""
        c = self.counts
        unfrozen = sum(s.unfrozen_elements for s in self.proof.stages) if self.proof is not None else 0
        if not unfrozen:
            return (
                f"parameters: trainable {c.trainable:,} ({format_count(c.trainable)}) · "
                f"frozen {c.frozen:,} ({format_count(c.frozen)})"
            )
        assert self.proof is not None
        end, last = c.trainable + unfrozen, self.proof.stages[-1].stage
        return (
            f"parameters: trainable {c.trainable:,} at the start, {end:,} ({format_count(end)}) after "
            f"stage {last} (the schedule unfroze {unfrozen:,}) · frozen {c.total - end:,} at the end"
        )

    def _time_line(self, median: float) -> str:
        """Mean ms/step and examples/s are one number said two ways (batch / rate); the median leaves
        the first (warm-up) step out, which is why it can be much lower."""
        batch = int(self.config.get("batch_size") or 0)
        mean = (
            f"{1000 * batch / self.examples_per_s:.1f} ms/step mean, "
            if batch and self.examples_per_s
            else ""
        )
        return (
            f"time: {self.elapsed:.2f} s · {mean}{self.examples_per_s:.1f} examples/s · "
            f"{median * 1000:.1f} ms/step median after the first step"
        )

    def __str__(self) -> str:
        return "\n".join(self.lines())
