"""``freezegui import FILE --from FORMAT -o RULES``: another tool's freeze settings as a rule file."""

from __future__ import annotations

import argparse
import sys
import warnings

from freezegui.cli.commands.export import load_structure
from freezegui.cli.common import (
    add_output_arguments,
    int_at_least,
    layer_count,
    refuse_overwriting_inputs,
    spec_file,
)
from freezegui.core.errors import FreezeguiWarning, SpecError
from freezegui.core.interop.axolotl import import_axolotl
from freezegui.core.interop.llamafactory import from_llamafactory
from freezegui.core.interop.names import from_names, parse_names
from freezegui.core.interop.peft import from_peft, read_peft_config
from freezegui.core.interop.peft_defaults import peft_count_line, saved_copy_elements
from freezegui.core.rules.problems import ProblemKind, of_kind
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.rules.yaml_reader import read_limited
from freezegui.core.runtime.apply import evaluate_rules
from freezegui.core.structure.tree import ModuleTree, build_tree

FORMATS = ("axolotl", "llamafactory", "names", "peft")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="turn an axolotl config, LLaMA-Factory freeze arguments, a PEFT adapter_config.json or a names "
        "list into a rule file",
    )
    p.add_argument(
        "file",
        metavar="FILE",
        help="axolotl/LLaMA-Factory config (YAML), PEFT adapter_config.json or names list",
    )
    p.add_argument("--from", dest="fmt", required=True, choices=FORMATS, help="input format")
    add_output_arguments(p, "rule file to write", required=True)
    p.add_argument(
        "--model",
        metavar="SPEC",
        help="validate against this model (required for llamafactory: layer counts and names)",
    )
    p.add_argument(
        "--num-classes",
        type=int_at_least(1),
        metavar="N",
        help="with --model: replace the head with N outputs",
    )
    p.add_argument(
        "--num-layers",
        type=int_at_least(1),
        metavar="N",
        help="llamafactory: override the hidden layer count",
    )
    p.add_argument(
        "--whole-tensors",
        action="store_true",
        help="axolotl: train whole tensors where a pattern has an [a:b] row slice (default: refuse)",
    )
    p.add_argument(
        "--strict", action="store_true", help="with --model: write nothing if a pattern matches nothing"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    refuse_overwriting_inputs(args.output, file=args.file, model=spec_file(args.model))
    text = read_limited(args.file, "file")
    source = str(args.file)
    if args.fmt in ("llamafactory", "peft") and not args.model:
        raise SpecError(
            f"--from {args.fmt} needs --model SPEC: what its names match depends on the model's module names"
        )
    model = load_structure(args, args.model) if args.model else None
    tree = build_tree(model) if model is not None else None  # type: ignore[arg-type]
    problems: list[str] = []
    notes: list[str] = []  # what the other tool fills in or counts its own way: said, not warned
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FreezeguiWarning)
        rs, saved = _read(args, text, source, model, tree, problems, notes)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    summary = ""
    if tree is not None:
        _, _, report = evaluate_rules(tree, rs)
        if args.fmt != "axolotl":
            problems += [p.message for p in of_kind(report.issues(), ProblemKind.UNMATCHED_RULE)]
        rs.model.spec = args.model
        rs.model.num_classes = args.num_classes
        rs.model.fingerprint = tree.fingerprint()
        rs.model.parameters = tree.total_params
        summary = f"; on {args.model}: {report}"
        if args.fmt == "peft":
            copies = saved_copy_elements(tree, saved)
            notes.append(peft_count_line(report.counts.trainable, report.counts.total, copies))
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if problems and args.strict:
        print(f"freezegui: {len(problems)} problem(s); nothing was written (--strict)", file=sys.stderr)
        return 1
    if args.output:
        rs.save(args.output, force=args.force)
        print(f"wrote {args.output}: {len(rs.rules)} rule(s){summary}", file=sys.stderr)
    else:  # -o -
        sys.stdout.write(rs.dumps())
    nothing_trains = (args.fmt == "names" and not parse_names(text)) or (
        tree is not None and report.counts.trainable == 0 and tree.total_params > 0
    )  # adapters train too: a LoRA-only import is not "nothing trains"
    return 1 if nothing_trains else 0


def _read(
    args: argparse.Namespace,
    text: str,
    source: str,
    model: object,
    tree: ModuleTree | None,
    problems: list[str],
    notes: list[str],
) -> tuple[RuleSet, list[int]]:
    """The rule set one format gives (and, for PEFT, the modules modules_to_save copies)."""
    if args.fmt == "axolotl":
        result = import_axolotl(text, tree, whole_tensors=args.whole_tensors, source=source)
        problems += [
            f"pattern {p!r} matches no parameter of {args.model}: left out of the rule file (axolotl ignores it)"
            for p in result.dropped_to_report
        ]
        if tree is None and result.rules.rules:
            notes.append(
                "patterns not checked against a model (pass --model): one that matches nothing there "
                "makes strict apply_rules refuse the file, where axolotl ignores it"
            )
        return result.rules, []
    if args.fmt == "peft":
        assert tree is not None
        imported = from_peft(read_peft_config(text, source), tree, source=source)
        problems += imported.problems
        notes += imported.notes
        return imported.rules, imported.saved
    if args.fmt == "llamafactory":
        assert tree is not None
        layers = layer_count(args, model)
        if not layers:
            raise SpecError(f"{args.model} has no num_hidden_layers in its config; pass --num-layers N")
        return from_llamafactory(text, tree, layers, source=source), []
    if not parse_names(text):
        problems.append(f"{source}: the names list is empty: every parameter is frozen")
    return from_names(text, tree, source=source), []
