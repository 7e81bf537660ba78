"""JSON as the standard defines it, for every file and stream freezegui writes.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which other tools' parsers (PEFT's
JavaScript-free readers included) reject. A diverged loss or an unknown ratio is written ``null``;
settings that must be finite (a LoRA ``lora_alpha``) are refused where they are read, before this.
"""

from __future__ import annotations

import math
from typing import IO, Any


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (at any depth) replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """Standard JSON text (``allow_nan=False`` after :func:`finite`)."""
    import json

    return json.dumps(finite(value), indent=indent, allow_nan=False)


def dump(value: Any, stream: IO[str], *, indent: int | None = 2) -> None:
    """:func:`dumps` written to ``stream``."""
    stream.write(dumps(value, indent=indent))
