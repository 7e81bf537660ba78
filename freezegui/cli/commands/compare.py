"""``freezegui compare SPEC --rules A --rules B ...``: which selection is better, trained side by side."""

from __future__ import annotations

import argparse
import json
import sys

from freezegui.cli.commands.train import StepProgress, add_run_args, config_from_args
from freezegui.cli.common import add_model_args, load_from_args
from freezegui.core.runtime.apply import as_ruleset
from freezegui.core.training.selections import Comparison, Entry, SelectionResult, format_selections

FULL = "full"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="train each rule file from the same weights on the same batches; compare validation scores",
        description=(
            "Train each selection from the same initial weights on the same batches and held-out examples, "
            "then print trainable parameters, validation loss and metric, ms/step, peak memory and loss curves."
        ),
    )
    add_model_args(p)
    p.add_argument(
        "--rules",
        metavar="FILE",
        action="append",
        required=True,
        help=f"a rule file (repeat for each selection); '{FULL}' for full fine-tuning",
    )
    add_run_args(p)
    p.set_defaults(run=run)


def _entries(paths: list[str]) -> tuple[list[Entry], int | None]:
    """Each ``--rules`` read up front (a bad file fails before any training) and a head size one names."""
    entries: list[Entry] = []
    classes = None
    for path in paths:
        if path == FULL:
            entries.append((FULL, None))
            continue
        rules = as_ruleset(path)
        classes = classes or rules.model.num_classes
        entries.append((path, rules))
    return entries, classes


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    config.validate()
    entries, classes = _entries(args.rules)
    if args.num_classes is None and classes and not args.weights:
        args = argparse.Namespace(
            **{**vars(args), "num_classes": classes}
        )  # the files were made for that head
    model = load_from_args(args)
    comparison = Comparison(model, config, entries, spec=args.spec)
    progress_stream = sys.stderr if args.json else sys.stdout
    with StepProgress(progress_stream, args.steps, args.log_every) as bar:
        for event in comparison.events():
            if event.step is not None:
                bar.update(event.label, event.step)
            elif event.result is not None and event.result.report is None:
                print(f"[{event.label}] could not run: {event.result.message}", file=sys.stderr)
    results: list[SelectionResult] = comparison.results
    if args.json:
        json.dump({"runs": [r.as_dict() for r in results]}, sys.stdout, indent=2)
        print()
    else:
        print(format_selections(results))
    return 0 if results and all(r.ok for r in results) else 1
