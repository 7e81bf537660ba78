"""``freezegui check SPEC RULES``: validate a rule file against a model before a long run."""

from __future__ import annotations

import argparse
import sys

from freezegui.cli.common import add_model_args, load_from_args
from freezegui.core.rules.matching import match_params
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.runtime.apply import evaluate_rules
from freezegui.core.structure.tree import ModuleTree


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="validate a rule file against a model (exit 0 only when clean)")
    add_model_args(p)
    p.add_argument("rules", metavar="RULES", help="rule file")
    p.set_defaults(run=run)


def scale_and_stage_lines(tree: ModuleTree, rs: RuleSet) -> list[str]:
    """Print the scales and every stage (strict: a stage rule matching nothing is a problem); the problems."""
    from freezegui.core.errors import RuleError
    from freezegui.core.lr.evaluate import stage_problems
    from freezegui.core.lr.groups import stage_states

    try:
        states = stage_states(tree, rs)
    except RuleError as exc:  # layer_decay on a model without blocks
        return [str(exc)]
    scaled = rs.has_scales  # once: it reads every stage's rules
    counted: dict[str, str] = {}  # by pattern text: a schedule repeats its patterns
    lines: list[str] = []  # written at once: 60,000 stages are 180,000 lines
    for k, (mask, scales) in enumerate(states):
        if k:
            stage = rs.schedule[k - 1]
            lines.append(f"stage {k} at {stage.label}:")
            for rule in stage.rules:
                text = rule.pattern.text
                if text not in counted:
                    hit = match_params(tree, rule.pattern)
                    counted[text] = f"{int(hit.sum())} tensors, {int(tree.numel[hit].sum()):,} parameters"
                where = f"line {rule.line}: " if rule.line else ""
                lines.append(f"  {where}{rule}  ->  {counted[text]}")
        if scaled or k:
            trained = sorted({round(s, 12) for s in set(scales[mask].tolist())})
            shown = ", ".join(f"{s:g}" for s in trained[:8]) + (" ..." if len(trained) > 8 else "")
            label = "before any stage" if rs.schedule and not k else f"stage {k}" if k else "all"
            lines.append(
                f"  {label}: trainable {int(tree.numel[mask].sum()):,} parameters; lr scales {shown or '-'}"
            )
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
    return stage_problems(tree, rs)


def run(args: argparse.Namespace) -> int:
    model = load_from_args(args)
    tree, rs, report = evaluate_rules(model, args.rules)
    for m in report.matches:
        where = f"line {m.rule.line}: " if m.rule.line else ""
        print(f"  {where}{m.rule}  ->  {m.params} tensors, {m.elements:,} parameters")
    print(report)
    problems = report.problems() + scale_and_stage_lines(tree, rs)
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        print(f"{args.rules}: {len(problems)} problem(s)")
        return 1
    print(f"{args.rules}: OK")
    return 0
