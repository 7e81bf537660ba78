"""A suggestion for a rule pattern that matches nothing: "did you mean bert.encoder.layer.3?".

The common miss is a path typed from where the tree *shows* a module rather than from the model's
root: ``encoder.layer.3`` on a BERT classifier, whose encoder is ``bert.encoder``. The suggestion is
the pattern under the shortest module prefix that makes it match; failing that, the closest module
path by spelling (``encoder.layr.3`` -> ``encoder.layer.3``). Pure: paths in, a pattern or None out.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from freezegui.core.errors import FreezeguiError
from freezegui.core.rules.patterns import Pattern

MAX_DEPTH = 2  # prefixes of one or two segments: `bert.`, `model.`, `base_model.model.`
MAX_PREFIXES = 200  # prefixes tried at most (a 10^5-module tree stays quick)
MAX_SPELLING = 5000  # paths compared by spelling at most


def suggest_pattern(pattern: str, paths: Sequence[str]) -> str | None:
    """A pattern close to ``pattern`` that matches at least one of ``paths`` (dotted module and
    parameter paths from the root), or None. ``re:`` patterns get no suggestion."""
    text = pattern.strip()
    if not text or text.startswith(("re:", "param:")):
        return None
    try:
        Pattern.compile(text)
    except FreezeguiError:
        return None
    prefixed = _under_a_prefix(text, paths)
    if prefixed is not None:
        return prefixed
    depth = text.count(".")  # a typo keeps the number of segments; difflib is slow on 10^5 paths
    same = [p for p in paths if p and p.count(".") == depth][:MAX_SPELLING]
    close = difflib.get_close_matches(text, same, n=1, cutoff=0.8)
    return close[0] if close and close[0] != text else None


def _under_a_prefix(text: str, paths: Sequence[str]) -> str | None:
    """``prefix.text`` for the shortest module prefix (one or two segments; then the first in model
    order) under which the pattern matches."""
    prefixes: dict[str, None] = {}
    for path in paths:
        parts = path.split(".")
        for depth in range(1, min(len(parts), MAX_DEPTH + 1)):
            prefixes.setdefault(".".join(parts[:depth]), None)
        if len(prefixes) >= MAX_PREFIXES:
            break
    needle = Pattern.compile(text).needle
    subjects = [p for p in paths if needle in p]  # the only paths any candidate can match
    known = set(subjects)
    for prefix in sorted(prefixes, key=lambda p: p.count(".")):
        candidate = f"{prefix}.{text}"
        compiled = Pattern.compile(candidate)
        if compiled.is_literal:
            if candidate in known:
                return candidate
        elif any(compiled.matches(p) for p in subjects):
            return candidate
    return None


__all__ = ["suggest_pattern"]
