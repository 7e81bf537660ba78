"""Held-out evaluation and data-format arguments shared by ``train`` and ``compare``."""

from __future__ import annotations

import argparse
from typing import Any

from freezegui.cli.common import int_at_least


def val_fraction(text: str) -> float:
    """An argparse type: a fraction >= 0 and < 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 0 and < 1, got {text!r}")
    return value


val_fraction.__name__ = "fraction"


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--val-fraction",
        type=val_fraction,
        default=0.1,
        metavar="F",
        help="hold out this part of the data for validation when it has no val/ split (default 0.1; 0: none)",
    )
    p.add_argument(
        "--eval-every",
        type=int_at_least(1),
        metavar="N",
        help="also validate every N steps (always at the end)",
    )
    p.add_argument(
        "--text-column", default="text", metavar="NAME", help="CSV / JSONL text column (default text)"
    )
    p.add_argument("--label-column", default="label", metavar="NAME", help="label column (default label)")
    p.add_argument("--classes", metavar="A,B,...", help="the class list (default: the training rows' labels)")


def data_config(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~freezegui.core.training.config.TrainingConfig` fields these arguments set."""
    classes = tuple(c.strip() for c in args.classes.split(",") if c.strip()) if args.classes else None
    return {
        "val_fraction": args.val_fraction,
        "eval_every": args.eval_every,
        "text_column": args.text_column,
        "label_column": args.label_column,
        "classes": classes,
    }
