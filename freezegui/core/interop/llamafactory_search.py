"""The LLaMA-Factory freeze arguments that train exactly a selection under its substring matching.

The structural reading (:func:`freezegui.core.interop.llamafactory.llamafactory_args`) reads a
block of layers at one end; it cannot write what only the substrings express: ``use_llama_pro``'s
every-k-th layer, T5 (where ``.1.`` also hits ``layer.1`` inside every block), numbered experts
(``.3.`` also hits ``experts.3``). This module searches every argument set LLaMA-Factory accepts on
the model -- layer count (first or last n, or llama-pro's stride), a module list from its own list
of layer modules, extra modules from its list of the others -- for one whose substring test is the
selection, and keeps the shortest. Each (layer, module) substring is tested once; a layer count is
then an OR of precomputed prefix or suffix unions, so the search is cheap even at 80 layers.
"""

from __future__ import annotations

from itertools import combinations
from typing import NamedTuple

import numpy as np

from freezegui.core.structure.tree import ModuleTree


class Found(NamedTuple):
    """Freeze arguments as LLaMA-Factory spells them (the caller makes its ``FreezeArgs``)."""

    trainable_layers: int
    trainable_modules: list[str]
    extra_modules: list[str]
    use_llama_pro: bool

    def size(self) -> int:
        """How long the arguments are to write: the shortest wins."""
        return (
            len(str(self.trainable_layers))
            + len(",".join(self.trainable_modules))
            + (len(",".join(self.extra_modules)) + 24 if self.extra_modules else 0)
            + (20 if self.use_llama_pro else 0)
        )


MAX_MODULE_CHOICES = 8  # beyond this many layer-module names, only "all" and single names are tried


def _hits(tree: ModuleTree, sub: str) -> np.ndarray:
    return np.fromiter((sub in info.name for info in tree.params), dtype=bool, count=len(tree.params))


def _module_lists(hidden: list[str]) -> list[list[str]]:
    if len(hidden) > MAX_MODULE_CHOICES:
        return [["all"], *([m] for m in hidden)]
    out: list[list[str]] = [["all"]]
    for k in range(1, len(hidden) + 1):
        out += [list(c) for c in combinations(hidden, k)]
    return out


def exact_llamafactory_args(
    tree: ModuleTree, trainable: np.ndarray, num_layers: int, hidden_set: set[str], outside: set[str]
) -> Found | None:
    """The shortest arguments whose substring test trains exactly ``trainable`` (None when none does),
    given LLaMA-Factory's lists of layer modules (``hidden_set``) and other modules (``outside``)."""
    mask = np.asarray(trainable, dtype=bool)
    hidden = sorted(hidden_set)
    extra_hits = {m: _hits(tree, m) for m in sorted(outside)}
    safe = {m: h for m, h in extra_hits.items() if h.any() and not (h & ~mask).any()}
    best: tuple[int, Found] | None = None
    cache: dict[str, np.ndarray] = {}
    for modules in _module_lists(hidden):
        for n, pro, layer_mask in _layer_masks(tree, modules, num_layers, cache):
            if (layer_mask & ~mask).any():
                continue
            rest = mask & ~layer_mask
            extras = [m for m, h in safe.items() if (h & rest).any()]
            covered = layer_mask.copy()
            for m in extras:
                covered |= safe[m]
            if not np.array_equal(covered, mask):
                continue
            args = Found(n, list(modules), extras, pro)
            size = args.size()
            if best is None or size < best[0]:
                best = (size, args)
    return None if best is None else best[1]


def _layer_masks(
    tree: ModuleTree, modules: list[str], num_layers: int, cache: dict[str, np.ndarray]
) -> list[tuple[int, bool, np.ndarray]]:
    """``(freeze_trainable_layers, use_llama_pro, what the layer substrings hit)`` for every layer
    count LLaMA-Factory accepts: the last n, the first n (0 included: extras only), llama-pro strides."""
    per_layer = []
    for i in range(num_layers):
        union = np.zeros(len(tree.params), dtype=bool)
        for m in modules:
            sub = f".{i}.{'' if m == 'all' else m}"
            if sub not in cache:
                cache[sub] = _hits(tree, sub)
            union |= cache[sub]
        per_layer.append(union)
    out: list[tuple[int, bool, np.ndarray]] = []
    acc = np.zeros(len(tree.params), dtype=bool)
    out.append((0, False, acc.copy()))
    for n in range(1, num_layers + 1):  # the first n: prefix unions
        acc = acc | per_layer[n - 1]
        out.append((-n, False, acc))
    acc = np.zeros(len(tree.params), dtype=bool)
    for n in range(1, num_layers + 1):  # the last n: suffix unions
        acc = acc | per_layer[num_layers - n]
        out.append((n, False, acc))
    for n in range(1, num_layers + 1):
        if num_layers % n == 0 and n not in (num_layers,):
            stride = num_layers // n
            pro = np.zeros(len(tree.params), dtype=bool)
            for i in range(stride - 1, num_layers, stride):
                pro |= per_layer[i]
            out.append((n, True, pro))
    return out
