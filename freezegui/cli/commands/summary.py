"""``freezegui summary SPEC``: a table of modules with trainable / total counts (and LoRA adapters)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from freezegui.cli.common import add_model_args, int_at_least, load_from_args
from freezegui.core import standard_json
from freezegui.core.editing.document import Document
from freezegui.core.editing.selection import Selection
from freezegui.core.errors import RuleError
from freezegui.core.models.loading import parse_spec
from freezegui.core.rules.lora import LoraConflictError
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.runtime.apply import apply_report
from freezegui.core.structure.counting import format_count
from freezegui.core.structure.tree import ModuleNode, build_tree


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="table of modules with trainable / total parameter counts")
    add_model_args(p)
    p.add_argument("--rules", metavar="FILE", help="apply this rule file first (its `lora:` section too)")
    p.add_argument(
        "--adapter",
        metavar="DIR",
        help="a saved PEFT LoRA adapter folder (adapter_config.json) on top of SPEC: show its adapters",
    )
    p.add_argument(
        "--depth", type=int_at_least(0), default=1, metavar="N", help="module depth to show (default 1)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def _selection(
    args: argparse.Namespace,
) -> tuple[Selection, list[str], list[str], dict[str, Any] | None]:
    """The model's selection with the rule file's or the adapter folder's adapters, warnings,
    unmatched rules and the rule file's architecture fingerprint check."""
    if args.rules and args.adapter:
        raise RuleError("give --rules or --adapter, not both")
    model = load_from_args(args)
    problems: list[str] = []
    if args.adapter:
        doc = Document.from_model(model)
        return doc.selection, doc.open_adapter(Path(args.adapter)), [], None
    if not args.rules:
        return Selection(build_tree(model)), problems, [], None
    doc = Document.from_model(model)  # one tree, one parse, one match: the document's own apply
    rs = RuleSet.load(args.rules)
    try:
        report = doc.apply_ruleset(rs)
    except LoraConflictError:  # shown as a problem; counted without the adapters
        report = apply_report(doc.tree, rs)
        doc.apply_ruleset(dataclasses.replace(rs, lora=None))
    fingerprint = {
        "ok": report.fingerprint_ok,
        "rules": report.fingerprint_expected,
        "model": report.fingerprint_actual,
    }
    return doc.selection, report.problems(), [str(m.rule) for m in report.unmatched], fingerprint


def run(args: argparse.Namespace) -> int:
    sel, problems, unmatched, fingerprint = _selection(args)
    tree = sel.tree
    counts = sel.counts()
    rows = [n for n in tree.nodes if n.depth <= args.depth]
    lora = bool(sel.adapted.any())
    if args.json:
        out: dict[str, Any] = {
            **counts.as_dict(),
            "spec": str(parse_spec(args.spec)),
            "modules": [
                {
                    "path": n.path,
                    "type": n.type_name,
                    "trainable": sel.counts(n).trainable,
                    "total": int(tree.total[n.index]),
                    **({"lora_parameters": int(sel.node_lora[n.index])} if lora else {}),
                }
                for n in rows
            ],
        }
        if lora:
            out["adapted_modules"] = sel.adapted_names()
            out["lora"] = sel.lora_settings.as_dict()
        if problems:
            out["problems"] = problems
        if args.rules:
            out["unmatched_rules"] = unmatched
            out["fingerprint"] = fingerprint
        standard_json.dump(out, sys.stdout)
        print()
        return 0
    _table(sel, rows, lora)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 0


def _table(sel: Selection, rows: list[ModuleNode], lora: bool) -> None:
    tree = sel.tree
    counts = sel.counts()
    name_w = max(len("Module"), *(len(n.path or "(model)") + 2 * n.depth for n in rows))
    type_w = max(len("Type"), *(len(n.type_name) for n in rows))
    num_w = 15
    header = f"{'Module':<{name_w}}  {'Type':<{type_w}}  {'Trainable':>{num_w}}  {'Parameters':>{num_w}}"
    if lora:
        header += f"  {'LoRA':>{num_w}}"
    print(header)
    print("-" * len(header))
    for n in rows:
        label = "  " * n.depth + (n.name or "(model)")
        tr, tot = sel.counts(n).trainable, int(tree.total[n.index])
        line = f"{label:<{name_w}}  {n.type_name:<{type_w}}  {tr:>{num_w},}  {tot:>{num_w},}"
        if lora:
            line += f"  {int(sel.node_lora[n.index]):>{num_w},}"
        print(line)
    print("-" * len(header))
    print(f"Trainable: {counts.trainable:,} ({format_count(counts.trainable)})")
    if lora:
        print(
            f"  of which LoRA: {counts.lora:,} ({format_count(counts.lora)}) on "
            f"{int(sel.adapted.sum())} module(s), r={sel.lora_settings.r}"
        )
    print(f"Frozen:    {counts.frozen:,} ({format_count(counts.frozen)})")
    print(f"Total:     {counts.total:,} ({format_count(counts.total)})")
