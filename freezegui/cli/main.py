"""The command-line interface: ``freezegui SUBCOMMAND ...`` (the app is opened by :mod:`freezegui.launcher`)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from freezegui.core.errors import FreezeguiError

# Subcommand name -> module under freezegui.cli.commands (each module registers its own arguments).
COMMANDS = {
    "summary": "summary",
    "check": "check",
    "rules": "rules",
    "models": "models",
    "train": "train",
    "export": "export",
    "import": "import_",
    "plan": "plan",
}


def _command_modules() -> dict[str, ModuleType]:
    mods = {}
    for name, module in COMMANDS.items():
        try:
            mods[name] = importlib.import_module(f"freezegui.cli.commands.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"freezegui.cli.commands.{module}":
                raise
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="freezegui",
        description="Choose which layers of a PyTorch model to freeze. With no subcommand, opens the app.",
        epilog="Run `freezegui [SPEC] [--rules FILE]` to open the app on a model (default: torchvision:resnet18).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules().values():
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "--version":
        from freezegui import __version__

        print(f"freezegui {__version__}")
        return 0
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args) or 0)
    except FreezeguiError as exc:
        print(f"freezegui: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("freezegui: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
