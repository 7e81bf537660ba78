"""The held-out split: which examples validate, the same for every run that uses the same seed.

It depends only on the number of examples, the fraction and the seed (never on the model or the
selection), so runs compared side by side are scored on identical examples.
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_VAL_FRACTION = 0.1
_SPLIT_SALT = 0x5EED  # the split's generator is apart from the data order's (same seed, other stream)


def held_out_count(n: int, fraction: float) -> int:
    """How many of ``n`` examples a ``fraction`` holds out: floor(n * fraction), leaving at least one to train."""
    if n < 2 or fraction <= 0:
        return 0
    return min(n - 1, math.floor(n * fraction))


def split_indices(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """``(train, val)`` indices of ``n`` examples, both ascending: a seeded choice of the held-out part."""
    k = held_out_count(n, fraction)
    if k == 0:
        return list(range(n)), []
    order = np.random.default_rng([seed & 0xFFFFFFFF, _SPLIT_SALT]).permutation(n)
    val = sorted(int(i) for i in order[:k])
    chosen = set(val)
    return [i for i in range(n) if i not in chosen], val
