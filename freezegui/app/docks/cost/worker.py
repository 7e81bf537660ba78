"""What the Cost dock's worker thread runs: the plan, its stop check, and the end signal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def stop_check(stale: threading.Event, cancel: threading.Event) -> Callable[[], bool]:
    """What the plan asks before each op: whether to stop; while an edit has made it stale it
    sleeps (not holding the GIL) until it is told to stop or the window closes."""

    def check() -> bool:
        while stale.is_set() and not cancel.is_set():
            cancel.wait(0.05)
        return cancel.is_set()

    return check


def plan_stage(ended: threading.Event, doc: Any, stage: int, options: Any, **kwargs: Any) -> Any:
    """Plan stage ``stage`` of a document snapshot: its rule file (``doc.to_ruleset()``), evaluated
    by the one stage evaluator, then planned; then say it ended."""
    try:
        import numpy as np

        from freezegui.core.lr.evaluate import evaluate_stage
        from freezegui.core.plan import plan_tree

        rules = doc.to_ruleset()
        mask, adapted = doc.selection.trainable, doc.selection.adapted  # stage 0: what the file says
        if 0 < stage <= len(rules.schedule):
            state = evaluate_stage(doc.tree, rules, stage)
            mask = state.trainable
            adapted = state.adapted if state.adapted is not None else np.zeros_like(adapted)
        return plan_tree(doc.model, doc.tree, mask, rules, options, adapted=adapted, **kwargs)
    finally:
        ended.set()
