"""``freezegui plan SPEC``: memory (activations included) and FLOPs of training a selection."""

from __future__ import annotations

import argparse
import sys

from freezegui.cli.common import add_model_args, add_plan_arguments, load_from_args
from freezegui.core import standard_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan", help="memory and FLOPs of one training step of a selection, beside full fine-tuning"
    )
    add_model_args(p)
    p.add_argument("--rules", metavar="FILE", help="the selection (default: the model's own flags)")
    add_plan_arguments(p)
    p.add_argument(
        "--gradient-checkpointing", action="store_true", help="the transformers model's own switch"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--per-module",
        action="store_true",
        help="also every module's output shape, FLOPs and saved activations (--json: a 'modules' list)",
    )
    p.add_argument("--depth", type=int, metavar="N", help="--per-module table: modules down to depth N")
    p.add_argument(
        "--sort", choices=("activations", "flops"), help="--per-module table: most expensive first"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from freezegui.core.plan import plan

    if args.shard == "fsdp" and args.gpus < 2:
        print("freezegui: note: --shard fsdp with one GPU splits nothing", file=sys.stderr)
    model = load_from_args(args)
    result = plan(
        model,
        args.rules,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        image_size=args.image_size,
        dtype=args.dtype,
        amp=args.amp,
        optimizer=args.optimizer,
        gradient_checkpointing=args.gradient_checkpointing,
        gpus=args.gpus,
        shard=args.shard,
        per_module=args.per_module,
    )
    modules = result.modules if args.per_module else None
    if args.json:
        out = result.as_dict()
        if modules is not None:
            out["modules"] = [m.as_dict() for m in modules.values()]
        standard_json.dump(out, sys.stdout)
        print()
    else:
        print(result)
        if modules is not None:
            from freezegui.core.plan.table import module_table

            print()
            print("\n".join(module_table(modules, args.depth, args.sort)))
    if not result.step_ran:
        print(f"freezegui: warning: {result.message}", file=sys.stderr)
    return 0
