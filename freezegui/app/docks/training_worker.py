"""The training dock's background work: the core's step generator, batched for the UI thread.

Run by a superqt generator worker (the same style as model loading); it never touches a widget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any

from PySide6.QtCore import Qt
from superqt.utils import GeneratorWorker, create_worker

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


Slots = dict[str, Callable[..., Any] | Sequence[Callable[..., Any]]]


def start_worker(
    steps: Callable[..., Generator[Any, None, Any]],
    make: Callable[[threading.Event], Any],
    stop: threading.Event,
    done: threading.Event,
    connect: Slots,
) -> GeneratorWorker[Any, Any, Any]:
    """Start ``steps(make, stop)`` in a superqt worker whose slots (bound methods of a dock) are
    delivered queued, in the UI thread; ``done`` is set in the worker's thread when it ends, so a
    shutdown can wait for it without the event loop."""
    worker: GeneratorWorker[Any, Any, Any] = create_worker(
        steps, make, stop, _start_thread=False, _connect=connect
    )
    # superqt's stub types no-argument signals as taking one None, and no connection type
    worker.finished.connect(done.set, Qt.ConnectionType.DirectConnection)  # type: ignore[arg-type]
    worker.start()
    return worker


__all__ = ["EMIT_INTERVAL", "start_worker", "training_batches"]
