"""The selection as a plain list of trainable parameter names, one a line, and back.

The lowest common denominator: any tool (or a shell script) can read it, diff it, or feed it to
``requires_grad``. Reading accepts blank lines and ``#`` comments.
"""

from __future__ import annotations

import numpy as np

from freezegui.core.errors import RuleError
from freezegui.core.rules.ruleset import Rule, RuleSet, literal_pattern, rules_from_selection
from freezegui.core.structure.tree import ModuleTree


def to_names(tree: ModuleTree, trainable: np.ndarray) -> str:
    """Primary names of the trainable tensors in model order, one a line (empty when none trains)."""
    mask = np.asarray(trainable, dtype=bool)
    names = [p.name for p in tree.params if mask[p.index]]
    return "".join(n + "\n" for n in names)


def parse_names(text: str) -> list[tuple[int, str]]:
    """``(line number, name)`` for each non-blank, non-comment line."""
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line:
            out.append((number, line))
    return out


def from_names(text: str, tree: ModuleTree | None = None, *, source: str | None = "<names>") -> RuleSet:
    """Rules that train exactly the listed tensors and freeze everything else.

    Without a tree: one ``train:`` rule per name (default freeze). With a tree: every name must be a
    parameter of it (else :class:`RuleError` listing the unknown ones, with line numbers) and the
    result is the shortest equivalent rule list.
    """
    entries = parse_names(text)
    if tree is None:
        rules = [Rule.make("train", literal_pattern(name), line) for line, name in entries]
        return RuleSet(rules=rules, default="freeze", source=source)
    index = {name: p.index for p in tree.params for name in p.names}
    unknown = [(line, name) for line, name in entries if name not in index]
    if unknown:
        shown = ", ".join(f"{name!r} (line {line})" for line, name in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise RuleError(
            f"{len(unknown)} name(s) are not parameters of this model: {shown}{more}", source=source
        )
    mask = np.zeros(len(tree.params), dtype=bool)
    mask[[index[name] for _, name in entries]] = True
    rs = rules_from_selection(tree, mask)
    rs.source = source
    return rs
