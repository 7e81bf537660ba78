"""View → Cost columns: the tree shows each module's output shape, FLOPs and activations from the Cost
dock's per-module plan, greyed while stale; the Details pane and the Train box's tooltip show them too."""

from __future__ import annotations

from PySide6.QtCore import Qt

from freezegui.app.tree.columns import COL_NAME, COST_COLUMNS
from freezegui.app.tree.plan_columns import NUMBERS
from tests.app.test_cost_panel import _show_cost
from tests.plan_models import ARCHS


def _row(window, path: str, col: int):
    model = window.tree_model
    node = window.document.tree.node(path)
    return model.index(
        node.row, col, model.index(node.parent.row, 0) if node.parent.parent else model.index(0, 0)
    )


def test_cost_columns_fill_from_the_plan_and_grey_while_stale(qtbot, window) -> None:
    panel = _show_cost(qtbot, window, next(a for a in ARCHS if a.name == "resnet18").make())
    header = window.tree_view.header()
    assert all(header.isSectionHidden(c) for c in COST_COLUMNS)  # optional: hidden until asked for
    with qtbot.waitSignal(panel.planShown, timeout=120_000):
        window.cost_columns_action.setChecked(True)
    assert not any(header.isSectionHidden(c) for c in COST_COLUMNS)
    assert panel.plan.modules is not None and not NUMBERS.stale
    doc = window.document
    doc.selection.set_subtree(doc.tree.root, False)
    with qtbot.waitSignal(panel.planShown, timeout=120_000):
        doc.selection.set_subtree(doc.tree.node("fc"), True)
    window.tree_view.expandToDepth(0)
    fc_shape = _row(window, "fc", COST_COLUMNS[0])
    assert fc_shape.data() == "[2, 10]"
    assert _row(window, "layer1", COST_COLUMNS[1]).data().startswith("█")  # the heat bar: most FLOPs
    assert _row(window, "conv1", COST_COLUMNS[2]).data().endswith(" 0 B")  # below the first trained layer
    tip = _row(window, "conv1", COL_NAME).data(Qt.ItemDataRole.ToolTipRole)
    assert "Trained (as in full fine-tuning)" in tip and "Unfreezing it adds" in tip
    window.details.show_item(doc, doc.tree.node("fc"))
    assert "output [2, 10]" in window.details.title.text()
    window.grab().save("/tmp/planner-cost-columns.png")
    colour = fc_shape.data(Qt.ItemDataRole.ForegroundRole)
    doc.selection.set_subtree(doc.tree.node("layer4"), True)  # an edit: the numbers are stale now
    assert NUMBERS.stale
    assert fc_shape.data(Qt.ItemDataRole.ForegroundRole) not in (None, colour)  # greyed, as the dock
    assert "(stale)" in (window.details.title.text() if window.details.refresh() is None else "")
