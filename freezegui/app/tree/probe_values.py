"""The last probe's RGN per module of an open tree, for the RGN column (Qt-free, like the columns).

Kept by tree (a weak key: closing the model drops it); a stage view shares its document's tree, so it
shows the same values. The tint is logarithmic: RGN spans orders of magnitude (a stem convolution's
can be 20x a block's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from weakref import WeakKeyDictionary

import numpy as np

from freezegui.core.structure.tree import ModuleTree


@dataclass
class ProbeValues:
    rgn: np.ndarray  # per module of the tree (NaN: no value)
    low: float  # log10 of the smallest positive value
    high: float  # log10 of the largest

    @classmethod
    def of(cls, rgn: np.ndarray) -> ProbeValues:
        positive = rgn[np.isfinite(rgn) & (rgn > 0)]
        if not positive.size:
            return cls(rgn, 0.0, 0.0)
        return cls(rgn, float(np.log10(positive.min())), float(np.log10(positive.max())))

    def heat(self, index: int) -> float | None:
        """0..1 on a log scale between the smallest and the largest RGN (0 for RGN 0; None: no value)."""
        value = float(self.rgn[index])
        if not math.isfinite(value):
            return None
        if value <= 0 or self.high <= self.low:
            return 0.0 if value <= 0 else 1.0
        return (math.log10(value) - self.low) / (self.high - self.low)


PROBED: WeakKeyDictionary[ModuleTree, ProbeValues] = WeakKeyDictionary()


def set_probe(tree: ModuleTree, rgn: np.ndarray) -> None:
    PROBED[tree] = ProbeValues.of(np.asarray(rgn, dtype=np.float64))


def probe_values(tree: ModuleTree) -> ProbeValues | None:
    return PROBED.get(tree)
