"""Many rule patterns against every parameter name of a model, in one pass per kind of pattern.

A pattern that matches a module path matches every name under it, so a parameter occurrence is hit
exactly when the pattern matches its full name. Repeated patterns are evaluated once; plain dotted
paths (what :func:`~freezegui.core.rules.ruleset.rules_from_selection` writes) are looked up by each name's
segment prefixes in a dict; a glob walks a trie of the names' segments, entering only the branches
its segments match. 10,000 rules on a 1,000-module model take milliseconds instead of the seconds a
rule-by-rule walk of the tree needs (``benchmarks/bench_rules.py``).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence

import numpy as np

from freezegui.core.rules.patterns import Pattern, compile_regex, segment_regex
from freezegui.core.structure.tree import ModuleTree

# A tree's names as a trie, built once per tree: the stage view and the schedule editor match a few
# patterns at a time, again and again, on trees of 10^5 modules.
_TRIES: weakref.WeakKeyDictionary[ModuleTree, _Trie] = weakref.WeakKeyDictionary()


def occurrence_hits(tree: ModuleTree, patterns: Sequence[Pattern]) -> dict[str, np.ndarray]:
    """For each distinct pattern text, the indices of the parameter occurrences it matches."""
    names = tree.occurrence_paths
    unique: dict[str, Pattern] = {}
    for p in patterns:
        unique.setdefault(p.text, p)
    found: dict[str, list[int]] = {text: [] for text in unique}
    literal = {text for text, p in unique.items() if p.is_literal}
    if literal:
        for o, name in enumerate(names):
            start = 0
            while True:
                j = name.find(".", start)
                prefix = name if j == -1 else name[:j]
                if prefix in literal:
                    found[prefix].append(o)
                if j == -1:
                    break
                start = j + 1
    trie: _Trie | None = _TRIES.get(tree)
    for text, p in unique.items():
        if text in literal:
            continue
        if p.params_only:  # each tensor's first name only (named_parameters()), at its first occurrence
            first_occ = tree.first_occ
            found[text] = [int(first_occ[i]) for i, info in enumerate(tree.params) if p.matches(info.name)]
            continue
        if text.startswith("re:"):
            needle, matches = p.needle, p.matches
            found[text] = [o for o, name in enumerate(names) if needle in name and matches(name)]
            continue
        if trie is None:
            trie = _TRIES[tree] = _Trie(names)
        found[text] = sorted(trie.glob(text.split(".")))
    return {text: np.asarray(hits, dtype=np.int64) for text, hits in found.items()}


class _Trie:
    """The names as a tree of segments; a glob walks only the branches its segments match."""

    def __init__(self, names: Sequence[str]) -> None:
        self.children: list[dict[str, int]] = [{}]
        self.ends: list[list[int]] = [[]]  # occurrences whose name ends at each trie node
        for o, name in enumerate(names):
            node = 0
            for seg in name.split("."):
                nxt = self.children[node].get(seg)
                if nxt is None:
                    nxt = self.children[node][seg] = len(self.children)
                    self.children.append({})
                    self.ends.append([])
                node = nxt
            self.ends[node].append(o)
        self._below: dict[int, list[int]] = {}

    def below(self, node: int) -> list[int]:
        """Every occurrence at or under ``node`` (a pattern naming a module covers its subtree)."""
        out = self._below.get(node)
        if out is None:
            out, stack = [], [node]
            while stack:
                n = stack.pop()
                out.extend(self.ends[n])
                stack.extend(self.children[n].values())
            self._below[node] = out
        return out

    def glob(self, segments: list[str]) -> set[int]:
        hits: set[int] = set()
        seen: set[tuple[int, int]] = set()
        regexes = [None if seg == "**" else compile_regex(segment_regex(seg), re.DOTALL) for seg in segments]
        stack = [(0, 0)]
        while stack:
            node, i = stack.pop()
            if (node, i) in seen:
                continue
            seen.add((node, i))
            if i == len(segments):
                hits.update(self.below(node))
                continue
            regex = regexes[i]
            if regex is None:  # '**': zero segments, or one more and still inside the '**'
                stack.append((node, i + 1))
                stack.extend((child, i) for child in self.children[node].values())
                continue
            for name, child in self.children[node].items():
                if regex.fullmatch(name):
                    stack.append((child, i + 1))
        return hits


def pattern_params(
    tree: ModuleTree, patterns: Sequence[Pattern], *, hits: dict[str, np.ndarray] | None = None
) -> dict[str, tuple[np.ndarray, tuple[int, int]]]:
    """For each distinct pattern text, the unique parameters it matches (by any name of a tied tensor;
    sorted indices) and their count as (tensors, elements).

    This is the one matcher: a rule list's mask, its lr scales and the counts per rule all come from
    it. ``hits``: the :func:`occurrence_hits` of a superset of these patterns, matched once for many
    calls (every stage of a schedule)."""
    occ_param = np.asarray(tree.occ_param, dtype=np.int64)
    numel = tree.numel
    if hits is None:
        hits = occurrence_hits(tree, patterns)
    out: dict[str, tuple[np.ndarray, tuple[int, int]]] = {}
    for p in patterns:
        if p.text not in out:
            params = np.unique(occ_param[hits[p.text]])
            out[p.text] = (params, (int(params.size), int(numel[params].sum())))
    return out


def deciding_patterns(
    tree: ModuleTree, patterns: Sequence[Pattern], *, hits: dict[str, np.ndarray] | None = None
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Per unique parameter, the index of the LAST pattern that matches it (-1: none), and for each
    pattern the (tensors, elements) of :func:`pattern_params`."""
    found = pattern_params(tree, patterns, hits=hits)
    deciding = np.full(len(tree.params), -1, dtype=np.int64)
    for i, p in enumerate(patterns):
        deciding[found[p.text][0]] = i
    return deciding, [found[p.text][1] for p in patterns]


def evaluate_patterns(
    tree: ModuleTree, patterns: Sequence[Pattern], trains: Sequence[bool], default: bool
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The trainable mask (last matching pattern wins) and the per-pattern counts of
    :func:`deciding_patterns`."""
    deciding, counts = deciding_patterns(tree, patterns)
    flags = np.asarray([bool(t) for t in trains], dtype=bool)
    trainable = np.where(deciding < 0, default, flags[np.maximum(deciding, 0)] if flags.size else default)
    return trainable.astype(bool), counts


def match_params(tree: ModuleTree, pattern: Pattern) -> np.ndarray:
    """Boolean mask over unique parameters matched by ``pattern`` under any of their names."""
    return deciding_patterns(tree, [pattern])[0] >= 0
