"""The tree at a schedule stage on a 100,000-module model, against a root check-box toggle, in one run.

    python benchmarks/bench_stage_view.py

Goal: picking a stage whose patterns were matched before (the picker again, or an edit while a stage
is shown) and going back to editing each cost at most 2x a toggle of the root check box (both repaint
every fetched row with ranged ``dataChanged``), and neither resets the model. The first pick of a stage
also matches its patterns over every name (reported, no goal: it is the core's matcher). Picks and
toggles alternate over five rounds; medians are compared.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

SCHEDULE = """\
default: freeze
rules: [{train: '1900'}]
schedule:
  - at: {step: 5}
    rules: [{train: '19*', lr_scale: 0.5}]
  - at: {step: 9}
    rules: [{train: '1*.norm'}]
"""
ROUNDS = 5


def _timed(app: QApplication, action) -> float:
    start = time.perf_counter()
    action()
    app.processEvents()
    return time.perf_counter() - start


def main() -> int:
    app = QApplication.instance() or QApplication([])
    from freezegui.app.main_window import MainWindow
    from freezegui.core.editing.document import Document
    from freezegui.core.lr.evaluate import stage_problems
    from freezegui.core.rules.ruleset import RuleSet
    from tests.app.conftest import FakePrompt
    from tests.models import wide_model

    folder = tempfile.TemporaryDirectory()
    settings = QSettings(str(Path(folder.name) / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, prompt=FakePrompt())
    window.resize(1200, 800)
    window.show()
    doc = Document.from_model(wide_model(100_000), "bench")
    window.set_document(doc)
    rules = RuleSet.loads(SCHEDULE)
    assert not stage_problems(doc.tree, rules)  # every stage rule matches something
    doc.apply_ruleset(rules)
    model, bar = window.tree_model, window.stage_bar
    window.tree_view.expand(model.index_of(doc.tree.root))
    app.processEvents()
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    first = _timed(app, lambda: bar.show_stage(1))
    _timed(app, lambda: bar.show_stage(0))
    root = model.index_of(doc.tree.root)
    pick, back, toggle = [], [], []
    for r in range(ROUNDS):
        pick.append(_timed(app, lambda r=r: bar.show_stage(1 + r % 2)))
        back.append(_timed(app, lambda: bar.show_stage(0)))
        state = Qt.CheckState.Checked if r % 2 == 0 else Qt.CheckState.Unchecked
        toggle.append(_timed(app, lambda s=state: model.setData(root, s, Qt.ItemDataRole.CheckStateRole)))
    p, b, t = (statistics.median(x) * 1000 for x in (pick, back, toggle))
    print(f"{len(doc.tree.modules):,} modules, {len(doc.schedule)} stages")
    print(f"first pick of a stage (matches its patterns): {first * 1000:.0f} ms")
    print(f"pick a stage: {p:.1f} ms, back to editing: {b:.1f} ms, root toggle: {t:.1f} ms (medians)")
    ok = p <= 2 * t and b <= 2 * t and not resets
    print(f"goal (pick and back <= 2x a root toggle, no model reset): {'met' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
