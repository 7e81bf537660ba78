"""Render the README screenshot: the main window on ResNet-18 (10 classes), training layer4 and fc.

    python scripts/screenshot.py [--out resources/screenshot.png] [--busy /tmp/busy.png]
                                 [--size 1366x768] [--dark]

``--busy`` also renders the first seconds of a start: the window with its "Loading PyTorch…" state.

Runs offscreen (no display needed) with temporary settings, so the picture does not depend on a
saved window layout; the model is built with random weights (nothing is downloaded).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtGui import QColor, QPalette  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from freezegui.app.main_window import MainWindow  # noqa: E402
from freezegui.core.editing.document import Document  # noqa: E402
from freezegui.core.models.options import LoadOptions  # noqa: E402
from freezegui.core.rules.ruleset import RuleSet  # noqa: E402

RULES = """\
default: freeze
rules:
  - train: layer4
  - train: fc
"""
EXPANDED = ("layer4", "layer4.1", "fc")  # the root is expanded when a model opens
CURRENT = "layer4.1"
SIZE = (1280, 800)
COST_WIDTH = 460


def dark_palette() -> QPalette:
    """A dark palette, as a desktop in dark mode gives the app."""
    pal = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#2b2b2b",
        QPalette.ColorRole.WindowText: "#e8e8e8",
        QPalette.ColorRole.Base: "#1e1e1e",
        QPalette.ColorRole.AlternateBase: "#262626",
        QPalette.ColorRole.Text: "#e8e8e8",
        QPalette.ColorRole.Button: "#333333",
        QPalette.ColorRole.ButtonText: "#e8e8e8",
        QPalette.ColorRole.Highlight: "#2f65ca",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#333333",
        QPalette.ColorRole.ToolTipText: "#e8e8e8",
        QPalette.ColorRole.Mid: "#555555",
    }
    for role, colour in colours.items():
        pal.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    return pal


def render(out: Path, size: tuple[int, int] = SIZE, dark: bool = False) -> Path:
    app = QApplication.instance() or QApplication([])
    app.setApplicationName("freezegui")
    if dark:
        app.setStyle("Fusion")
        app.setPalette(dark_palette())
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings)
        window.resize(*size)
        window.show()
        doc = Document.load("torchvision:resnet18", num_classes=10)
        window.set_document(doc)
        doc.apply_ruleset(RuleSet.loads(RULES), label="Train layer4 and fc")
        doc.selection.mark_saved()  # the picture shows a saved state, and closing asks nothing
        for path in EXPANDED:
            window.tree_view.expand(window.view_index(doc.tree.node(path)))
        window.tree_pane.reveal(CURRENT)
        window.tree_view.scrollToTop()
        window.tree_pane.fit_columns()
        window.cost_panel.raise_()  # what the selection costs, planned in the background
        window.resizeDocks([window.cost_panel], [COST_WIDTH], Qt.Orientation.Horizontal)
        window.tree_view.setFocus()
        deadline = time.monotonic() + 60
        while not window.cost_panel.is_current and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.02)
        for _ in range(5):
            app.processEvents()
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            raise SystemExit(f"could not write {out}")
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.close()
        app.processEvents()
    return out


def render_busy(out: Path) -> Path:
    """The window as `freezegui` first paints it, while PyTorch loads in the background."""
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings)
        window.resize(*SIZE)
        window.show()
        window.open_model_when_painted(LoadOptions("torchvision:resnet18"))
        for _ in range(5):
            app.processEvents()
        if not window.grab().save(str(out)):
            raise SystemExit(f"could not write {out}")
        window.controller.abandon_load()
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.close()
        app.processEvents()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshot.png")
    parser.add_argument(
        "--busy", type=Path, help="also render the loading state here (a check, not for the README)"
    )
    parser.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}", help="window size, WIDTHxHEIGHT")
    parser.add_argument("--dark", action="store_true", help="a dark palette (Fusion style)")
    args = parser.parse_args()
    if args.busy:
        print(render_busy(args.busy))
    width, height = (int(v) for v in args.size.lower().split("x"))
    print(render(args.out, (width, height), args.dark))


if __name__ == "__main__":
    main()
