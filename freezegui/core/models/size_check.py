"""How much memory a model needs before it is built for real, and a clear refusal when the host lacks it.

Building a terabyte-sized ``hf-config:`` (or ``--num-classes 10**12``) for real would end in the
allocator's "DefaultCPUAllocator: can't allocate memory", or worse, in the kernel killing the process
while the weights are initialised. The same model on the meta device costs a tenth of the build and
no memory, and says exactly how many bytes its parameters and buffers take.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

from torch import nn

from freezegui.core.errors import LoadError

GIB = 2**30
HEADROOM = 0.9  # the build itself, the interpreter and the tree need some of what is free


def model_bytes(model: nn.Module) -> int:
    """Bytes of the model's parameters and buffers, each tensor once (tied weights)."""
    seen: set[int] = set()
    total = 0
    for tensor in [*model.parameters(), *model.buffers()]:
        if id(tensor) not in seen:
            seen.add(id(tensor))
            total += tensor.numel() * tensor.element_size()
    return total


def available_bytes() -> int | None:
    """Memory this host can give now (MemAvailable on Linux); None when it cannot be told."""
    try:  # psutil where installed (it knows macOS and Windows too)
        return int(importlib.import_module("psutil").virtual_memory().available)
    except ImportError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def ensure_fits(spec: str, build_meta: Callable[[], nn.Module], available: int | None = None) -> None:
    """Refuse, in one line with the GiB needed and the way out, a model the host cannot hold."""
    free = available_bytes() if available is None else available
    if free is None:
        return
    needed = model_bytes(build_meta())
    if needed > HEADROOM * free:
        raise LoadError(
            f"{spec} needs {needed / GIB:,.1f} GiB for its weights and this host has {free / GIB:,.1f} GiB "
            "free; --structure-only (structure_only=True) opens it without weights: counts, rules and "
            "plans still work"
        )
