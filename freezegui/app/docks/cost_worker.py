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


def plan_then_set(ended: threading.Event, *args: Any, **kwargs: Any) -> Any:
    """The worker's job: plan, then say it ended (queued or running until then, see shutdown)."""
    from freezegui.core.plan import plan_tree

    try:
        return plan_tree(*args, **kwargs)
    finally:
        ended.set()
