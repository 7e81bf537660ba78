"""Arguments and helpers shared by subcommands."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from freezegui.core.atomic import same_file
from freezegui.core.errors import FreezeguiError
from freezegui.core.models.options import LoadOptions, add_load_arguments

if TYPE_CHECKING:
    from torch import nn


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low`` (argparse prints a one-line usage error otherwise)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def finite_float(text: str) -> float:
    """An argparse type: a finite number >= 0 (no nan, no inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


finite_float.__name__ = "number"


def layer_count(args: argparse.Namespace, model: Any) -> int | None:
    """``--num-layers`` or the model config's count; warns (stderr) when the two disagree."""
    import sys

    from freezegui.core.interop.llamafactory import num_layers_of

    configured = num_layers_of(model)
    given = getattr(args, "num_layers", None)
    if given and configured and given != configured:
        print(
            f"warning: --num-layers {given} disagrees with the model's config ({configured} hidden layers)",
            file=sys.stderr,
        )
    return given or configured


def spec_file(spec: str | None) -> str | None:
    """The file part of a model spec (``model.py`` of ``model.py:factory``), for overwrite checks."""
    if not spec:
        return None
    return spec.rsplit(":", 1)[0] if spec.rsplit(":", 1)[0].endswith(".py") else spec


def add_output_arguments(p: argparse.ArgumentParser, help: str, *, required: bool = False) -> None:
    """``-o/--output FILE`` and ``--force`` (overwrite it even when it is read-only); ``-o -`` is stdout."""
    p.add_argument(
        "-o", "--output", metavar="FILE", type=output_path, required=required, help=help + " ('-': stdout)"
    )
    p.add_argument("--force", action="store_true", help="overwrite the output file even if it is read-only")


def output_path(text: str) -> str | None:
    """``-o`` values: ``-`` is standard output (None), as in most tools; ``./-`` names a file called ``-``."""
    return None if text == "-" else text


def refuse_overwriting_inputs(output: str | os.PathLike[str] | None, **inputs: Any) -> None:
    """Never let a command's output replace one of its own inputs (``import X ... -o X``)."""
    if output is None or not os.path.exists(output):
        return
    for what, path in inputs.items():
        if path and os.path.exists(path) and same_file(output, path):
            raise FreezeguiError(
                f"the output {output} is the input {what.replace('_', ' ')} {path}; "
                f"refusing to overwrite it: choose another -o file"
            )


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
    from freezegui.core.models.loading import load_model

    options = load_options(args)
    return load_model(options.spec, **{**options.load_kwargs(), **extra})


def add_plan_arguments(p: argparse.ArgumentParser, *, count: Callable[[str], int] = int) -> None:
    """The planner's settings, as ``freezegui plan`` and ``freezegui fit`` take them (``count``: the
    type of --batch-size and --gpus; ``plan`` leaves their range to the planner's own message)."""
    p.add_argument("--batch-size", type=count, default=8, metavar="N", help="examples per GPU (default 8)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--seq-len", type=int, metavar="L", help="tokens per sequence (default 32)")
    size.add_argument("--image-size", type=int, metavar="S", help="image side in pixels")
    p.add_argument("--dtype", choices=("fp32", "bf16", "fp16"), help="weights dtype (default: the model's)")
    p.add_argument("--amp", action="store_true", help="mixed precision: fp32 master weights and moments")
    p.add_argument("--optimizer", choices=("adamw", "sgd", "sgd-momentum"), default="adamw")
    p.add_argument("--gpus", type=count, default=1, metavar="N", help="data-parallel ranks (default 1)")
    p.add_argument("--shard", choices=("none", "fsdp"), default="none", help="fsdp splits the state")
