"""The cyclic garbage collector paused while work that makes no garbage builds a large graph.

A full collection walks every tracked object, and while a graph grows the collector runs again and
again over all of it: half the time of reading a 60,000-stage rule file went to collections, and
about 0.4 s of importing torch + torchvision in the app (whose Qt objects make every walk longer).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_LOCK = threading.Lock()
_paused = [0, False]  # how many pauses are open now (any thread), whether the collector ran before the first


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No automatic collection inside (nested and in several threads: on again when the last ends).

    A generator that yields inside the pause must be closed when dropped, or the pause outlives it."""
    with _LOCK:
        if _paused[0] == 0:
            _paused[1] = gc.isenabled()
            gc.disable()
        _paused[0] += 1
    try:
        yield
    finally:
        with _LOCK:
            _paused[0] -= 1
            if _paused[0] == 0 and _paused[1]:
                gc.enable()


__all__ = ["paused"]
