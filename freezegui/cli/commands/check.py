"""``freezegui check SPEC RULES``: validate a rule file against a model before a long run."""

from __future__ import annotations

import argparse

from freezegui.cli.common import add_model_args, load_from_args
from freezegui.core.apply import evaluate_rules


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="validate a rule file against a model (exit 0 only when clean)")
    add_model_args(p)
    p.add_argument("rules", metavar="RULES", help="rule file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load_from_args(args)
    _, _, report = evaluate_rules(model, args.rules)
    for m in report.matches:
        where = f"line {m.rule.line}: " if m.rule.line else ""
        print(f"  {where}{m.rule}  ->  {m.params} tensors, {m.elements:,} parameters")
    print(report)
    problems = report.problems()
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        print(f"{args.rules}: {len(problems)} problem(s)")
        return 1
    print(f"{args.rules}: OK")
    return 0
