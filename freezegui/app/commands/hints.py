"""The "did you mean …?" the app adds to a rule that matches nothing (from the core's suggestion)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from freezegui.core.rules.ruleset import Rule
    from freezegui.core.structure.tree import ModuleTree


def did_you_mean(tree: ModuleTree, pattern: str) -> str:
    """ " — did you mean `bert.encoder.layer.3`?" ("" when the core has no suggestion)."""
    from freezegui.core.rules.suggest import suggest_pattern

    suggestion = suggest_pattern(pattern, [*tree.paths, *tree.occurrence_paths])
    return f" — did you mean `{suggestion}`?" if suggestion else ""


def unmatched_hint(tree: ModuleTree, rules: Sequence[Rule]) -> str:
    """The first rule of ``rules`` that matches no parameter of ``tree``, with a suggestion ("" if all match)."""
    paths = tree.occurrence_paths
    for rule in rules:
        if not any(rule.pattern.matches(p) for p in paths):
            return f"rule `{rule.action}: {rule.pattern.text}` matches no parameter{did_you_mean(tree, rule.pattern.text)}"
    return ""


__all__ = ["did_you_mean", "unmatched_hint"]
