"""Bulk selection actions (quick buttons and search) as pure functions over a tree and selection.

Each returns the new trainable mask (or applies it as one undoable edit), so the app's buttons,
tests and scripts share the same logic.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass
from weakref import WeakKeyDictionary

import numpy as np

from freezegui.core.editing.selection import Selection
from freezegui.core.rules.lora import AdapterKind, adapter_kind, all_linear_targets
from freezegui.core.rules.patterns import Pattern
from freezegui.core.structure.blocks import block_list as block_list  # re-exported: callers know it here
from freezegui.core.structure.heads import find_head
from freezegui.core.structure.norms import is_norm
from freezegui.core.structure.tree import ModuleTree


def subtree_mask(tree: ModuleTree, indices: list[int] | np.ndarray) -> np.ndarray:
    """Unique parameters under any of the given modules."""
    mask = np.zeros(len(tree.params), dtype=bool)
    for i in indices:
        lo, hi = tree.occ_start[i], tree.occ_start[tree.node_end[i]]
        mask[tree.occ_param[lo:hi]] = True
    return mask


def head_index(tree: ModuleTree) -> int | None:
    """The classification head (timm's ``get_classifier()``, the layer ``num_classes`` replaced, a
    well-known head or the verified last layer); None for a model that has none (a ``num_classes=0``
    backbone), so "Train head only" never trains an inner layer."""
    path = find_head(tree.modules[0])
    if path is None:
        return None
    try:
        return tree.index_of(path)
    except KeyError:
        return None


def block_groups(tree: ModuleTree) -> list[np.ndarray] | None:
    """Parameter masks of the model's blocks in order, from timm's ``group_matcher(coarse=True)``
    (the stem and the head's group left out); None for a model without one."""
    found = _timm_groups(tree)
    return None if found is None else [found[0][i] for i in found[1]]


def _timm_groups(tree: ModuleTree) -> tuple[list[np.ndarray], list[int]] | None:
    """Every group's mask in timm's order, and the positions of the block groups among them."""
    model = tree.modules[0]
    matcher = getattr(model, "group_matcher", None)
    if not callable(matcher) or "timm" not in sys.modules:
        return None
    try:
        from timm.models import group_parameters

        groups = group_parameters(model, matcher(coarse=True))
    except Exception:
        return None
    index = {info.name: info.index for info in tree.params}
    head = head_index(tree)
    head_mask = subtree_mask(tree, [head]) if head is not None else np.zeros(len(tree.params), dtype=bool)
    masks = []
    for _, names in sorted(groups.items()):
        mask = np.zeros(len(tree.params), dtype=bool)
        mask[[index[n] for n in names if n in index]] = True
        if mask.any():
            masks.append(mask)
    blocks = [i for i, m in enumerate(masks) if i and not (m & head_mask).any()]  # group 0: the stem
    return (masks, blocks) if blocks else None


def block_info(tree: ModuleTree) -> tuple[str, int] | None:
    """What "Train last N blocks" counts: a label for the blocks and how many there are."""
    groups = block_groups(tree)
    if groups is not None:
        return "blocks (timm group_matcher)", len(groups)
    at = block_list(tree)
    if at is None:
        return None
    return tree.paths[at], len(tree.nodes[at].children)


def train_last_blocks_mask(tree: ModuleTree, n: int) -> np.ndarray:
    """Freeze everything, then train the last ``n`` blocks and everything after them in model order
    (final norm, pooler, head): BERT's last-2 selection or a Llama's last layers plus ``lm_head``.
    timm models count blocks as their ``group_matcher`` does (a ResNet's stages, a ViT's blocks)."""
    found = _timm_groups(tree)
    if found is not None:
        groups, blocks = found
        mask = np.zeros(len(tree.params), dtype=bool)
        n = max(0, min(n, len(blocks)))
        for group in groups[blocks[-n] :] if n else []:
            mask |= group
        return mask
    blocks_at = block_list(tree)
    if blocks_at is None:
        raise ValueError(
            "this model has no repeated block list (no ModuleList/Sequential of same-typed blocks)"
        )
    children = tree.nodes[blocks_at].children
    n = max(0, min(n, len(children)))
    mask = np.zeros(len(tree.params), dtype=bool)
    if n == 0:
        return mask
    first = children[-n].index
    mask[tree.occ_param[tree.occ_start[first] :]] = True
    return mask


def norm_indices(tree: ModuleTree) -> list[int]:
    return [i for i, m in enumerate(tree.modules) if is_norm(m)]


def type_counts(tree: ModuleTree) -> list[tuple[str, int]]:
    """Module types that own parameters somewhere below, most frequent first."""
    counts = Counter(type(m).__name__ for i, m in enumerate(tree.modules) if i and tree.nparams[i])
    return counts.most_common()


def type_indices(tree: ModuleTree, type_name: str) -> list[int]:
    return [i for i, m in enumerate(tree.modules) if i and type(m).__name__ == type_name]


# ------------------------------------------------------------------------------------------ search
@dataclass
class SearchResult:
    """Modules and parameter occurrences a query matched, plus the rows a filtered view shows."""

    query: str
    modules: list[int]  # modules whose path matches (top-most: their subtrees are covered)
    occurrences: list[int]  # parameter occurrences matching by name outside matched modules
    covered: np.ndarray  # bool per module: matched or inside a matched module
    visible: np.ndarray  # bool per module: covered, or an ancestor of a match
    param_owners: np.ndarray  # bool per module: owns one of ``occurrences`` itself

    @property
    def count(self) -> int:
        return len(self.modules) + len(self.occurrences)

    def mask(self, tree: ModuleTree) -> np.ndarray:
        """Unique parameters covered by the matches."""
        mask = subtree_mask(tree, self.modules)
        mask[tree.occ_param[self.occurrences]] = True
        return mask


def compile_query(query: str) -> Pattern | str:
    """``re:...`` and globs (``*``, ``?``, ``[``) become patterns; other text is a substring search."""
    q = query.strip()
    if q.startswith("re:") or any(c in q for c in "*?["):
        return Pattern.compile(q)
    return q.lower()


def search(tree: ModuleTree, query: str) -> SearchResult:
    """Find modules/parameters by plain text (case-insensitive substring of the path), a whole-segment
    glob or ``re:``; raises RuleError for a malformed pattern."""
    hits, occ_hits = _matching(tree, compile_query(query))
    n, ends = len(tree.modules), tree.node_end
    modules: list[int] = []  # the top-most matches: the subtrees of the others are covered
    end = 0
    for i in hits:  # preorder
        if i >= end:
            modules.append(i)
            end = int(ends[i])
    starts = np.zeros(n + 1, dtype=np.int64)
    np.add.at(starts, modules, 1)
    np.add.at(starts, ends[modules], -1)
    covered = np.cumsum(starts[:-1]) > 0
    occ_node = tree.occ_node
    occs = np.asarray(occ_hits, dtype=np.int64)
    occs = occs[~covered[occ_node[occs]]]  # parameters of covered modules are matched with them
    param_owners = np.zeros(n, dtype=bool)
    param_owners[occ_node[occs]] = True
    # Rows shown: the covered subtrees, and every ancestor of a match.
    visible = covered.copy()
    parent = tree.node_parent
    up = np.unique(np.concatenate([np.asarray(modules, dtype=np.int64), np.flatnonzero(param_owners)]))
    while up.size:
        visible[up] = True
        up = np.unique(parent[up[up != 0]])
    return SearchResult(
        query=query,
        modules=modules,
        occurrences=occs.tolist(),
        covered=covered,
        visible=visible,
        param_owners=param_owners,
    )


_LOWERED: WeakKeyDictionary[ModuleTree, tuple[list[str], list[str]]] = WeakKeyDictionary()


def _matching(tree: ModuleTree, matcher: Pattern | str) -> tuple[list[int], list[int]]:
    """Modules (the root's empty path excluded) and parameter occurrences whose path matches.

    One comprehension per list, with the paths computed once per tree: a search on a 10^5-module
    model tests ~3 * 10^5 paths, as the user types."""
    paths, occ_paths = tree.paths, tree.occurrence_paths
    if isinstance(matcher, Pattern):
        test, needle = matcher.matches, matcher.needle
        hits = [i for i, p in enumerate(paths) if needle in p and test(p)]
        occ_hits = [o for o, p in enumerate(occ_paths) if needle in p and test(p)]
    else:
        lowered = _LOWERED.get(tree)
        if lowered is None:
            lowered = _LOWERED[tree] = ([p.lower() for p in paths], [p.lower() for p in occ_paths])
        hits = [i for i, p in enumerate(lowered[0]) if matcher in p]
        occ_hits = [o for o, p in enumerate(lowered[1]) if matcher in p]
    return [i for i in hits if i], occ_hits


def apply_mask(selection: Selection, mask: np.ndarray, trainable: bool, *, label: str) -> bool:
    """Set the parameters in ``mask`` to one state as one undoable edit."""
    return selection.set_state_of(np.flatnonzero(mask), trainable, label=label)


# ------------------------------------------------------------------------------------------ LoRA
_ATTENTION_NAME = re.compile(r"attention|attn", re.IGNORECASE)
_LINEAR_KINDS = (AdapterKind.LINEAR, AdapterKind.HF_CONV1D)


def _linear_like(tree: ModuleTree) -> np.ndarray:
    return np.fromiter(
        (adapter_kind(m) in _LINEAR_KINDS for m in tree.modules), dtype=bool, count=len(tree.modules)
    )


def attention_projections_mask(tree: ModuleTree) -> np.ndarray:
    """Per module: the linear layers inside attention modules (q/k/v/o projections, GPT-2's
    ``c_attn``/``c_proj``, BERT's query/key/value and attention output ``dense``)."""
    mask = np.zeros(len(tree.modules), dtype=bool)
    linear = _linear_like(tree)
    for i, m in enumerate(tree.modules):
        if i and _ATTENTION_NAME.search(type(m).__name__) and not mask[i]:
            end = int(tree.node_end[i])
            mask[i:end] = linear[i:end]
    return mask


def all_linear_except_head_mask(tree: ModuleTree) -> np.ndarray:
    """PEFT's ``all-linear`` on a transformers model (every Linear/Conv1D but the output embedding);
    elsewhere every linear layer but the classification head."""
    mask = all_linear_targets(tree)
    root = tree.modules[0]
    if not (type(root).__module__.startswith("transformers") and hasattr(root, "get_output_embeddings")):
        head = head_index(tree)
        if head is not None:
            mask[head : int(tree.node_end[head])] = False
    return mask


def last_blocks_lora_mask(tree: ModuleTree, n: int) -> np.ndarray:
    """Per module: the linear layers (attention and MLP) of the last ``n`` repeated blocks."""
    blocks_at = block_list(tree)
    if blocks_at is None:
        raise ValueError(
            "this model has no repeated block list (no ModuleList/Sequential of same-typed blocks)"
        )
    children = tree.nodes[blocks_at].children
    mask = np.zeros(len(tree.modules), dtype=bool)
    n = max(0, min(n, len(children)))
    if n:
        lo, hi = children[-n].index, children[-1].end
        mask[lo:hi] = _linear_like(tree)[lo:hi]
    return mask


def suggest_adapters(selection: Selection, modules: np.ndarray, *, label: str) -> bool:
    """Adapt exactly ``modules`` (freezing their own tensors in the same undoable edit)."""
    tree = selection.tree
    trainable = selection.trainable.copy()
    for i in np.flatnonzero(modules).tolist():
        trainable[tree.direct_param_indices(i)] = False
    return selection.set_adapted_mask(modules, label=label, trainable=trainable)
