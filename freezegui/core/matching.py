"""Many rule patterns against every parameter name of a model, in one pass per kind of pattern.

A pattern that matches a module path matches every name under it, so a parameter occurrence is hit
exactly when the pattern matches its full name. Repeated patterns are evaluated once; plain dotted
paths (what :func:`~freezegui.core.rules.rules_from_selection` writes) are looked up by each name's
segment prefixes in a dict; a glob whose first segment is plain only tries the names under that
segment. 10,000 rules on a 1,000-module model take milliseconds instead of the seconds a
rule-by-rule walk of the tree needs (``benchmarks/bench_rules.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from freezegui.core.patterns import Pattern
from freezegui.core.tree import ModuleTree


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
    by_first: dict[str, list[int]] | None = None
    for text, p in unique.items():
        if text in literal:
            continue
        if p.params_only:  # each tensor's first name only (named_parameters()), at its first occurrence
            first_occ = tree.first_occ
            found[text] = [int(first_occ[i]) for i, info in enumerate(tree.params) if p.matches(info.name)]
            continue
        candidates: Sequence[int] = range(len(names))
        first = _plain_first_segment(text)
        if first is not None:
            if by_first is None:
                by_first = {}
                for o, name in enumerate(names):
                    by_first.setdefault(name.split(".", 1)[0], []).append(o)
            candidates = by_first.get(first, [])
        needle, matches = p.needle, p.matches
        found[text] = [o for o in candidates if needle in names[o] and matches(names[o])]
    return {text: np.asarray(hits, dtype=np.int64) for text, hits in found.items()}


def _plain_first_segment(text: str) -> str | None:
    if text.startswith(("re:", "param:")):
        return None
    first = text.split(".", 1)[0]
    return None if any(c in first for c in "*?[") else first


def evaluate_patterns(
    tree: ModuleTree, patterns: Sequence[Pattern], trains: Sequence[bool], default: bool
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The trainable mask (last matching pattern wins, by any name of a tied tensor) and, for each
    pattern, how many unique parameters (tensors, elements) it matches.

    Work is proportional to the number of hits, in plain Python lists: per-pattern numpy calls
    would cost more than the matching for the usual short literal rules."""
    occ_param: list[int] = np.asarray(tree.occ_param, dtype=np.int64).tolist()
    numel: list[int] = tree.numel.tolist()
    hits = occurrence_hits(tree, patterns)
    last_index: dict[str, int] = {p.text: i for i, p in enumerate(patterns)}
    deciding = [-1] * len(numel)  # per unique parameter: the last pattern that matches it
    counts: dict[str, tuple[int, int]] = {}
    for text, occ in hits.items():
        rule = last_index[text]
        params = {occ_param[o] for o in occ.tolist()}
        for p in params:
            if deciding[p] < rule:
                deciding[p] = rule
        counts[text] = (len(params), sum(numel[p] for p in params))
    flags = [bool(t) for t in trains]
    trainable = np.fromiter(
        (default if d < 0 else flags[d] for d in deciding), dtype=bool, count=len(deciding)
    )
    return trainable, [counts[p.text] for p in patterns]
