"""Hypothesis strategies shared by the tests: selections, and module graphs to walk."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st
from torch import nn

from freezegui.core.structure.tree import ModuleTree


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


@st.composite
def module_graphs(draw: st.DrawFn) -> nn.Module:
    """Random module graphs with everything a walk must get right: a submodule reused at two places,
    tied parameters (one tensor under two names), parameter and submodule slots set to None, frozen
    tensors, and parameters on the root itself. Module ``i`` only contains modules ``j > i`` (no cycles)."""
    n = draw(st.integers(1, 12))
    graph = [nn.Module() for _ in range(n)]
    made: list[nn.Parameter] = []
    for i, module in enumerate(graph):
        for slot in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["new", "new", "none", "tie"] if made else ["new", "none"]))
            if kind == "none":
                module.register_parameter(f"p{slot}", None)
                continue
            if kind == "tie":
                param = made[draw(st.integers(0, len(made) - 1))]
            else:
                param = nn.Parameter(torch.zeros(draw(st.integers(1, 6))), requires_grad=draw(st.booleans()))
                made.append(param)
            module.register_parameter(f"p{slot}", param)
        if i + 1 < n:
            picks = draw(st.lists(st.one_of(st.none(), st.integers(i + 1, n - 1)), max_size=4))
            for slot, j in enumerate(picks):
                module.register_module(f"m{slot}", None if j is None else graph[j])
    return graph[0]
