"""``freezegui [SPEC] [--rules FILE]``: open the desktop app (ResNet-18 by default)."""

from __future__ import annotations

import argparse
import sys

from freezegui.core.loading import DEFAULT_SPEC


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="freezegui", description="Open the freezegui app on a model.")
    parser.add_argument(
        "spec", nargs="?", default=DEFAULT_SPEC, metavar="SPEC", help=f"model spec (default: {DEFAULT_SPEC})"
    )
    parser.add_argument("--rules", metavar="FILE", help="apply this rule file once the model is open")
    parser.add_argument(
        "--structure-only", action="store_true", help="build on the meta device: no weights, no memory"
    )
    parser.add_argument(
        "--num-classes", type=int, metavar="N", help="replace the classification head with N outputs"
    )
    parser.add_argument("--weights", metavar="FILE", help="state dict to load into the architecture")
    parser.add_argument(
        "--pretrained", action="store_true", help="torchvision: pretrained weights from the torch cache"
    )
    parser.add_argument(
        "--trust-pickle", action="store_true", help="allow a pickled nn.Module (runs code from the file)"
    )
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
    window.open_model(
        args.spec,
        rules=args.rules,
        structure_only=args.structure_only,
        num_classes=args.num_classes,
        weights=args.weights,
        pretrained=args.pretrained,
        trust_pickle=args.trust_pickle,
    )
    return int(app.exec())
