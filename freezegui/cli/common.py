"""Arguments and helpers shared by subcommands."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from freezegui.core.options import LoadOptions, add_load_arguments

if TYPE_CHECKING:
    from torch import nn


def add_model_args(parser: argparse.ArgumentParser, *, spec: bool = True) -> None:
    """SPEC plus the loading options every model-taking command accepts."""
    if spec:
        parser.add_argument(
            "spec", metavar="SPEC", help="model spec, e.g. torchvision:resnet18 or hf:./my-bert"
        )
    add_load_arguments(parser)


def load_options(args: argparse.Namespace, spec: str | None = None) -> LoadOptions:
    """The :class:`LoadOptions` that :func:`add_model_args` options give (for ``spec``, if given)."""
    return LoadOptions.from_args(args, spec)


def load_from_args(args: argparse.Namespace, **extra: Any) -> nn.Module:
    from freezegui.core.loading import load_model

    options = load_options(args)
    return load_model(options.spec, **{**options.load_kwargs(), **extra})
