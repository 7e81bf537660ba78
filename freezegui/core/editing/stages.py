"""Editing a schedule's stages (the app's Schedule editor) and showing the tree as a stage leaves it.

The functions here build new stage lists and never change a stage in place: the selection keeps the
old list for Undo. :func:`schedule_problems` is what an edit must pass before it is applied, the same
strict check as ``freezegui check`` (a stage rule matching nothing is an error) plus the file's order.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence

import numpy as np

from freezegui.core.editing.selection import Selection
from freezegui.core.errors import RuleError
from freezegui.core.rules.keys import Stage, Unit, stage_order_problems
from freezegui.core.rules.matching import pattern_params
from freezegui.core.rules.ruleset import Rule, RuleSet
from freezegui.core.structure.tree import ModuleTree

_Matched = dict[str, tuple[np.ndarray, tuple[int, int]]]
_MATCHED: weakref.WeakKeyDictionary[ModuleTree, dict[tuple[str, ...], _Matched]] = weakref.WeakKeyDictionary()
_MATCHED_SIZE = 64  # stage prefixes kept per tree
_ACTION = re.compile(r"^\s*(train|freeze)\s*:\s*(.*)$")


def schedule_problems(tree: ModuleTree, stages: Sequence[Stage]) -> list[str]:
    """One line per problem: an empty stage, stages of one unit out of order, a rule matching nothing."""
    from freezegui.core.lr.evaluate import stage_problems

    out = [f"stage {k} (at {s.label}) has no rule" for k, s in enumerate(stages, 1) if not s.rules]
    out += [message for _, message in stage_order_problems(stages)]
    return out + stage_problems(tree, RuleSet(schedule=list(stages)))


def parse_stage_rules(text: str, lr_scale: float | None = None) -> list[Rule]:
    """Rules typed in the editor: ``train: P`` / ``freeze: P`` (a bare pattern trains), separated by
    ``;`` or new lines. ``lr_scale`` goes on every ``train`` rule; a bad pattern is a RuleError."""
    if lr_scale is not None and not (lr_scale > 0 and np.isfinite(lr_scale)):
        raise RuleError(f"an lr scale must be a number > 0, got {lr_scale:g}")
    rules = []
    for part in re.split(r"[;\n]", text):
        if not part.strip():
            continue
        m = _ACTION.match(part)
        action, pattern = (m.group(1), m.group(2).strip()) if m else ("train", part.strip())
        if not pattern:
            raise RuleError(f"`{part.strip()}` needs a pattern after the colon")
        scale = lr_scale if action == "train" else None
        rules.append(Rule.make("train" if action == "train" else "freeze", pattern, lr_scale=scale))
    if not rules:
        raise RuleError("a stage needs at least one rule, such as `train: layer4`")
    if lr_scale is not None and not any(r.trainable for r in rules):
        raise RuleError("an lr scale goes with `train:` rules (a frozen tensor has no scale)")
    return rules


def insert_stage(stages: Sequence[Stage], unit: Unit, at: int, rules: Sequence[Rule]) -> list[Stage]:
    """``stages`` with ``rules`` from ``unit`` ``at`` on: added to a stage at that point already,
    else a new stage before the first later stage of the same unit (the file's order)."""
    out = list(stages)
    for i, stage in enumerate(out):
        if stage.unit == unit and stage.at == at:
            out[i] = Stage(unit, at, [*stage.rules, *rules])
            return out
    where = next((i for i, s in enumerate(out) if s.unit == unit and s.at > at), len(out))
    out.insert(where, Stage(unit, at, list(rules)))
    return out


def add_rules(stages: Sequence[Stage], k: int, rules: Sequence[Rule]) -> list[Stage]:
    """``stages`` with ``rules`` appended to stage ``k`` (1 for the first)."""
    out = list(stages)
    old = out[k - 1]
    out[k - 1] = Stage(old.unit, old.at, [*old.rules, *rules])
    return out


def replace_stage(stages: Sequence[Stage], k: int, unit: Unit, at: int, rules: Sequence[Rule]) -> list[Stage]:
    """``stages`` with stage ``k`` (1 for the first) now at ``unit`` ``at`` with ``rules``."""
    out = list(stages)
    out[k - 1] = Stage(unit, at, list(rules))
    return out


def remove_stage(stages: Sequence[Stage], k: int) -> list[Stage]:
    return [s for i, s in enumerate(stages, 1) if i != k]


def move_stage(stages: Sequence[Stage], k: int, delta: int) -> list[Stage]:
    """``stages`` with stage ``k`` moved ``delta`` places (clamped to the list)."""
    out = list(stages)
    stage = out.pop(k - 1)
    out.insert(min(max(k - 1 + delta, 0), len(out)), stage)
    return out


def stage_selection(selection: Selection, k: int) -> Selection:
    """A read-only view of the tree at stage ``k`` (0: before any stage): the selection with the
    rules of stages 1..k folded on top by the one stage evaluator (a ``train:`` rule without
    ``lr_scale`` gives the layer-decay scale, as in a file), and the selection's LoRA adapters
    (stages do not change those). Only the stage rules are matched: cheap on 10^5 rows."""
    from freezegui.core.lr.evaluate import fold_rules

    if not 0 <= k <= len(selection.schedule):
        raise IndexError(f"stage {k} of a schedule with {len(selection.schedule)} stage(s)")
    stage_rules = [rule for stage in selection.schedule[:k] for rule in stage.rules]
    base = selection.base_scales()
    base = np.ones(len(selection.tree.params)) if base is None else base
    trainable, scales, _ = fold_rules(
        selection.tree,
        stage_rules,
        selection.trainable,
        selection.scales,
        base,
        params=_matched(selection.tree, stage_rules),
    )
    view = selection.copy()
    view.trainable, view.scales = trainable, scales
    view._recount()
    return view


def _matched(tree: ModuleTree, rules: list[Rule]) -> _Matched | None:
    """The matcher's answer for these stage rules, kept per tree and pattern texts: picking stages
    again, or an edit while a stage is shown, matches nothing anew (a glob over 10^5 modules ~0.4 s)."""
    if not rules:
        return None
    cache = _MATCHED.setdefault(tree, {})
    key = tuple(r.pattern.text for r in rules)
    found = cache.get(key)
    if found is None:
        if len(cache) >= _MATCHED_SIZE:
            cache.clear()
        found = cache[key] = pattern_params(tree, [r.pattern for r in rules])
    return found


def stage_title(stage: Stage, k: int) -> str:
    """How the app names a stage: "Stage 2 — at step 10"."""
    return f"Stage {k} — at {stage.label}"


__all__ = [
    "add_rules",
    "insert_stage",
    "move_stage",
    "parse_stage_rules",
    "remove_stage",
    "replace_stage",
    "schedule_problems",
    "stage_selection",
    "stage_title",
]
