"""``freezegui [SPEC] [--rules FILE]``: open the desktop app (ResNet-18 by default).

The window is shown before torch is imported; PyTorch and the model load in the background.
Quitting never waits for a load: if one is still running (a factory that never returns), the
process ends right after the event loop does.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources

from freezegui.core.models.options import DEFAULT_SPEC, LoadOptions, add_load_arguments

NO_DISPLAY = (
    "freezegui: no display to open the app on (DISPLAY and WAYLAND_DISPLAY are not set).\n"
    "Run it in a desktop session (or over `ssh -X`), or use the command line without a window:\n"
    "  freezegui summary torchvision:resnet18     freezegui --help\n"
    "(QT_QPA_PLATFORM=offscreen starts the app with no visible window; it is meant for tests.)"
)


INSTALL_QT = "Install Qt for Python: pip install 'PySide6>=6.8,!=6.12.0' superqt"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="freezegui", description="Open the freezegui app on a model.")
    parser.add_argument(
        "spec", nargs="?", default=DEFAULT_SPEC, metavar="SPEC", help=f"model spec (default: {DEFAULT_SPEC})"
    )
    parser.add_argument("--rules", metavar="FILE", help="apply this rule file once the model is open")
    add_load_arguments(parser)
    return parser


def display_problem(environ: dict[str, str] | None = None, platform: str = sys.platform) -> str | None:
    """Why Qt cannot open a window here (it would abort the process), or None.

    Only Linux/BSD need a display server; a set QT_QPA_PLATFORM means the user chose a backend."""
    env = os.environ if environ is None else environ
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    if env.get("QT_QPA_PLATFORM") or env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return NO_DISPLAY


def icon_path() -> str:
    """The app icon shipped in the package (also used by the freedesktop .desktop file)."""
    return str(resources.files("freezegui") / "resources" / "freezegui.svg")


# Background work (imports, loads, plans, training) holds the GIL between its bytecode switches;
# each Qt callback into Python waits for the next one. At CPython's default 5 ms a toggle that
# repaints the tree (one callback per row) waited up to 67 ms while a plan ran (worst of 20 in
# benchmarks/bench_plan.py --ui); 1 ms gave 16-22 ms, 0.5 ms 15 ms. An idle UI costs nothing.
SWITCH_INTERVAL_S = 0.0005


def configure_interpreter() -> None:
    """Interpreter settings the app runs with, once PySide6 is imported (the benchmarks call this too)."""
    from freezegui.app import import_scan

    sys.setswitchinterval(SWITCH_INTERVAL_S)
    import_scan.cheapen()


def run_app(argv: list[str]) -> int:
    """Create the application and the main window, start loading, run the event loop."""
    args = build_parser().parse_args(argv)
    problem = display_problem()
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    try:
        from PySide6.QtGui import QIcon
        from PySide6.QtWidgets import QApplication

        configure_interpreter()  # before the window's modules: they are the first PySide6 scans
        from freezegui.app.main_window import MainWindow
    except ImportError as exc:  # both entry points (freezegui, freezegui-gui) come through here
        print(f"freezegui: the desktop app cannot start: {exc}. {INSTALL_QT}", file=sys.stderr)
        return 2
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setOrganizationName("freezegui")
    app.setApplicationName("freezegui")
    app.setApplicationDisplayName("freezegui")
    app.setDesktopFileName("freezegui")  # Wayland matches the window to freezegui.desktop by this
    app.setWindowIcon(QIcon(icon_path()))
    window = MainWindow()
    window.show()
    window.open_model_when_painted(LoadOptions.from_args(args), rules=args.rules)
    return finish(int(app.exec()))


def finish(code: int) -> int:
    """After the event loop: end the process at once if a dropped load still runs (a factory that
    never returns would otherwise keep the interpreter waiting for its thread forever)."""
    from freezegui.app.commands.loader import abandoned_loads

    if abandoned_loads():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def main() -> int:
    """The ``freezegui-gui`` entry point (a GUI script: no console window on Windows)."""
    return run_app(sys.argv[1:])
