"""``freezegui [SPEC] [--rules FILE]``: open the desktop app (ResNet-18 by default).

The window is shown before torch is imported; PyTorch and the model load in the background.
Quitting never waits for a load: if one is still running (a factory that never returns), the
process ends right after the event loop does.
"""

from __future__ import annotations

import argparse
import os
import sys

from freezegui.core.options import DEFAULT_SPEC, LoadOptions, add_load_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="freezegui", description="Open the freezegui app on a model.")
    parser.add_argument(
        "spec", nargs="?", default=DEFAULT_SPEC, metavar="SPEC", help=f"model spec (default: {DEFAULT_SPEC})"
    )
    parser.add_argument("--rules", metavar="FILE", help="apply this rule file once the model is open")
    add_load_arguments(parser)
    return parser


def run_app(argv: list[str]) -> int:
    """Create the application and the main window, start loading, run the event loop."""
    args = build_parser().parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from freezegui.app.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("freezegui")
    app.setApplicationName("freezegui")
    app.setApplicationDisplayName("freezegui")
    window = MainWindow()
    window.show()
    window.open_model_when_painted(LoadOptions.from_args(args), rules=args.rules)
    return finish(int(app.exec()))


def finish(code: int) -> int:
    """After the event loop: end the process at once if a dropped load still runs (a factory that
    never returns would otherwise keep the interpreter waiting for its thread forever)."""
    from freezegui.app.loader import abandoned_loads

    if abandoned_loads():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
