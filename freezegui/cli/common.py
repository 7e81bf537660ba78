"""Arguments and helpers shared by subcommands."""

from __future__ import annotations

import argparse
from typing import Any

from torch import nn

from freezegui.core.loading import load_model


def add_model_args(parser: argparse.ArgumentParser, *, spec: bool = True) -> None:
    """SPEC plus the loading options every model-taking command accepts."""
    if spec:
        parser.add_argument(
            "spec", metavar="SPEC", help="model spec, e.g. torchvision:resnet18 or hf:./my-bert"
        )
    parser.add_argument(
        "--structure-only", action="store_true", help="build on the meta device: no weights, no memory"
    )
    parser.add_argument(
        "--num-classes", type=int, metavar="N", help="replace the classification head with N outputs"
    )
    parser.add_argument(
        "--weights", metavar="FILE", help="state dict (.pt/.safetensors) to load into the architecture"
    )
    parser.add_argument(
        "--pretrained",
        action="store_true",
        help="torchvision: use the pretrained weights from the torch cache",
    )
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow loading a pickled nn.Module (runs code from the file)",
    )


def load_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The :func:`load_model` keyword arguments that :func:`add_model_args` options give."""
    return {
        "structure_only": args.structure_only,
        "num_classes": args.num_classes,
        "weights": args.weights,
        "pretrained": args.pretrained,
        "trust_pickle": args.trust_pickle,
    }


def load_from_args(args: argparse.Namespace, **extra: Any) -> nn.Module:
    return load_model(args.spec, **load_kwargs(args), **extra)
