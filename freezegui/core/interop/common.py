"""Helpers shared by the interop formats: literal paths from rule lists, and summary lines."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from freezegui.core.errors import RuleError
from freezegui.core.rules.ruleset import RuleSet, rules_from_selection
from freezegui.core.rules.yaml_reader import safe_load
from freezegui.core.structure.counting import format_percent
from freezegui.core.structure.tree import ModuleTree

_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)


def rule_path(pattern_text: str) -> str:
    """The dotted path a literal rule pattern (as :func:`rules_from_selection` writes it) names."""
    if pattern_text.startswith("re:"):
        return _UNESCAPE.sub(r"\1", pattern_text[3:])  # undo re.escape: it only adds backslashes
    return pattern_text


def shortest_prefix_rules(tree: ModuleTree, trainable: np.ndarray) -> tuple[bool, list[tuple[bool, str]]]:
    """The default state and an ordered ``(trains, exact path)`` list that reproduces ``trainable``.

    The last path that covers a parameter (``name == p or name.startswith(p + ".")``) decides, as in
    freezegui rule files; the list is the shortest one :func:`rules_from_selection` finds.
    """
    rs: RuleSet = rules_from_selection(tree, np.asarray(trainable, dtype=bool))
    return rs.default == "train", [(r.trainable, rule_path(r.pattern.text)) for r in rs.rules]


def summary_line(tree: ModuleTree, trainable: np.ndarray) -> str:
    """``5,130 of 11,181,642 parameters train (0.05 %), 2 of 62 tensors``."""
    mask = np.asarray(trainable, dtype=bool)
    elems = int(tree.numel[mask].sum())
    total = tree.total_params
    frac = elems / total if total else 0.0
    return (
        f"{elems:,} of {total:,} parameters train ({format_percent(frac)}), "
        f"{int(mask.sum())} of {len(tree.params)} tensors"
    )


def load_yaml_mapping(text: str, *, source: str | None, what: str) -> dict[str, Any]:
    """Parse a whole tool config; malformed YAML or a non-mapping is a RuleError naming the line.

    Bounded as rule files are (size, nesting, alias expansion: :mod:`freezegui.core.rules.yaml_reader`)."""
    data = safe_load(text, source=source)
    if not isinstance(data, dict):
        raise RuleError(f"{what} must be a YAML mapping", source=source)
    return data


_TOOL_NAMES = {"axolotl": "axolotl", "llamafactory": "LLaMA-Factory", "names": "a names list"}


def not_carried_note(rules: RuleSet, fmt: str) -> str | None:
    """What an export to ``fmt`` loses: lr scales and the schedule (None when the rules have neither)."""
    lost = []
    if rules.has_scales:
        lost.append("per-layer learning-rate scales (lr_scale / layer_decay)")
    if rules.schedule:
        lost.append(f"the {len(rules.schedule)}-stage unfreezing schedule")
    if not lost:
        return None
    tool = _TOOL_NAMES.get(fmt, fmt)
    return (
        f"NOTE: {' and '.join(lost)} do not carry over to {tool}: this file holds only the stage-0 "
        f"train/freeze selection.\nUse the Python export or freezegui's param_groups/Schedule to keep them."
    )
