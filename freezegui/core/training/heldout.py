"""The held-out part of a run's data: batches that cover each validation example exactly once.

Kept apart from the data builders so the report and the evaluation can name it without importing them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HeldOut:
    """Validation examples: ``batches()`` yields ``(inputs, labels)`` batches, every example once.

    ``digest`` identifies the examples (a hash of their content, or of their places in the data), so
    runs compared side by side can show they were scored on the same ones.
    """

    description: str
    count: int
    batches: Callable[[], Iterator[tuple[Any, Any]]]
    digest: str
