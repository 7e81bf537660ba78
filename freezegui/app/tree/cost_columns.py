"""View → Cost columns: shows the tree's output-shape, FLOPs and activations columns and asks the Cost
dock for per-module plans while they show (its background plan fills them; see :mod:`plan_columns`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction

from freezegui.app.tree.columns import COL_RGN, COST_COLUMNS
from freezegui.app.tree.plan_columns import NUMBERS

if TYPE_CHECKING:
    from freezegui.app.main_window import MainWindow


def install(window: MainWindow) -> QAction:
    """Hide the cost columns, add the View menu's toggle, and follow the Cost dock's plans."""
    panel, header = window.cost_panel, window.tree_view.header()
    assert panel is not None  # installed right after the Cost dock is made
    for col in (*COST_COLUMNS, COL_RGN):  # RGN: shown once a probe has filled it
        header.hideSection(col)
    action = QAction("Cost columns (shape, FLOPs, activations)", window)
    action.setObjectName("costColumns")
    action.setCheckable(True)
    action.setToolTip("Per-module output shape, step FLOPs and saved activations from the Cost dock's plan")
    window.menus["View"].addAction(action)

    def toggled(on: bool) -> None:
        for col in COST_COLUMNS:
            header.setSectionHidden(col, not on)
        panel.per_module = on
        if on and (panel.plan is None or panel.plan.modules is None):
            panel.schedule()  # the plan on screen has no per-module numbers: plan again

    def shown(plan: Any) -> None:
        if panel.per_module:
            NUMBERS.set_plan(window.document, plan)
            window.tree_model.invalidate()
            window.details.refresh()

    def stale() -> None:
        if not NUMBERS.stale:
            NUMBERS.stale = True
            if panel.per_module:
                window.tree_model.invalidate()  # grey every cost cell at once, as the dock greys

    action.toggled.connect(toggled)
    panel.planShown.connect(shown)
    panel.planStale.connect(stale)
    return action
