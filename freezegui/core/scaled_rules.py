"""The shortest rule list that reproduces a selection with learning-rate scales.

Each tensor has a label: frozen, or trains at scale s (one label per distinct scale). A rule sets the
label of the tensors it matches (``freeze: P``, ``train: P`` for 1.0, ``train: P`` + ``lr_scale: s``);
the last matching rule wins. The dynamic programme generalises :func:`rules_from_selection` from two
labels to K: for each module and label t, the fewest rules inside it when its subtree starts at t.
Without scales other than 1.0 it defers to that function (same output as before scales existed).
"""

from __future__ import annotations

import numpy as np

from freezegui.core.rules import Rule, RuleSet, literal_pattern, rules_from_selection
from freezegui.core.tree import ModuleNode, ModuleTree


def rules_with_scales(
    tree: ModuleTree, trainable: np.ndarray, scales: np.ndarray | None = None, *, prefer: str = "freeze"
) -> RuleSet:
    """The shortest exact rule list for ``trainable`` and per-tensor ``scales`` (ignored where frozen)."""
    trainable = np.asarray(trainable, dtype=bool)
    if scales is None:
        scales = np.ones(len(tree.params))
    scales = np.asarray(scales, dtype=np.float64)
    if not np.all(scales[trainable] == 1.0):
        return _shortest(tree, trainable, scales, prefer)
    return rules_from_selection(tree, trainable, prefer="train" if prefer == "train" else "freeze")


def _shortest(tree: ModuleTree, trainable: np.ndarray, scales: np.ndarray, prefer: str) -> RuleSet:
    values = sorted(set(scales[trainable].tolist()) | {1.0})
    label_scale = [0.0, *values]  # label 0: frozen; label k > 0: trains at label_scale[k]
    lookup = {v: k + 1 for k, v in enumerate(values)}
    labels = np.zeros(len(tree.params), dtype=np.int64)
    labels[trainable] = [lookup[v] for v in scales[trainable].tolist()]
    n_nodes, k = len(tree.nodes), len(label_scale)
    occ_node = np.repeat(np.arange(len(tree.modules), dtype=np.int64), np.diff(tree.occ_start))
    own = np.zeros((n_nodes, k), dtype=np.int64)  # own[i, t]: direct occurrences of i with label t
    np.add.at(own, (occ_node, labels[tree.occ_param]), 1)
    own_total = own.sum(axis=1)
    parent = np.frombuffer(tree._parent, dtype=np.int64)
    base = np.zeros((n_nodes, k), dtype=np.int64)  # rules inside i (none on i) when it starts at t
    cost = np.zeros((n_nodes, k), dtype=np.int64)  # best inside i, inheriting t
    below = np.zeros((n_nodes, k), dtype=np.int64)  # sum of the children's cost
    for i in range(n_nodes - 1, -1, -1):
        if tree.nparams[i] == 0:
            continue
        base[i] = own_total[i] - own[i] + below[i]
        cost[i] = np.minimum(base[i], 1 + base[i].min())
        if i:
            below[parent[i]] += cost[i]
    one = lookup[1.0]
    pref, other = (0, one) if prefer != "train" else (one, 0)
    default = pref if base[0, pref] <= base[0, other] else other
    rules: list[Rule] = []

    def rule(label: int, path: str) -> Rule:
        if label == 0:
            return Rule.make("freeze", literal_pattern(path))
        scale = label_scale[label]
        return Rule.make("train", literal_pattern(path), lr_scale=None if scale == 1.0 else scale)

    def emit(node: ModuleNode, inherited: int) -> None:
        i = node.index
        if tree.nparams[i] == 0:
            return
        t = inherited
        if i and base[i, inherited] > 1 + base[i].min():
            t = int(base[i].argmin())
            rules.append(rule(t, node.path))
        for e in node.params:
            if labels[e.info.index] != t:
                rules.append(rule(int(labels[e.info.index]), e.path))
        for c in node.children:
            emit(c, t)

    emit(tree.root, default)
    return RuleSet(rules=rules, default="train" if default else "freeze")
