"""``freezegui export SPEC RULES --to FORMAT``: the rule file's selection in another tool's format."""

from __future__ import annotations

import argparse
import sys
import warnings

from freezegui.cli.common import (
    add_model_args,
    add_output_arguments,
    int_at_least,
    layer_count,
    load_options,
    refuse_overwriting_inputs,
    spec_file,
)
from freezegui.core.atomic import atomic_write_text
from freezegui.core.errors import FreezeguiWarning, SpecError
from freezegui.core.interop.axolotl import to_axolotl
from freezegui.core.interop.common import not_carried_note
from freezegui.core.interop.llamafactory import to_llamafactory
from freezegui.core.interop.names import to_names
from freezegui.core.interop.python import to_python
from freezegui.core.interop.python_staged import to_python_staged
from freezegui.core.models.loading import load_model
from freezegui.core.rules.problems import ProblemKind, of_kind
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.runtime.apply import ApplyReport, evaluate_rules
from freezegui.core.structure.tree import ModuleTree

FORMATS = ("axolotl", "llamafactory", "python", "names", "peft")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a rule file's selection for axolotl, LLaMA-Factory, PEFT (LoRA), plain Python or as names",
    )
    add_model_args(p)
    p.add_argument("rules", metavar="RULES", help="rule file")
    p.add_argument("--to", dest="fmt", required=True, choices=FORMATS, help="output format")
    p.add_argument(
        "--method",
        choices=("requires_grad", "lr_zero"),
        help="python: requires_grad (method 1) or lr_zero (param groups); default: the rule file's",
    )
    p.add_argument(
        "--num-layers",
        type=int_at_least(1),
        metavar="N",
        help="llamafactory: hidden layer count (default: the model config's num_hidden_layers)",
    )
    add_output_arguments(
        p, "write here (default: stdout); peft: adapter_config.json, or a .py file for a LoraConfig snippet"
    )
    p.set_defaults(run=run)


def load_structure(args: argparse.Namespace, spec: str) -> object:
    """Names and shapes are all an export needs: build on the meta device unless weights are asked for."""
    options = load_options(args, spec)
    options = options.replace(structure_only=not (options.weights or options.pretrained))
    return load_model(options.spec, **options.load_kwargs())


def run(args: argparse.Namespace) -> int:
    refuse_overwriting_inputs(
        args.output, rule_file=args.rules, weights=args.weights, model=spec_file(args.spec)
    )
    model = load_structure(args, args.spec)
    tree, rs, report = evaluate_rules(model, args.rules)  # type: ignore[arg-type]
    problems = report.problems()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    mask = report.trainable_mask
    assert mask is not None
    if args.fmt == "peft":
        return _export_peft(args, tree, rs, report)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FreezeguiWarning)
        if args.fmt == "axolotl":
            text = to_axolotl(tree, mask, spec=args.spec)
        elif args.fmt == "llamafactory":
            layers = layer_count(args, model)
            if not layers:
                raise SpecError(
                    f"{args.spec} has no transformers config with num_hidden_layers; LLaMA-Factory freeze "
                    f"tuning selects hidden layers by index (pass --num-layers N if the model has them)"
                )
            text = to_llamafactory(tree, mask, layers, spec=args.spec)
        elif args.fmt == "python" and (rs.has_scales or rs.schedule):
            rs.method = args.method or rs.method  # type: ignore[assignment]
            text = to_python_staged(tree, rs, spec=args.spec)
        elif args.fmt == "python":
            text = to_python(tree, mask, args.method or rs.method, spec=args.spec, batchnorm=rs.batchnorm)
        else:
            text = to_names(tree, mask)
        if args.fmt in ("axolotl", "llamafactory", "names"):
            note = not_carried_note(rs, args.fmt)
            if note:
                text = "".join(f"# {line}\n" for line in note.splitlines()) + text
                print(f"warning: {note.splitlines()[0]}", file=sys.stderr)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if args.fmt == "names" and not mask.any():
        print("warning: no parameter trains: the names list is empty", file=sys.stderr)
        problems.append("empty")
    if args.output:
        atomic_write_text(args.output, text, force=args.force)
        print(f"wrote {args.output} ({args.fmt}); {report}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    unmatched = [p for p in problems if "matches no parameter" in p or p == "empty"]
    return 1 if unmatched else 0


def _export_peft(args: argparse.Namespace, tree: ModuleTree, rs: RuleSet, report: ApplyReport) -> int:
    """``--to peft``: the rule file's ``lora:`` section and fully trained modules as a LoraConfig."""
    from freezegui.core.interop.peft import to_peft

    if rs.lora is None or report.adapted is None:
        raise SpecError(f"{args.rules} has no `lora:` section: nothing for a PEFT LoRA config to adapt")
    conflicts = of_kind(report.issues(), ProblemKind.LORA_CONFLICT)
    if conflicts:
        raise SpecError(conflicts[0].message)
    assert report.trainable_mask is not None
    exported = to_peft(tree, report.trainable_mask, report.adapted, rs.lora.settings, spec=args.spec)
    python = bool(args.output) and str(args.output).endswith(".py")
    text = exported.python() if python else exported.json()
    if args.output:
        atomic_write_text(args.output, text, force=args.force)
        print(
            f"wrote {args.output} (peft): {len(exported.adapted)} adapted module(s), "
            f"{len(exported.modules_to_save)} in modules_to_save; {report.counts}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    from freezegui.core.interop.peft_defaults import peft_count_line, saved_copy_elements

    copies = saved_copy_elements(tree, [tree.index_of(p) for p in exported.modules_to_save])
    print(f"note: {peft_count_line(report.counts.trainable, report.counts.total, copies)}", file=sys.stderr)
    return 0
