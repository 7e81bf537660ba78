"""``freezegui [SPEC] [--rules FILE]``: open the desktop app (ResNet-18 by default)."""

from __future__ import annotations

import argparse
import sys

from freezegui.cli.common import add_model_args, load_kwargs
from freezegui.core.loading import DEFAULT_SPEC


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="freezegui", description="Open the freezegui app on a model.")
    parser.add_argument(
        "spec", nargs="?", default=DEFAULT_SPEC, metavar="SPEC", help=f"model spec (default: {DEFAULT_SPEC})"
    )
    parser.add_argument("--rules", metavar="FILE", help="apply this rule file once the model is open")
    add_model_args(parser, spec=False)
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
    window.open_model(args.spec, rules=args.rules, **load_kwargs(args))
    return int(app.exec())
