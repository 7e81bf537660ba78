"""Per-tensor learning-rate scales: layer ids for layer-wise decay, and the scale each rule file gives.

Layer ids follow timm's ``param_groups_layer_decay`` and BEiT. A model that declares ``group_matcher()``
(timm models) is grouped by it: each parameter's ordinal from the matcher, ordinals sorted, one id per
distinct ordinal except that one ending in timm's "merge into the previous group" marker joins the
group before it; unmatched parameters (the head) come last. A timm model without one is grouped by
timm's own fallback (``auto_group_layers``: the trunk's tensors in model order, 12 to a group, then the
``pretrained_cfg`` classifier). Otherwise the main block list that "Train last N blocks" finds decides: id 0 before it (embeddings, stem, class tokens), id i+1 for block i,
id L+1 after it (final norm, pooler, head). Scale = D ** (max id - id), so the head trains at 1.0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from freezegui.core.errors import RuleError
from freezegui.core.structure.blocks import block_list
from freezegui.core.structure.tree import ModuleTree


class _Editable(Protocol):
    """What :func:`apply_layer_decay` needs of a selection (editing.selection asks this module for
    its layer-decay base, so it is not imported here)."""

    tree: ModuleTree

    def set_state(self, *, label: str, scales: np.ndarray, layer_decay: float | None) -> bool: ...


MERGE_PREVIOUS = 99999.0  # timm's MATCH_PREV_GROUP ordinal: "this belongs to the group before"


@dataclass(frozen=True)
class LayerIds:
    """A layer id per unique parameter; ``max_id`` is the id that trains at scale 1.0."""

    ids: np.ndarray
    max_id: int
    source: str  # "group_matcher" or the block list's path

    def scales(self, decay: float) -> np.ndarray:
        return np.power(float(decay), (self.max_id - self.ids).astype(np.float64))


def layer_ids(tree: ModuleTree) -> LayerIds:
    """Layer ids of ``tree``'s unique parameters; RuleError when the model has no depth to decay by."""
    root = tree.modules[0]
    matcher = getattr(root, "group_matcher", None)
    if callable(matcher):
        return _ids_from_matcher(tree, matcher)
    if type(root).__module__.startswith("timm."):
        return _ids_timm_fallback(tree, root)
    at = block_list(tree)
    if at is None:
        raise RuleError(
            "layer_decay needs a model with a repeated block list (a ModuleList/Sequential of same-typed "
            "blocks) or a group_matcher(); this model has neither: set lr_scale per rule instead"
        )
    node = tree.nodes[at]
    starts = np.asarray([tree.occ_start[c.index] for c in node.children], dtype=np.int64)
    end = int(tree.occ_start[node.end])
    first = tree.first_occ
    ids = np.searchsorted(starts, first, side="right").astype(np.int64)  # 0 before, i+1 in block i
    n_blocks = len(starts)
    ids[first >= end] = n_blocks + 1
    return LayerIds(ids, n_blocks + 1, node.path)


def _ids_from_matcher(tree: ModuleTree, group_matcher: Callable[..., Any]) -> LayerIds:
    try:
        spec = group_matcher(coarse=False)
    except TypeError:
        spec = group_matcher()
    ordinal = _ordinal_function(spec)
    keys = [ordinal(tree.primary_name(j)) for j in range(len(tree.params))]
    number: dict[tuple[float, ...], int] = {}
    lid = -1
    for key in sorted(set(keys)):
        if lid < 0 or key[-1] != MERGE_PREVIOUS:
            lid += 1
        number[key] = lid
    ids = np.asarray([number[k] for k in keys], dtype=np.int64)
    return LayerIds(ids, max(lid, 0), "group_matcher")


TIMM_TENSORS_PER_GROUP = 12  # timm's auto_group_layers(layers_per_group=12)


def _ids_timm_fallback(tree: ModuleTree, model: Any) -> LayerIds:
    """timm's own grouping for its models without ``group_matcher()`` (``auto_group_layers``): the
    trunk's tensors in model order, 12 to a group, then one group for the ``pretrained_cfg`` classifier.
    Without a classifier entry every tensor is "head": one group, scale 1.0 (timm warns the same)."""
    cfg = getattr(model, "pretrained_cfg", None)
    head = cfg.get("classifier") if isinstance(cfg, dict) else None
    prefixes = tuple(head) if isinstance(head, (list, tuple)) else (head,) if head else None
    ids = np.zeros(len(tree.params), dtype=np.int64)
    trunk = [j for j in range(len(tree.params)) if prefixes and not tree.primary_name(j).startswith(prefixes)]
    for k, j in enumerate(trunk):
        ids[j] = k // TIMM_TENSORS_PER_GROUP
    groups = -(-len(trunk) // TIMM_TENSORS_PER_GROUP)
    is_trunk = np.zeros(len(tree.params), dtype=bool)
    is_trunk[trunk] = True
    ids[~is_trunk] = groups
    return LayerIds(ids, int(ids.max()) if len(ids) else 0, "timm auto_group_layers")


def _ordinal_function(spec: Any) -> Callable[[str], tuple[float, ...]]:
    """A name -> ordinal tuple function from a timm matcher (a dict of regexes, or a callable)."""
    if not isinstance(spec, dict):
        fn = spec

        def call(name: str) -> tuple[float, ...]:
            value = fn(name)
            return tuple(float(v) for v in value) if isinstance(value, Iterable) else (float(value),)

        return call
    compiled: list[tuple[re.Pattern[str], float, tuple[float, ...] | None]] = []
    for group, (_, mspec) in enumerate(spec.items()):
        if mspec is None:
            continue
        entries = mspec if isinstance(mspec, (list, tuple)) else [(mspec, None)]
        for regex, suffix in entries:
            compiled.append((re.compile(regex), float(group), None if suffix is None else tuple(suffix)))

    def match(name: str) -> tuple[float, ...]:
        for regex, group, suffix in compiled:
            m = regex.match(name)
            if m:
                found = tuple(float(g) for g in m.groups() if g is not None)
                return (group, *found, *(suffix or ()))
        return (math.inf,)

    return match


def decay_scales(tree: ModuleTree, decay: float) -> np.ndarray:
    """``decay ** (max id - id)`` per unique parameter."""
    return layer_ids(tree).scales(decay)


def apply_layer_decay(selection: _Editable, decay: float) -> bool:
    """Set every tensor's scale in ``selection`` by depth and remember ``decay`` (saved as
    ``layer_decay:``), as one undoable edit (RuleError without blocks)."""
    return selection.set_state(
        label=f"Layer-wise decay {decay:g}", scales=decay_scales(selection.tree, decay), layer_decay=decay
    )


# ------------------------------------------------------------------------------------------ preview
@dataclass(frozen=True)
class LayerGroup:
    """One layer id of a layer-decay preview: what it holds and the scale it trains at."""

    layer_id: int
    scale: float
    paths: list[str]  # the fewest module/parameter paths that cover the group
    tensors: int
    elements: int

    @property
    def label(self) -> str:
        shown = ", ".join(self.paths[:3])
        return shown + (f" (+{len(self.paths) - 3} more)" if len(self.paths) > 3 else "")


def layer_groups(tree: ModuleTree, decay: float) -> list[LayerGroup]:
    """Every layer id with its parameters' covering paths and scale, first id first."""
    ids = layer_ids(tree)
    scales = ids.scales(decay)
    out = []
    for lid in np.unique(ids.ids).tolist():
        mask = ids.ids == lid
        out.append(
            LayerGroup(
                int(lid),
                float(scales[mask][0]),
                covering_paths(tree, mask),
                int(mask.sum()),
                int(tree.numel[mask].sum()),
            )
        )
    return out


def layer_decay_preview(model_or_tree: Any, decay: float) -> list[tuple[str, float]]:
    """``[(group label, scale)]`` for a Layer-wise decay dialog to show before applying."""
    from freezegui.core.structure.tree import build_tree

    tree = model_or_tree if isinstance(model_or_tree, ModuleTree) else build_tree(model_or_tree)
    return [(g.label, g.scale) for g in layer_groups(tree, decay)]


def covering_paths(tree: ModuleTree, mask: np.ndarray) -> list[str]:
    """The top-most modules whose whole subtree is in ``mask``, and the single parameters left over."""
    inside = tree.subtree_sums(mask, elements=False)
    paths, occ_paths = tree.paths, tree.occurrence_paths
    out: list[str] = []
    i, n = 0, len(paths)
    while i < n:
        if i and tree.nparams[i] and inside[i] == tree.nparams[i]:
            out.append(paths[i])
            i = int(tree.node_end[i])
            continue
        if inside[i]:
            for o in range(int(tree.occ_start[i]), int(tree.occ_start[i + 1])):
                if mask[tree.occ_param[o]]:
                    out.append(occ_paths[o])
            i += 1
        else:
            i = int(tree.node_end[i]) if i else 1
    return out
