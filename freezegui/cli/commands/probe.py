"""``freezegui probe SPEC``: which layers matter on your data, by relative gradient norm ‖∇W‖/‖W‖."""

from __future__ import annotations

import argparse
import json
import sys

from freezegui.cli.common import add_model_args, int_at_least, load_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "probe",
        help="K forward/backward passes (no update): per-module relative gradient norm on your data",
    )
    add_model_args(p)
    p.add_argument(
        "--data",
        metavar="DIR|FILE",
        help="an ImageFolder directory or a text file (transformers models); default: synthetic data",
    )
    p.add_argument("--batches", type=int_at_least(1), default=4, metavar="K", help="passes (default 4)")
    p.add_argument("--batch-size", type=int_at_least(1), default=8, metavar="N", help="default 8")
    p.add_argument("--seed", type=int, default=0, help="seed for data and dropout (default 0)")
    p.add_argument("--image-size", type=int_at_least(8), metavar="PX", help="image side")
    p.add_argument("--seq-len", type=int_at_least(2), default=32, metavar="T", help="tokens (default 32)")
    p.add_argument("--tokenizer", metavar="DIR", help="tokenizer folder (default: the model's folder)")
    p.add_argument("--device", default="auto", help="auto (default: a GPU when there is one), cpu, cuda")
    p.add_argument("--top", type=int_at_least(1), default=20, metavar="N", help="rows of the table")
    p.add_argument("--json", action="store_true", help="print JSON: modules: [{name, rgn, grad_norm}]")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from freezegui.core.decide.probe import probe
    from freezegui.core.training.engine import _model_dir_of

    model = load_from_args(args)
    result = probe(
        model,
        data=args.data,
        batches=args.batches,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        seq_len=args.seq_len,
        image_size=args.image_size,
        tokenizer=args.tokenizer,
        model_dir=_model_dir_of(args.spec),
    )
    if args.json:
        json.dump(result.as_dict(), sys.stdout, indent=2)
        print()
    else:
        print("\n".join(result.lines(args.top)))
    return 0
