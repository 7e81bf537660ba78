"""The training dock's background work: the core's step generator, batched for the UI thread.

Run by a superqt generator worker (the same style as model loading); it never touches a widget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator

from freezegui.core.errors import TrainingError
from freezegui.core.training.engine import TrainingRun
from freezegui.core.training.report import StepResult

EMIT_INTERVAL = 0.05  # seconds between progress batches: a fast model cannot flood the event loop


def training_batches(
    make_run: Callable[[threading.Event], TrainingRun], stop: threading.Event
) -> Generator[list[StepResult], None, TrainingRun]:
    """Run in the worker: the core's step generator, batched; returns the ended run."""
    try:
        run = make_run(stop)
        pending: list[StepResult] = []
        last = 0.0
        for result in run.steps():  # the one call of the core's training generator in the app
            pending.append(result)
            now = time.monotonic()
            if now - last >= EMIT_INTERVAL:
                yield pending
                pending, last = [], now
        if pending:
            yield pending
        run.release()
        return run
    except (Exception, GeneratorExit):  # GeneratorExit: the worker closing the generator
        raise
    except BaseException as exc:  # SystemExit/KeyboardInterrupt in user code: an error, not a dead worker
        from freezegui.core.messages import error_line

        raise TrainingError(f"the run stopped with {error_line(exc)}") from None


__all__ = ["EMIT_INTERVAL", "training_batches"]
