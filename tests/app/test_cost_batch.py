"""The Cost dock's batch field: an absurd batch is limited, and typing a number is one edit, not one per key."""

from __future__ import annotations

from PySide6.QtCore import Qt

from freezegui.app.docks.cost.panel import MAX_BATCH
from tests.app.test_cost_panel import _show_cost
from tests.plan_models import ARCHS


def test_typed_batch_is_one_edit_and_limited(qtbot, window) -> None:
    panel = _show_cost(qtbot, window, next(a for a in ARCHS if a.name == "convnet").make())
    before = panel._generation
    panel.batch.lineEdit().selectAll()
    qtbot.keyClicks(panel.batch.lineEdit(), "1000000")
    assert panel._generation == before  # no replan per keystroke
    qtbot.keyClick(panel.batch.lineEdit(), Qt.Key.Key_Return)
    assert panel._generation <= before + 1
    assert 1 <= panel.batch.value() <= MAX_BATCH
    qtbot.waitUntil(lambda: panel.is_current, timeout=120_000)
    assert panel.plan.options.batch_size == panel.batch.value()
