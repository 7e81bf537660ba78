"""Which selection is better: train each from the same initial weights on the same batches, side by side.

Every run gets its own copy of the model and the same config (so the same seed: the same new head,
the same data order, the same held-out examples). A run that cannot start or fails ends with its
message and the others go on; a stop request ends the comparison after the current step.
"""

from __future__ import annotations

import copy
import gc
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from freezegui.core.editing.selection import Selection
from freezegui.core.errors import FreezeguiError
from freezegui.core.messages import reason
from freezegui.core.runtime.apply import RulesLike
from freezegui.core.structure.counting import format_bytes
from freezegui.core.training.config import TrainingConfig
from freezegui.core.training.engine import TrainingRun
from freezegui.core.training.report import StepResult, TrainingReport, TrainingStatus

_SPARK = "▁▂▃▄▅▆▇█"


@dataclass
class SelectionResult:
    """One row of the comparison: the run's report, or why it could not run."""

    label: str
    report: TrainingReport | None
    message: str = ""
    plan_peak_bytes: int | None = None

    @property
    def ok(self) -> bool:
        return self.report is not None and self.report.ok

    def as_dict(self) -> dict[str, Any]:
        r = self.report
        last = r.final_evaluation if r is not None else None
        tps = r.time_per_step if r is not None else None
        return {
            "rules": self.label,
            "status": str(r.status) if r is not None else str(TrainingStatus.FAILED),
            "message": r.message if r is not None else self.message,
            "trainable": r.counts.trainable if r is not None else None,
            "val_loss": last.loss if last else None,
            "val_metric": last.value if last else None,
            "metric": last.metric if last else None,
            "ms_per_step": tps * 1000 if tps is not None else None,
            "peak_bytes": r.memory.peak_device_bytes if r is not None else None,
            "plan_peak_bytes": self.plan_peak_bytes,
            "train_loss": list(r.losses) if r is not None else [],
            "val_curve": [[e.step, e.loss] for e in r.evaluations] if r is not None else [],
            "val_examples": last.examples if last else None,
            "val_digest": r.val_digest if r is not None else None,
            "proof_ok": r.proof.ok if r is not None and r.proof is not None else None,
        }


@dataclass(frozen=True)
class CompareEvent:
    """What the comparison did: run ``index`` began (neither set), made a step, or ended (``result``)."""

    index: int
    label: str
    step: StepResult | None = None
    result: SelectionResult | None = None


Entry = tuple[str, "RulesLike | Selection | None"]  # (label, rules, a Selection, or None: full fine-tune)


class Comparison:
    """Runs ``entries`` one after another; :meth:`events` is the one way to drive it (CLI and app)."""

    def __init__(
        self,
        model: nn.Module,
        config: TrainingConfig,
        entries: Sequence[Entry],
        *,
        spec: str | None = None,
        model_dir: Any = None,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.model, self.config, self.entries = model, config, list(entries)
        self.spec, self.model_dir = spec, model_dir
        self._stop = stop_event or threading.Event()
        self.results: list[SelectionResult] = []

    def stop(self) -> None:
        """End the comparison after the current step (thread-safe); later runs do not start."""
        self._stop.set()

    def events(self) -> Generator[CompareEvent, None, list[SelectionResult]]:
        for index, (label, rules) in enumerate(self.entries):
            if self._stop.is_set():
                break
            yield CompareEvent(index, label)
            result = yield from self._one(index, label, rules)
            self.results.append(result)
            yield CompareEvent(index, label, result=result)
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        return self.results

    def _one(
        self, index: int, label: str, rules: RulesLike | Selection | None
    ) -> Generator[CompareEvent, None, SelectionResult]:
        kwargs: dict[str, Any] = {"spec": self.spec, "model_dir": self.model_dir, "stop_event": self._stop}
        if isinstance(rules, Selection):
            kwargs["selection"] = rules
        elif rules is not None:
            kwargs["rules"] = rules
        try:
            run = TrainingRun(copy.deepcopy(self.model), self.config, **kwargs)
            for step in run.steps():
                yield CompareEvent(index, label, step=step)
        except FreezeguiError as exc:
            return SelectionResult(label, None, str(exc))
        except Exception as exc:  # a run that cannot even start must not end the others
            return SelectionResult(label, None, f"{type(exc).__name__}: {reason(exc)}")
        plan = run.plan.peak_bytes if run.plan is not None else None
        run.release()
        return SelectionResult(label, run.report, plan_peak_bytes=plan)


def overall(event: CompareEvent, runs: int, steps: int) -> tuple[int, int, float | None]:
    """``(steps done, steps in all, seconds left)`` of the whole comparison after a step event."""
    total = runs * steps
    if event.step is None:
        return event.index * steps, total, None
    s = event.step
    per_step = s.elapsed / s.step if s.step else 0.0
    return event.index * steps + s.step, total, s.eta + (runs - event.index - 1) * steps * per_step


def sparkline(values: Sequence[float], width: int = 16) -> str:
    """A loss curve in one line of block characters (``width`` buckets, each its mean)."""
    if not values:
        return "-"
    size = max(1, -(-len(values) // width))
    means = [sum(values[i : i + size]) / len(values[i : i + size]) for i in range(0, len(values), size)]
    lo, hi = min(means), max(means)
    span = (hi - lo) or 1.0
    return "".join(_SPARK[min(7, int((v - lo) / span * 7.999))] for v in means)


def _metric_cell(row: dict[str, Any]) -> str:
    value, metric = row["val_metric"], row["metric"]
    if value is None:
        return "-"
    return f"{value * 100:.1f} %" if metric == "accuracy" else f"{value:.3g}"


def format_selections(results: Sequence[SelectionResult]) -> str:
    """The comparison as a plain-text table, with the loss curves and what the columns mean."""
    rows = [r.as_dict() for r in results]
    metrics = {row["metric"] for row in rows if row["metric"]}
    metric = metrics.pop() if len(metrics) == 1 else "metric"
    header = (
        "rules",
        "trainable",
        "val loss",
        metric,
        "ms/step",
        "peak (measured / plan)",
        "loss curve",
        "status",
    )
    table = []
    for row in rows:
        peak = format_bytes(row["peak_bytes"]) if row["peak_bytes"] is not None else "n/a"
        plan = format_bytes(row["plan_peak_bytes"]) if row["plan_peak_bytes"] is not None else "-"
        table.append(
            (
                row["rules"],
                f"{row['trainable']:,}" if row["trainable"] is not None else "-",
                f"{row['val_loss']:.4f}" if row["val_loss"] is not None else "-",
                _metric_cell(row),
                f"{row['ms_per_step']:.1f}" if row["ms_per_step"] is not None else "-",
                f"{peak} / {plan}",
                sparkline(row["train_loss"]),
                row["status"] + (f": {row['message']}" if row["message"] else ""),
            )
        )
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip() for t in table]
    digests = {row["val_digest"] for row in rows if row["val_digest"]}
    if len(digests) == 1 and rows[0]["val_examples"]:
        lines.append(f"every run was scored on the same {rows[0]['val_examples']} held-out examples")
    lines.append(
        "peak measured = torch.cuda.max_memory_allocated (n/a on CPU); plan = the cost planner's prediction; "
        "loss curve = training loss, first step to last"
    )
    return "\n".join(lines)


CSV_COLUMNS = (
    "rules",
    "status",
    "trainable",
    "val_loss",
    "val_metric",
    "metric",
    "ms_per_step",
    "peak_bytes",
    "plan_peak_bytes",
    "val_examples",
    "message",
)


def selections_csv(results: Sequence[SelectionResult]) -> str:
    """The comparison as CSV: one row per selection, the training loss curve as a last column."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, "train_loss"])
    for r in results:
        row = r.as_dict()
        cells = ["" if row[c] is None else row[c] for c in CSV_COLUMNS]
        writer.writerow([*cells, " ".join(f"{x:.6g}" for x in row["train_loss"])])
    return out.getvalue()
