"""``freezegui models``: list the torchvision model names a spec can use."""

from __future__ import annotations

import argparse

from freezegui.core.loading import list_torchvision_models


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list torchvision model names (for torchvision:NAME)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for name in list_torchvision_models():
        print(f"torchvision:{name}")
    return 0
