"""Keeps the cyclic garbage collector off the loaded model while the app runs.

A full (generation 2) collection scans every tracked object: with torch, transformers and a model
loaded that took 260-300 ms here, and it runs in whichever thread happens to allocate, so a
background plan or training step triggered it as often as the UI did, and a click waited for it
(benchmarks/bench_plan.py --ui: toggles of 290-320 ms while the Cost dock planned). Once a
document is shown, what is alive is moved to the permanent generation (``gc.freeze``): later
collections scan only what was made since. Before a new document is frozen the old one's cycles
are collected once (at open time, when the user waits anyway).
"""

from __future__ import annotations

import gc


def keep_imported() -> None:
    """After an import made with the collector paused (the loader's): what it made goes to the
    permanent generation too. The first collection after the pause would walk all of it (torch +
    torchvision: 0.2-0.3 s on the loader's thread); its few cycles (~9,000 objects) are collected
    when a later document replaces this one, as :func:`settle` does."""
    gc.freeze()


def settle(replaced: bool) -> None:
    """After a document is shown: collect what an old one left (if it replaced one), then freeze."""
    if replaced:
        gc.unfreeze()
        gc.collect()
    gc.freeze()
