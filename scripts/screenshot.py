"""Render the README screenshot: the main window on ResNet-18 (10 classes), training layer4 and fc.

    python scripts/screenshot.py [--out resources/screenshot.png] [--busy /tmp/busy.png]

``--busy`` also renders the first seconds of a start: the window with its "Loading PyTorch…" state.

Runs offscreen (no display needed) with temporary settings, so the picture does not depend on a
saved window layout; the model is built with random weights (nothing is downloaded).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings, Qt  # noqa: E402
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
DETAILS_WIDTH = 545


def render(out: Path) -> Path:
    app = QApplication.instance() or QApplication([])
    app.setApplicationName("freezegui")
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings)
        window.resize(*SIZE)
        window.show()
        doc = Document.load("torchvision:resnet18", num_classes=10)
        window.set_document(doc)
        doc.apply_ruleset(RuleSet.loads(RULES), label="Train layer4 and fc")
        doc.selection.mark_saved()  # the picture shows a saved state, and closing asks nothing
        for path in EXPANDED:
            window.tree_view.expand(window.view_index(doc.tree.node(path)))
        window.tree_pane.reveal(CURRENT)
        window.tree_view.scrollToTop()
        window.details_dock.raise_()
        # wide enough for every column of the details table (no horizontal scroll bar)
        window.resizeDocks([window.details_dock], [DETAILS_WIDTH], Qt.Orientation.Horizontal)
        header = window.tree_view.header()  # ResNet names are short: give the room to the details
        header.resizeSection(0, 230)
        header.resizeSection(1, 140)
        window.tree_view.setFocus()
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
    args = parser.parse_args()
    if args.busy:
        print(render_busy(args.busy))
    print(render(args.out))


if __name__ == "__main__":
    main()
