"""How to load a model: one options type for the library, the CLI and the app.

This module imports neither torch nor Qt, so the desktop app can parse its command line and show
its window before PyTorch is imported, and the CLI's ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_SPEC = "torchvision:resnet18"


@dataclass(frozen=True)
class LoadOptions:
    """A model spec plus the options of :func:`freezegui.core.models.loading.load_model`.

    ``kwargs`` go to the model constructor or factory. Every field reaches the loader as given:
    ``num_classes=0`` is passed on (and rejected there with a clear message), never dropped.
    """

    spec: str = DEFAULT_SPEC
    structure_only: bool = False
    num_classes: int | None = None
    weights: str | None = None
    pretrained: bool = False
    trust_pickle: bool = False
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def load_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``load_model(self.spec, **kwargs)``: every option, defaults included."""
        return {
            "structure_only": self.structure_only,
            "num_classes": self.num_classes,
            "weights": self.weights,
            "pretrained": self.pretrained,
            "trust_pickle": self.trust_pickle,
            **dict(self.kwargs),
        }

    def replace(self, **changes: Any) -> LoadOptions:
        """A copy with some fields changed (the options are immutable)."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """One line for hints and status bars: ``torchvision:resnet18 (pretrained, 10 classes)``."""
        text = self.spec
        if self.weights is not None:
            text += f" + weights {Path(self.weights).name}"
        extras = []
        if self.pretrained:
            extras.append("pretrained")
        if self.num_classes is not None:
            extras.append(f"{self.num_classes} class" + ("" if self.num_classes == 1 else "es"))
        if self.structure_only:
            extras.append("structure only")
        if self.trust_pickle:
            extras.append("trusting pickled code")
        extras += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{text} ({', '.join(extras)})" if extras else text

    @classmethod
    def from_args(cls, args: argparse.Namespace, spec: str | None = None) -> LoadOptions:
        """The options :func:`add_load_arguments` parsed, for ``spec`` (default: ``args.spec``)."""
        return cls(
            spec=args.spec if spec is None else spec,
            # Commands that take a model only as an option (import --model) have no loading flags.
            structure_only=bool(getattr(args, "structure_only", False)),
            num_classes=getattr(args, "num_classes", None),
            weights=getattr(args, "weights", None),
            pretrained=bool(getattr(args, "pretrained", False)),
            trust_pickle=bool(getattr(args, "trust_pickle", False)),
            kwargs=dict(getattr(args, "factory_kwargs", None) or {}),
        )


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The loading options every model-taking command (and the app) accepts, besides SPEC."""
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
    parser.add_argument(
        "--arg",
        action=_FactoryArgument,
        dest="factory_kwargs",
        metavar="KEY=VALUE",
        help="keyword argument for the model factory (repeatable; VALUE is a YAML scalar: 3, true, 0.1, text)",
    )


class _FactoryArgument(argparse.Action):
    """``--arg KEY=VALUE``, repeatable: parsed at once into ``args.factory_kwargs`` (a dict), so a bad
    one is a usage error (one line, exit 2) before anything loads."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        from freezegui.core.errors import SpecError
        from freezegui.core.models.args import parse_model_args

        try:
            parsed = parse_model_args([str(values)])
        except SpecError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        setattr(namespace, self.dest, {**(getattr(namespace, self.dest, None) or {}), **parsed})


__all__ = ["DEFAULT_SPEC", "LoadOptions", "add_load_arguments"]
