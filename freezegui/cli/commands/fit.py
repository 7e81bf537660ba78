"""``freezegui fit SPEC --gpu-memory GIB``: the largest usual selection whose planned peak fits a GPU."""

from __future__ import annotations

import argparse
import json
import sys

from freezegui.cli.common import (
    add_model_args,
    add_output_arguments,
    add_plan_arguments,
    finite_float,
    int_at_least,
    load_from_args,
    refuse_overwriting_inputs,
    spec_file,
)

GIB = 1024**3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit",
        help="the most you can train on a GPU: last N blocks (+ head) or LoRA rank r, planned, by bisection",
    )
    add_model_args(p)
    p.add_argument(
        "--gpu-memory", type=finite_float, required=True, metavar="GIB", help="memory of one GPU in GiB"
    )
    p.add_argument("--rules", metavar="START", help="a rule file whose trained tensors and settings are kept")
    add_plan_arguments(p, count=int_at_least(1))
    p.add_argument(
        "--lora", action="store_true", help="fit LoRA adapters (attention / all linear, rank r) instead"
    )
    p.add_argument(
        "--no-checkpointing",
        action="store_true",
        help="never choose gradient checkpointing (tried by default where the model has the switch)",
    )
    add_output_arguments(p, "write the chosen selection as a rule file")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from freezegui.core.decide.fit import fit
    from freezegui.core.plan import PlanOptions
    from freezegui.core.rules.ruleset import ModelInfo, RuleSet

    refuse_overwriting_inputs(args.output, rules=args.rules, model=spec_file(args.spec))
    options = PlanOptions.make(
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        image_size=args.image_size,
        dtype=args.dtype,
        amp=args.amp,
        optimizer=args.optimizer,
        gpus=args.gpus,
        shard=args.shard,
    )
    start = RuleSet.load(args.rules) if args.rules else None
    model = load_from_args(args)
    info = ModelInfo(spec=args.spec, num_classes=args.num_classes)
    result = fit(
        model,
        args.gpu_memory * GIB,
        options=options,
        start=start,
        lora=args.lora,
        checkpointing=not args.no_checkpointing,
        model_info=info,
    )
    if args.output:
        from freezegui.core.atomic import atomic_write_text

        atomic_write_text(args.output, result.rule_text(), force=args.force)
        print(f"wrote {args.output}: {len(result.rules.rules)} rule(s)", file=sys.stderr)
    if args.json:
        json.dump(result.as_dict(), sys.stdout, indent=2)
        print()
    else:
        print("\n".join(result.lines()))
    if not result.plan.step_ran:
        print(f"freezegui: warning: {result.plan.message}", file=sys.stderr)
    return 0
