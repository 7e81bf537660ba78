"""``freezegui summary SPEC``: a table of modules with trainable / total counts."""

from __future__ import annotations

import argparse
import json
import sys

from freezegui.cli.common import add_model_args, load_from_args
from freezegui.core.apply import apply_rules
from freezegui.core.counting import format_count
from freezegui.core.loading import parse_spec
from freezegui.core.selection import Selection
from freezegui.core.tree import build_tree


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="table of modules with trainable / total parameter counts")
    add_model_args(p)
    p.add_argument("--rules", metavar="FILE", help="apply this rule file first")
    p.add_argument("--depth", type=int, default=1, metavar="N", help="module depth to show (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load_from_args(args)
    report = apply_rules(model, args.rules, strict=False) if args.rules else None
    tree = build_tree(model)
    sel = Selection(tree)
    counts = sel.counts()
    rows = [n for n in tree.nodes if n.depth <= args.depth]
    if args.json:
        out = {
            **counts.as_dict(),
            "spec": str(parse_spec(args.spec)),
            "modules": [
                {
                    "path": n.path,
                    "type": n.type_name,
                    "trainable": int(sel.node_trainable[n.index]),
                    "total": int(tree.total[n.index]),
                }
                for n in rows
            ],
        }
        if report is not None:
            out["unmatched_rules"] = [str(m.rule) for m in report.unmatched]
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    name_w = max(len("Module"), *(len(n.path or "(model)") + 2 * n.depth for n in rows))
    type_w = max(len("Type"), *(len(n.type_name) for n in rows))
    num_w = 15
    header = f"{'Module':<{name_w}}  {'Type':<{type_w}}  {'Trainable':>{num_w}}  {'Parameters':>{num_w}}"
    print(header)
    print("-" * len(header))
    for n in rows:
        label = "  " * n.depth + (n.name or "(model)")
        tr, tot = int(sel.node_trainable[n.index]), int(tree.total[n.index])
        print(f"{label:<{name_w}}  {n.type_name:<{type_w}}  {tr:>{num_w},}  {tot:>{num_w},}")
    print("-" * len(header))
    print(f"Trainable: {counts.trainable:,} ({format_count(counts.trainable)})")
    print(f"Frozen:    {counts.frozen:,} ({format_count(counts.frozen)})")
    print(f"Total:     {counts.total:,} ({format_count(counts.total)})")
    if report is not None:
        for problem in report.problems():
            print(f"warning: {problem}", file=sys.stderr)
    return 0
