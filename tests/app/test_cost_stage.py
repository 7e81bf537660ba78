"""The Cost dock plans the document's rule file (``doc.to_ruleset()``) at the stage the user picks."""

from __future__ import annotations

from freezegui.core.editing.document import Document
from freezegui.core.lr.evaluate import evaluate_stage
from freezegui.core.rules.ruleset import RuleSet
from tests.plan_models import ARCHS

STAGED = """\
default: freeze
rules:
- train: fc
schedule:
- at: {step: 5}
  rules:
  - train: features
"""


def test_cost_dock_says_which_stage_it_plans_and_plans_the_picked_one(qtbot, window) -> None:
    model = next(a for a in ARCHS if a.name == "convnet").make()
    qtbot.waitExposed(window)
    window._ensure_core()
    qtbot.wait(50)
    panel = window.cost_panel
    panel.raise_()
    qtbot.waitUntil(lambda: panel.isVisible() and panel._shown)
    doc = Document.from_model(model, "test")
    doc.apply_ruleset(RuleSet.loads(STAGED))
    with qtbot.waitSignal(panel.planShown, timeout=120_000):
        window.set_document(doc)
    assert panel.stage.isVisible() and panel.stage.count() == 2
    assert panel.stage.currentText() == "before any stage"
    first = panel.plan.counts.trainable
    assert first == int(doc.tree.numel[doc.selection.trainable].sum())
    with qtbot.waitSignal(panel.planShown, timeout=120_000):
        panel.stage.setCurrentIndex(1)
    assert panel.stage.currentText().startswith("Stage 1")
    want = evaluate_stage(doc.tree, doc.to_ruleset(), 1).trainable
    assert panel.plan.counts.trainable == int(doc.tree.numel[want].sum()) > first
    doc.selection.set_schedule([], label="No schedule")
    qtbot.waitUntil(lambda: not panel.stage.isVisible(), timeout=30_000)
