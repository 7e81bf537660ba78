"""``freezegui models [--timm]``: list the model names a spec can use."""

from __future__ import annotations

import argparse

from freezegui.core.models.loading import list_torchvision_models


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models", help="list torchvision (or timm) model names for torchvision:NAME / timm:NAME"
    )
    p.add_argument("--timm", action="store_true", help="list timm architectures (needs freezegui[timm])")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.timm:
        from freezegui.core.models.timm import list_timm_models

        for name in list_timm_models():
            print(f"timm:{name}")
        return 0
    for name in list_torchvision_models():
        print(f"torchvision:{name}")
    return 0
