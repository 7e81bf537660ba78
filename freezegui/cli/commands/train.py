"""``freezegui train SPEC``: a short fine-tune with the freeze rules, and proof that frozen weights held."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TextIO

from freezegui.cli.common import (
    add_model_args,
    finite_float,
    int_at_least,
    load_from_args,
    refuse_overwriting_inputs,
)
from freezegui.cli.data_args import add_data_args, data_config
from freezegui.core import standard_json
from freezegui.core.errors import TrainingError
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.runtime.apply import as_ruleset
from freezegui.core.training.checkpoint import RULES_NAME, WEIGHTS_NAME, check_target
from freezegui.core.training.compare import compare_methods, format_comparison
from freezegui.core.training.config import OPTIMIZERS, SYNTHETIC, TRAIN_METHODS, TrainingConfig
from freezegui.core.training.engine import TrainingRun
from freezegui.core.training.report import StepResult, TrainingStatus


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="run a short fine-tune with the freeze rules and prove frozen weights did not change",
        description="Run a short fine-tune and report loss, speed, memory and the frozen-weights proof.",
    )
    add_model_args(p)
    p.add_argument("--rules", metavar="FILE", help="rule file saying what trains (default: everything)")
    p.add_argument("--save", metavar="DIR", help="write model.safetensors and rules.yaml to DIR")
    p.add_argument("--force", action="store_true", help="--save: replace a checkpoint already in DIR")
    p.add_argument(
        "--compare-methods",
        action="store_true",
        help="run full fine-tune, method 1 and method 2 on the same data; compare time and memory",
    )
    add_run_args(p)
    p.set_defaults(run=run)


def add_run_args(p: argparse.ArgumentParser) -> None:
    """The settings of one run (steps, data, optimizer, device...), shared with ``compare``."""
    p.add_argument(
        "--steps", type=int_at_least(1), default=30, metavar="N", help="training steps (default 30)"
    )
    p.add_argument(
        "--batch-size", type=int_at_least(1), default=8, metavar="B", help="examples per step (default 8)"
    )
    p.add_argument("--lr", type=finite_float, default=1e-3, metavar="X", help="learning rate (default 1e-3)")
    p.add_argument("--method", choices=TRAIN_METHODS, help="freeze method (default: the rule file's)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adamw", help="default adamw")
    p.add_argument("--weight-decay", type=finite_float, default=0.01, metavar="W", help="default 0.01")
    p.add_argument(
        "--data",
        default=SYNTHETIC,
        metavar="synthetic|PATH",
        help="synthetic (default), an image folder (with train/ + val/ or not), a CSV or JSON Lines file, "
        "a datasets save_to_disk folder, or a text file (transformers models)",
    )
    p.add_argument(
        "--image-size",
        type=int_at_least(8),
        metavar="PX",
        help="image side (default 64 synthetic, 224 folders)",
    )
    p.add_argument(
        "--seq-len", type=int_at_least(2), default=32, metavar="T", help="tokens per sequence (default 32)"
    )
    p.add_argument("--tokenizer", metavar="DIR", help="tokenizer folder (default: the model's folder)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1, mps")
    p.add_argument("--seed", type=int, default=0, help="seed for data and new layers (default 0)")
    p.add_argument(
        "--log-every", type=int_at_least(1), metavar="N", help="without a terminal: a line every N steps"
    )
    p.add_argument(
        "--no-plan", action="store_true", help="skip the cost planner's prediction made before the first step"
    )
    p.add_argument("--json", action="store_true", help="print the final report as JSON")
    add_data_args(p)


def config_from_args(args: argparse.Namespace) -> TrainingConfig:
    """The run's settings from the arguments ``train`` and ``compare`` share."""
    return TrainingConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        method=args.method,
        weight_decay=args.weight_decay,
        device=args.device,
        seed=args.seed,
        data=args.data,
        image_size=args.image_size,
        seq_len=args.seq_len,
        tokenizer=args.tokenizer,
        predict=not args.no_plan,
        **data_config(args),
    )


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    config.validate()
    if args.save:
        for name in (WEIGHTS_NAME, RULES_NAME):
            refuse_overwriting_inputs(
                os.path.join(args.save, name), rule_file=args.rules, weights=args.weights
            )
        check_target(Path(args.save).expanduser(), force=args.force)  # before training, not after
    rules: RuleSet | None = as_ruleset(args.rules) if args.rules else None
    if args.compare_methods and args.save:
        raise TrainingError("--save cannot be combined with --compare-methods (which trains three copies)")
    if args.compare_methods and rules is None:
        raise TrainingError("--compare-methods needs --rules (what methods 1 and 2 freeze)")
    extra = {}
    if args.num_classes is None and rules is not None and rules.model.num_classes and not args.weights:
        extra["num_classes"] = rules.model.num_classes  # the rule file was made for that head
    if extra:
        args = argparse.Namespace(**{**vars(args), **extra})
    model = load_from_args(args)
    out = sys.stdout
    progress_stream = sys.stderr if args.json else sys.stdout
    if args.compare_methods:
        assert rules is not None
        with StepProgress(progress_stream, args.steps, args.log_every) as bar:
            results = compare_methods(model, config, rules=rules, spec=args.spec, on_step=bar.update)
        if args.json:
            standard_json.dump([r.as_dict() for r in results], out)
            print(file=out)
        else:
            print(format_comparison(results), file=out)
        bad = [r for r in results if not r.report.ok]
        return 1 if bad else 0
    train = TrainingRun(model, config, rules=rules, spec=args.spec)
    with StepProgress(progress_stream, args.steps, args.log_every) as bar:
        report = train.run(lambda r: bar.update("", r))
    if args.save and report.status == TrainingStatus.COMPLETED and report.ok:
        train.save(args.save, force=args.force)
    elif args.save:
        print(f"freezegui: not saving: the run did not complete cleanly ({report.status})", file=sys.stderr)
    if args.json:
        standard_json.dump(report.as_dict(), out)
        print(file=out)
    else:
        print("\n".join(report.lines()), file=out)
    if report.ok:
        return 0
    return 130 if report.status == TrainingStatus.STOPPED else 1


class StepProgress(AbstractContextManager):
    """A rich progress bar on a terminal; otherwise a plain line every N steps."""

    def __init__(self, stream: TextIO, steps: int, every: int | None) -> None:
        self.stream = stream
        self.steps = steps
        self.every = every or max(1, steps // 10)
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}
        self._cm: AbstractContextManager = nullcontext()
        self.update: Callable[[str, StepResult], None] = self._plain
        if stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[speed]}"),
                TimeRemainingColumn(),
                console=Console(file=stream),
                transient=False,
            )
            self._cm = self._bar
            self.update = self._rich

    def __enter__(self) -> StepProgress:
        self._cm.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)

    def _rich(self, name: str, r: StepResult) -> None:
        task = self._tasks.get(name)
        if task is None:
            task = self._tasks[name] = self._bar.add_task(
                name or "training", total=r.steps, loss="-", speed=""
            )
        self._bar.update(task, completed=r.step, loss=f"{r.loss:.4f}", speed=f"{r.examples_per_s:.1f} ex/s")

    def _plain(self, name: str, r: StepResult) -> None:
        if r.step % self.every == 0 or r.step == r.steps or r.step == 1:
            prefix = f"[{name}] " if name else ""
            print(
                f"{prefix}step {r.step}/{r.steps}  loss {r.loss:.4f}  {r.examples_per_s:.1f} ex/s  "
                f"elapsed {r.elapsed:.1f}s  eta {r.eta:.1f}s",
                file=self.stream,
                flush=True,
            )
