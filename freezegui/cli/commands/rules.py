"""``freezegui rules SPEC --train PAT ... -o FILE``: write a rule file from the command line."""

from __future__ import annotations

import argparse
import sys

from freezegui.cli.common import (
    add_model_args,
    add_output_arguments,
    load_from_args,
    refuse_overwriting_inputs,
    spec_file,
)
from freezegui.core.errors import RuleError
from freezegui.core.rules.lora import LoraBias, LoraSettings, LoraSpec, targets_from_adapted
from freezegui.core.rules.patterns import Pattern
from freezegui.core.rules.ruleset import Rule, RuleSet, rules_from_selection
from freezegui.core.runtime.apply import evaluate_rules


class _Ordered(argparse.Action):
    """Keeps --train/--freeze in command-line order (the last matching rule wins)."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        items = getattr(namespace, "ordered", None) or []
        items.append((self.dest, values))
        namespace.ordered = items


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="write a rule file from --train/--freeze patterns (shortest equivalent)")
    add_model_args(p)
    p.add_argument("--train", action=_Ordered, metavar="PAT", help="train what PAT matches (repeatable)")
    p.add_argument("--freeze", action=_Ordered, metavar="PAT", help="freeze what PAT matches (repeatable)")
    p.add_argument(
        "--default",
        choices=("freeze", "train"),
        help="for unmatched parameters (default: freeze if any --train)",
    )
    p.add_argument("--method", choices=("requires_grad", "lr_zero"), default="requires_grad")
    p.add_argument("--batchnorm", choices=("frozen_stats", "update_stats"), default="frozen_stats")
    p.add_argument(
        "--keep-patterns",
        action="store_true",
        help="write the patterns as given instead of the shortest list",
    )
    p.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="PAT",
        help="put a LoRA adapter on every adaptable module PAT covers, e.g. '**.q_proj' (repeatable)",
    )
    p.add_argument("--lora-r", type=int, default=8, metavar="R", help="LoRA rank (default 8)")
    p.add_argument("--lora-alpha", type=float, default=16, metavar="A", help="LoRA alpha (default 16)")
    p.add_argument("--lora-dropout", type=float, default=0.0, metavar="P", help="LoRA dropout (default 0)")
    p.add_argument("--lora-dora", action="store_true", help="DoRA: add a magnitude vector per adapter")
    p.add_argument(
        "--lora-bias", choices=("none", "all", "lora_only"), default="none", help="biases PEFT trains"
    )
    add_output_arguments(p, "write here (default: stdout)")
    p.set_defaults(run=run, ordered=None)


def run(args: argparse.Namespace) -> int:
    refuse_overwriting_inputs(args.output, weights=args.weights, model=spec_file(args.spec))
    ordered = args.ordered or []
    if not ordered and not args.lora:
        raise RuleError("give at least one --train, --freeze or --lora pattern")
    trains = any(action == "train" for action, _ in ordered) or bool(args.lora)
    default = args.default or ("freeze" if trains else "train")
    given = RuleSet(rules=[Rule.make(action, pat) for action, pat in ordered], default=default)
    if args.lora:
        settings = LoraSettings(
            r=args.lora_r,
            lora_alpha=args.lora_alpha,
            dropout=args.lora_dropout,
            use_dora=args.lora_dora,
            bias=LoraBias(args.lora_bias),
        )
        given.lora = LoraSpec(settings, [Pattern.compile(p) for p in args.lora])
    model = load_from_args(args)
    tree, _, report = evaluate_rules(model, given)
    if report.unmatched or report.lora_unmatched or report.lora_conflicts:
        raise RuleError("; ".join(report.problems()) + ". Nothing was written.")
    out = given if args.keep_patterns else rules_from_selection(tree, report.trainable_mask)
    if given.lora is not None and not args.keep_patterns:
        assert report.adapted is not None
        targets = targets_from_adapted(tree, report.adapted)
        out.lora = LoraSpec(given.lora.settings, [Pattern.compile(t) for t in targets])
    out.method, out.batchnorm = args.method, args.batchnorm
    out.model.spec = args.spec
    out.model.num_classes = args.num_classes
    out.model.fingerprint = tree.fingerprint()
    out.model.parameters = tree.total_params
    if args.output:
        out.save(args.output, force=args.force)
        print(f"wrote {args.output}: {len(out.rules)} rule(s); {report}", file=sys.stderr)
    else:
        sys.stdout.write(out.dumps())
    return 0
