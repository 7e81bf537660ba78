"""The training engine: a generator of per-step results, shared by the CLI and the app.

``TrainingRun(model, config, rules=...).steps()`` prepares everything (data, freezing, optimizer, the
frozen-weights snapshot) before the first step, raising :class:`TrainingError` for anything wrong, then
yields one :class:`StepResult` per step. A stop request (:meth:`TrainingRun.stop`, thread-safe) is
honoured between steps. However the loop ends (finished, stopped, a NaN loss, a step that raised),
the generator returns a :class:`TrainingReport` with the frozen-weights proof, also kept as ``run.report``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from freezegui.core.editing.selection import Selection
from freezegui.core.errors import FreezeguiError, TrainingError
from freezegui.core.models.loading import SpecKind, parse_spec
from freezegui.core.rules.ruleset import Method, RuleSet
from freezegui.core.runtime.apply import RulesLike, apply_rules, as_ruleset, param_groups
from freezegui.core.structure.counting import Counts
from freezegui.core.structure.tree import build_tree
from freezegui.core.training.adapters import (
    adapter_writer,
    has_adapters,
    trainable_flags,
    wrap_with_adapters,
)
from freezegui.core.training.checkpoint import save_checkpoint
from freezegui.core.training.config import TrainingConfig, resolve_device
from freezegui.core.training.data import TrainingData
from freezegui.core.training.evaluation import evaluate
from freezegui.core.training.prediction import Prediction, predict
from freezegui.core.training.proof import FrozenSnapshot
from freezegui.core.training.report import (
    Evaluation,
    MemoryStats,
    StepResult,
    TrainingReport,
    TrainingStatus,
)
from freezegui.core.training.sources import make_data
from freezegui.core.training.staging import Schedule, epoch_of, start_schedule


class _RunEnded(Exception):
    """Raised by a step that ends the run early; carries the report's status and message."""

    def __init__(self, status: TrainingStatus, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class TrainingRun:
    """One short training session on ``model`` (trained in place; pass a copy to keep the original).

    The freeze selection comes from ``rules`` (a :class:`RuleSet`, a rule file or its mapping) or from
    ``selection`` (an app :class:`Selection`); with neither, every parameter trains (full fine-tune).
    ``config.method`` overrides the rules' method. ``spec``/``model_dir`` locate a tokenizer for text data.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainingConfig | None = None,
        *,
        rules: RulesLike | None = None,
        selection: Selection | None = None,
        spec: str | None = None,
        model_dir: str | os.PathLike[str] | None = None,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.model = model
        self.config = config or TrainingConfig()
        self.spec = spec
        self.model_dir = Path(model_dir) if model_dir is not None else _model_dir_of(spec)
        self._stop = stop_event or threading.Event()
        self._rules_in = rules
        self._selection = selection
        self.rules: RuleSet | None = None
        self.data: TrainingData | None = None
        self.device: torch.device | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.counts: Counts | None = None
        self.frozen_norm_layers: list[str] = []
        self.report: TrainingReport | None = None
        self._snapshot: FrozenSnapshot | None = None
        self.schedule: Schedule | None = None
        self.plan: Any = None  # freezegui.core.plan.Plan made before the first step (None if it failed)
        self.prediction: Prediction | None = None
        self.evaluations: list[Evaluation] = []
        self._prepared = False
        self.adapters = False  # the rules' `lora:` adapters wrap the model: self.model is a PeftModel

    # ------------------------------------------------------------------------------------- control
    def stop(self) -> None:
        """Ask the run to end after the current step (safe to call from any thread)."""
        self._stop.set()

    # ------------------------------------------------------------------------------------- setup
    def prepare(self) -> None:
        """Build data, freeze, make the optimizer and take the snapshot; every problem raises here."""
        if self._prepared:
            return
        cfg = self.config
        cfg.validate()
        model = self.model
        if any(p.is_meta for p in model.parameters()):
            raise TrainingError(
                "the model was opened structure-only (meta tensors, no weights); reopen it with weights to train"
            )
        rules = self._resolve_rules()
        self.device = device = resolve_device(cfg.device)
        torch.manual_seed(cfg.seed)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        try:
            model.to(device)
        except (RuntimeError, torch.OutOfMemoryError) as exc:
            from freezegui.core.messages import error_line

            raise TrainingError(f"cannot move the model to {device}: {error_line(exc)}") from None
        try:
            self.data = make_data(model, cfg, device, model_dir=self.model_dir)
        except (RuntimeError, MemoryError) as exc:
            needs = allocation_message(exc, cfg.batch_size)
            if needs is None:
                raise
            raise TrainingError(needs) from None
        if self.data.head_replaced is not None:
            # The head now has the data's class count: a different architecture than the rules recorded.
            rules.model.fingerprint = None
            rules.model.num_classes = self.data.num_classes
        report = apply_rules(model, rules, strict=True)
        self.rules = rules
        self.counts = report.counts
        self.frozen_norm_layers = report.frozen_norm_layers
        if report.counts.trainable == 0 and not rules.schedule:
            raise TrainingError("nothing to train: the selection freezes every parameter")
        if cfg.predict:
            self.plan, self.prediction = predict(model, rules, cfg)
        self.adapters = wrapped = has_adapters(rules, report)
        if wrapped:  # the `lora:` section trains too: PEFT's layers on the targets
            self.model = model = wrap_with_adapters(model, rules, report)
        tree = build_tree(model)
        mask = trainable_flags(tree.tensors) if wrapped else report.trainable_mask
        assert mask is not None
        for p in tree.tensors:
            p.grad = None
        self.optimizer = self._make_optimizer(model, rules, tree.tensors, mask)
        self._snapshot = FrozenSnapshot(model, tree, mask, self.frozen_norm_layers)
        if rules.schedule:
            self.schedule = start_schedule(
                model, rules, self.optimizer, cfg.lr, cfg.weight_decay, self.data.steps_per_epoch
            )
        self._prepared = True

    def _resolve_rules(self) -> RuleSet:
        if self._rules_in is not None and self._selection is not None:
            raise TypeError("give rules or selection, not both")
        if self._selection is not None:
            rs = self._selection.to_rules()  # with the selection's lr scales
        elif self._rules_in is not None:
            rs = dataclasses.replace(as_ruleset(self._rules_in))
            rs.model = dataclasses.replace(rs.model)
        else:
            rs = RuleSet(default="train")
        if self.config.method is not None:
            rs.method = Method(self.config.method)
        return rs

    def _make_optimizer(
        self, model: nn.Module, rules: RuleSet, tensors: list[torch.Tensor], mask: np.ndarray
    ) -> torch.optim.Optimizer:
        cfg = self.config
        if rules.method == Method.LR_ZERO or rules.schedule or rules.has_scales:
            groups = param_groups(model, rules, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            groups = [
                {
                    "params": [t for t, f in zip(tensors, mask.tolist()) if f],
                    "weight_decay": cfg.weight_decay,
                }
            ]
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
        return torch.optim.AdamW(groups, lr=cfg.lr)

    # ------------------------------------------------------------------------------------- loop
    def steps(self) -> Generator[StepResult, None, TrainingReport]:
        """Prepare (raising :class:`TrainingError`), then yield a :class:`StepResult` per step.

        This generator is the one way to train: :meth:`stop` (from any thread) ends it before the next
        step, and closing it ends the run too. Its return value (and ``self.report``) is the
        :class:`TrainingReport`, made however the loop ended.
        """
        self.prepare()
        n, bs = self.config.steps, self.config.batch_size
        assert self.data is not None
        per_epoch = self.data.steps_per_epoch
        losses: list[float] = []
        times: list[float] = []
        status, message = TrainingStatus.COMPLETED, ""
        train_time = 0.0
        perf = time.perf_counter
        self.model.train()
        t0 = perf()
        try:
            for i in range(n):
                if self._stop.is_set():
                    status, message = TrainingStatus.STOPPED, f"stopped by request after {i} of {n} steps"
                    break
                ts = perf()
                try:
                    value = self._step(i)
                except _RunEnded as end:
                    status, message = end.status, end.message
                    break
                now = perf()
                dt = now - ts
                train_time += dt
                losses.append(value)
                times.append(dt)
                recent = times[-10:]
                eta = (n - i - 1) * (sum(recent) / len(recent))
                stage = self.schedule.current if self.schedule is not None else 0
                epoch = epoch_of(i, per_epoch)
                try:
                    scored = self._evaluate_due(i + 1)  # not in the step's time
                except _RunEnded as end:
                    status, message = end.status, end.message
                    break
                yield StepResult(
                    i + 1, n, value, (i + 1) * bs / train_time, now - t0, eta, stage, epoch, scored
                )
        except GeneratorExit:
            status, message = TrainingStatus.STOPPED, f"the caller stopped after {len(losses)} of {n} steps"
            raise
        finally:
            self.report = self._finish(status, message, losses, times, perf() - t0, train_time)
        return self.report

    def _step(self, i: int) -> float:
        """One optimizer step on batch ``i``; its loss. A step that cannot go on raises :class:`_RunEnded`."""
        data, opt = self.data, self.optimizer
        assert data is not None and opt is not None
        try:
            self._apply_stages(i)
            batch = data.batch(i)
            opt.zero_grad(set_to_none=True)
            loss = data.loss(self.model, batch)
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
            value = float(loss.item())
            if math.isfinite(value):
                opt.step()
        except KeyboardInterrupt:
            # Ctrl+C in the CLI: end with a report; the step may be partly applied (frozen ones not).
            raise _RunEnded(TrainingStatus.STOPPED, f"interrupted during step {i + 1}") from None
        except (torch.OutOfMemoryError, MemoryError) as exc:
            needs = (
                allocation_message(exc, self.config.batch_size) or "out of memory (try a smaller batch size)"
            )
            raise _RunEnded(TrainingStatus.FAILED, f"step {i + 1}: {needs}") from None
        except FreezeguiError as exc:
            raise _RunEnded(TrainingStatus.FAILED, f"step {i + 1}: {exc}") from None
        except BaseException as exc:  # SystemExit from user code too: any failing step ends with its reason
            alloc = allocation_message(exc, self.config.batch_size) if isinstance(exc, RuntimeError) else None
            raise _RunEnded(
                TrainingStatus.FAILED, f"step {i + 1}: {alloc}" if alloc else _step_error(i, exc)
            ) from None
        if not math.isfinite(value):
            msg = f"the loss became {value} at step {i + 1}; that step was not applied"
            raise _RunEnded(TrainingStatus.DIVERGED, msg)
        return value

    def _evaluate_due(self, done: int) -> Evaluation | None:
        """Score the held-out part after step ``done`` when due: every ``eval_every`` steps and after the last."""
        every, data = self.config.eval_every, self.data
        assert data is not None
        if data.val is None or not (done == self.config.steps or (every and done % every == 0)):
            return None
        try:
            result = evaluate(self.model, data, done)
        except (torch.OutOfMemoryError, MemoryError) as exc:
            needs = allocation_message(exc, self.config.batch_size) or "out of memory"
            raise _RunEnded(TrainingStatus.FAILED, f"evaluation after step {done}: {needs}") from None
        except Exception as exc:  # the model's own code failing on a held-out batch
            from freezegui.core.messages import error_line

            raise _RunEnded(
                TrainingStatus.FAILED,
                f"evaluation after step {done} raised {error_line(exc)}",
            ) from None
        self.evaluations.append(result)
        return result

    def _apply_stages(self, done: int) -> None:
        """Apply the schedule's stages due before step ``done + 1``; the proof checks what they unfreeze."""
        if self.schedule is None:
            return
        assert self._snapshot is not None and self.data is not None
        epoch = epoch_of(done, self.data.steps_per_epoch)
        for change in self.schedule.step(done, epoch):
            at_epoch = epoch if change.stage.unit == "epoch" else None
            self._snapshot.transition(change.index, done, change.unfrozen, change.frozen, at_epoch)

    def run(self, on_step: Callable[[StepResult], object] | None = None) -> TrainingReport:
        """Drain :meth:`steps` (calling ``on_step`` with each result) and return the report."""
        for result in self.steps():
            if on_step is not None:
                on_step(result)
        assert self.report is not None
        return self.report

    def _finish(
        self,
        status: TrainingStatus,
        message: str,
        losses: list[float],
        times: list[float],
        elapsed: float,
        train_time: float,
    ) -> TrainingReport:
        cfg = self.config
        assert self.rules is not None and self.counts is not None and self.data is not None
        proof = self._snapshot.verify() if self._snapshot is not None else None
        if proof is not None and not proof.ok:
            problem = "frozen tensors changed during training: " + ", ".join(
                (
                    proof.frozen_changed
                    + proof.buffers_changed
                    + [n for st in proof.stages for n in st.changed]
                )[:5]
            )
            message = f"{message}; {problem}" if message else problem
        return TrainingReport(
            status=status,
            message=message,
            steps_done=len(losses),
            steps_planned=cfg.steps,
            method=self.rules.method,
            optimizer=cfg.optimizer,
            device=str(self.device),
            data=self.data.description,
            counts=self.counts,
            losses=losses,
            step_times=times,
            elapsed=elapsed,
            examples_per_s=len(losses) * cfg.batch_size / train_time if train_time > 0 else 0.0,
            proof=proof,
            memory=self._memory(),
            config=cfg.as_dict(),
            steps_per_epoch=self.data.steps_per_epoch,
            stages_not_reached=self._stages_not_reached(),
            prediction=self.prediction,
            evaluations=list(self.evaluations),
            val_description=self.data.val.description if self.data.val is not None else None,
            val_digest=self.data.val.digest if self.data.val is not None else None,
        )

    def _stages_not_reached(self) -> list[str]:
        if self.schedule is None:
            return []
        return [
            f"stage {k} at {s.label}"
            for k, s in enumerate(self.schedule.stages, 1)
            if k > self.schedule.current
        ]

    def _memory(self) -> MemoryStats:
        params = list(self.model.parameters())
        mem = MemoryStats(
            params_bytes=sum(p.numel() * p.element_size() for p in params),
            grads_bytes=sum(p.grad.numel() * p.grad.element_size() for p in params if p.grad is not None),
        )
        if self.optimizer is not None:
            mem.optimizer_bytes = sum(
                v.numel() * v.element_size()
                for state in self.optimizer.state.values()
                for v in state.values()
                if isinstance(v, torch.Tensor) and v.dim() > 0
            )
        if self.device is not None and self.device.type == "cuda":
            mem.peak_device_bytes = int(torch.cuda.max_memory_allocated(self.device))
        return mem

    # ------------------------------------------------------------------------------------- saving
    def save(self, directory: str | os.PathLike[str], *, force: bool = False) -> list[Path]:
        """Write the fine-tuned weights (``model.safetensors``) and the rule file beside them as one
        folder, atomically; ``force`` replaces a checkpoint already there."""
        if self.rules is None:
            raise TrainingError("nothing to save: the run has not started")
        rules = self.rules
        if self.spec is not None and rules.model.spec is None:
            rules.model.spec = self.spec
        writer = adapter_writer(self.model) if self.adapters else None  # the adapter, as PEFT saves it
        paths = save_checkpoint(
            self.model, rules, directory, report=self.report, force=force, write_weights=writer
        )
        if self.report is not None:
            self.report.saved = [str(p) for p in paths]
        return paths

    def release(self) -> None:
        """Free the snapshot copies and optimizer state (the model stays)."""
        if self._snapshot is not None:
            self._snapshot.release()
        self.optimizer = None


def _model_dir_of(spec: str | None) -> Path | None:
    """The folder of an ``hf:DIR`` / ``hf-config:PATH`` spec (where a tokenizer would be saved)."""
    if not spec:
        return None
    try:
        parsed = parse_spec(spec)
    except FreezeguiError:
        return None
    if parsed.kind not in (SpecKind.HF, SpecKind.HF_CONFIG):
        return None
    p = Path(parsed.target)
    if p.is_file():
        p = p.parent
    return p if p.is_dir() else None


_ALLOC = re.compile(r"(?:tried to allocate|Tried to allocate) ([\d.]+) ?(bytes|[KMGT]iB)?")
_UNITS = {None: 1, "bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def allocation_message(exc: BaseException, batch_size: int) -> str | None:
    """``needs 48.0 GiB at batch size 65536; try a smaller batch size`` for an allocation failure
    (CPU or CUDA), None for any other error."""
    text = str(exc)
    if not isinstance(exc, (MemoryError, torch.OutOfMemoryError)) and "can't allocate memory" not in text:
        return None
    found = _ALLOC.search(text)
    size = f"{float(found.group(1)) * _UNITS[found.group(2)] / 2**30:,.1f} GiB" if found else "more memory"
    return f"needs {size} at batch size {batch_size}; try a smaller batch size (--batch-size in the CLI)"


def _step_error(i: int, exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"step {i + 1}: the model's code called sys.exit({exc.code!r})"
    from freezegui.core.messages import error_line

    return f"step {i + 1} raised {error_line(exc)}"
