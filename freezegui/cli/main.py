"""The command-line interface: ``freezegui SUBCOMMAND ...`` (the app is opened by :mod:`freezegui.launcher`)."""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from freezegui.core.atomic import WriteError
from freezegui.core.errors import FreezeguiError
from freezegui.core.messages import error_line

# Subcommand name -> module under freezegui.cli.commands (each module registers its own arguments).
COMMANDS = {
    "summary": "summary",
    "check": "check",
    "rules": "rules",
    "models": "models",
    "train": "train",
    "compare": "compare",
    "export": "export",
    "import": "import_",
    "plan": "plan",
    "fit": "fit",
    "probe": "probe",
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


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def unknown_command(word: str) -> str | None:
    """The message for a first argument that looks like a mistyped subcommand, else None.

    A bare word that is no command and no existing file (specs have ':', paths '/' or '.') would
    otherwise open the window, or abort without a display."""
    if word in COMMANDS or not _WORD.fullmatch(word) or Path(word).exists():
        return None
    close = difflib.get_close_matches(word, list(COMMANDS), n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}?" if close else f"commands: {', '.join(COMMANDS)}"
    return f"unknown command {word!r}; {hint} (run `freezegui --help`)"


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
        if isinstance(exc, WriteError) and exc.remedies and hasattr(args, "force"):
            return _fail(exc.text("pass --force"))  # a read-only file: this command can force it
        return _fail(error_line(exc))
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("freezegui: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a file we were told to read or write: name it, no traceback
        return _fail(error_line(exc))
    except MemoryError:
        return _fail("out of memory; try --structure-only, a smaller model or a smaller --batch-size")
    except RecursionError:
        return _fail("the input is nested too deeply to process")


def _fail(message: str) -> int:
    print(f"freezegui: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
