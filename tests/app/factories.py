"""Model factories that misbehave, for the loader's tests (``py:tests.app.factories:NAME``)."""

from __future__ import annotations

import sys
import threading

from tests.models import MLP


def sleeps_forever() -> MLP:
    threading.Event().wait()  # never set: a factory that never returns
    raise AssertionError("unreachable")


def exits() -> MLP:
    sys.exit(3)


def interrupted() -> MLP:
    raise KeyboardInterrupt
