"""The shortest exact rule file with lr scales on a 10^5-module model, next to the plain (no scales) one.

    python benchmarks/bench_scaled_rules.py

A Selection of ~1,960 blocks with layer-wise decay applied (one scale per block: ~1,960 labels) and a
tenth of the blocks frozen; the two exporters alternate, medians of 5 runs.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from freezegui.core.lr.scales import decay_scales
from freezegui.core.rules.ruleset import rules_from_selection
from freezegui.core.rules.writer import rules_with_scales
from freezegui.core.structure.tree import build_tree
from tests.models import wide_model


def main() -> None:
    tree = build_tree(wide_model())
    scales = decay_scales(tree, 0.999)
    mask = np.ones(len(tree.params), dtype=bool)
    for block in tree.root.children[::10]:
        mask[tree.param_indices(block)] = False
    few = np.where(scales > np.median(scales), 1.0, 0.5)  # two scales
    plain, two, many = [], [], []
    for _ in range(5):
        t = time.perf_counter()
        rules_from_selection(tree, mask)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        rs2 = rules_with_scales(tree, mask, few)
        two.append(time.perf_counter() - t)
        t = time.perf_counter()
        rs = rules_with_scales(tree, mask, scales)
        many.append(time.perf_counter() - t)
    print(f"modules {len(tree.modules):,}, tensors {len(tree.params):,}")
    print(f"plain shortest file             {statistics.median(plain) * 1000:8.1f} ms")
    print(f"with 2 scales ({len(rs2.rules):,} rules)      {statistics.median(two) * 1000:8.1f} ms")
    print(
        f"with {len(set(scales.tolist())):,} scales ({len(rs.rules):,} rules) {statistics.median(many) * 1000:8.1f} ms"
    )


if __name__ == "__main__":
    main()
