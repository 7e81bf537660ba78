"""Hypothesis strategies shared by the round-trip tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from freezegui.core.tree import ModuleTree


@st.composite
def selections(draw: st.DrawFn, tree: ModuleTree) -> np.ndarray:
    """Selections built like users build them: subtree toggles, then a few single tensors flipped."""
    mask = np.full(len(tree.params), draw(st.booleans()))
    for _ in range(draw(st.integers(0, 6))):
        node = tree.nodes[draw(st.integers(0, len(tree.nodes) - 1))]
        mask[tree.param_indices(node)] = draw(st.booleans())
    flips = draw(st.lists(st.integers(0, len(tree.params) - 1), max_size=4))
    mask[flips] = ~mask[flips]
    return mask
