"""The shortest rule list that reproduces a selection with learning-rate scales.

Each tensor has a label: frozen, or trains at scale s (one label per distinct scale). A rule sets the
label of the tensors it matches (``freeze: P``, ``train: P`` for 1.0, ``train: P`` + ``lr_scale: s``);
the last matching rule wins. The dynamic programme generalises :func:`rules_from_selection` from two
labels to K: for each module and label t, the fewest rules inside it when its subtree starts at t.
Without scales other than 1.0 it defers to that function (same output as before scales existed).
"""

from __future__ import annotations

import numpy as np

from freezegui.core.rules.ruleset import Rule, RuleSet, literal_pattern, rules_from_selection
from freezegui.core.structure.tree import ModuleNode, ModuleTree


def rules_with_scales(
    tree: ModuleTree,
    trainable: np.ndarray,
    scales: np.ndarray | None = None,
    *,
    prefer: str = "freeze",
    base: np.ndarray | None = None,
) -> RuleSet:
    """The shortest exact rule list for ``trainable`` and per-tensor ``scales`` (ignored where frozen).

    ``base`` is the scale a ``train:`` rule without ``lr_scale`` gives (a file's ``layer_decay``
    scales; 1.0 when None): a tensor at its base needs no ``lr_scale``, any other gets one."""
    trainable = np.asarray(trainable, dtype=bool)
    if scales is None:
        scales = np.ones(len(tree.params))
    scales = np.asarray(scales, dtype=np.float64)
    plain = 1.0 if base is None else _PLAIN
    if base is not None:
        scales = np.where(scales == np.asarray(base, dtype=np.float64), _PLAIN, scales)
    if not np.all(scales[trainable] == plain):
        return _shortest(tree, trainable, scales, prefer, plain)
    return rules_from_selection(tree, trainable, prefer="train" if prefer == "train" else "freeze")


_PLAIN = -1.0  # label of "trains at its base scale" when a base is given (never a valid lr_scale)


def _shortest(
    tree: ModuleTree, trainable: np.ndarray, scales: np.ndarray, prefer: str, plain: float
) -> RuleSet:
    """K-label dynamic programme in a sparse form (K can be one label per block of a deep model).

    For a module i with parameters, base[i][t] (rules inside i when it starts at label t) is
    ``C[i] - g[i][t]``: a constant minus a gain that is non-zero only for labels present below i, and
    cost[i][t] = min(base[i][t], 1 + min base[i]) is ``1 + m[i]`` except ``m[i]`` on the labels A[i]
    where base is minimal. So a parent needs from each child only ``1 + m`` and the set A.
    """
    values = sorted(set(scales[trainable].tolist()) | {plain})
    label_scale = [0.0, *values]  # label 0: frozen; label k > 0: trains at label_scale[k]
    lookup = {v: k + 1 for k, v in enumerate(values)}
    labels = np.zeros(len(tree.params), dtype=np.int64)
    labels[trainable] = [lookup[v] for v in scales[trainable].tolist()]
    n_nodes = len(tree.nodes)
    gain: list[dict[int, int]] = [{} for _ in range(n_nodes)]
    const = np.diff(tree.occ_start).astype(np.int64)  # C starts as the number of own occurrences
    k = len(label_scale)
    keys, counts = np.unique(tree.occ_node * k + labels[tree.occ_param], return_counts=True)
    for key, count in zip(keys.tolist(), counts.tolist()):
        gain[key // k][key % k] = count
    best = [0] * n_nodes  # max gain: base is minimal (m = C - best) on the labels with this gain
    parent, nparams = tree.node_parent.tolist(), tree.nparams
    for i in range(n_nodes - 1, -1, -1):
        if nparams[i] == 0:
            continue
        g = gain[i]
        top = best[i] = max(g.values())
        if i:
            up = parent[i]
            const[up] += 1 + int(const[i]) - top  # the child's 1 + m
            pg = gain[up]
            for t, v in g.items():
                if v == top:
                    pg[t] = pg.get(t, 0) + 1
    one = lookup[plain]
    g0 = gain[0]
    pref, other = (0, one) if prefer != "train" else (one, 0)
    default = pref if g0.get(pref, 0) >= g0.get(other, 0) else other
    return RuleSet(
        rules=_emit(tree, labels, label_scale, gain, best, default, plain),
        default="train" if default else "freeze",
    )


def _emit(
    tree: ModuleTree,
    labels: np.ndarray,
    label_scale: list[float],
    gain: list[dict[int, int]],
    best: list[int],
    default: int,
    plain: float,
) -> list[Rule]:
    """The rules of the programme's choices, in preorder (a module's rule before those inside it)."""
    rules: list[Rule] = []

    def rule(label: int, path: str) -> Rule:
        if label == 0:
            return Rule.make("freeze", literal_pattern(path))
        scale = label_scale[label]
        return Rule.make("train", literal_pattern(path), lr_scale=None if scale == plain else scale)

    def emit(node: ModuleNode, inherited: int) -> None:
        i = node.index
        if tree.nparams[i] == 0:
            return
        t = inherited
        g = gain[i]
        if i and g.get(inherited, 0) < best[i] - 1:  # base[inherited] > 1 + min base
            t = min(k for k, v in g.items() if v == best[i])
            rules.append(rule(t, node.path))
        for e in node.params:
            if labels[e.info.index] != t:
                rules.append(rule(int(labels[e.info.index]), e.path))
        for c in node.children:
            emit(c, t)

    emit(tree.root, default)
    return rules
