"""What stage k of a rule file trains: the one evaluator of a stage (mask, lr scales, adapters).

Stage k's rules are the file's rules followed by the rules of stages 1..k; every tensor starts at
``default`` and its layer-decay scale (1.0 without ``layer_decay``), and the last rule that matches it
decides both whether it trains and, with ``lr_scale``, its scale (a ``train:`` rule without one gives
the layer-decay scale back). Adapters come from the ``lora:`` section and are the same in every stage.
The file writer, the schedule editor and stage view, ``param_groups``, ``Schedule``, ``freezegui
check``, the Cost dock and the training prediction all read stages through this module.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from freezegui.core.rules.matching import occurrence_hits, pattern_params
from freezegui.core.rules.regex import PatternBudgetError
from freezegui.core.rules.ruleset import Rule, RuleSet
from freezegui.core.structure.tree import ModuleTree


@dataclass(frozen=True)
class StageState:
    """Per unique parameter: whether it trains and its lr scale (0.0 where frozen); per module:
    whether it gets a LoRA adapter (None without a ``lora:`` section)."""

    trainable: np.ndarray
    scales: np.ndarray
    adapted: np.ndarray | None = None
    matched: list[tuple[int, int]] = field(default_factory=list)  # per rule in force: (tensors, elements)


@contextmanager
def _located(source: str | None) -> Iterator[None]:
    """A pattern over its budget names the rule file it came from (fold_rules adds the line)."""
    try:
        yield
    except PatternBudgetError as exc:
        raise exc.located(exc.source or source, exc.line) from None


def base_scales(tree: ModuleTree, layer_decay: float | None) -> np.ndarray:
    """The scale every tensor starts at: ``layer_decay`` by depth, else 1.0."""
    if layer_decay is None:
        return np.ones(len(tree.params))
    from freezegui.core.lr.scales import decay_scales

    return decay_scales(tree, layer_decay)


def fold_rules(
    tree: ModuleTree,
    rules: Sequence[Rule],
    trainable: np.ndarray,
    scales: np.ndarray,
    base: np.ndarray,
    *,
    params: dict[str, tuple[np.ndarray, tuple[int, int]]] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """``rules`` applied on top of a state (new arrays): the last matching rule decides a tensor's flag
    and scale. Also returns, per rule, the (tensors, elements) it matches. ``params``:
    :func:`~freezegui.core.rules.matching.pattern_params` of (at least) their patterns, found before."""
    trainable, scales = np.array(trainable, dtype=bool), np.array(scales, dtype=np.float64)
    if not rules:
        return trainable, scales, []
    if params is None:
        params = _rule_params(tree, rules)
    counts = []
    for rule in rules:  # in order: the last rule that matches a tensor is the one left in force
        found, count = params[rule.pattern.text]
        counts.append(count)
        if found.size:
            trainable[found] = rule.trainable
            scales[found] = base[found] if rule.lr_scale is None else rule.lr_scale
    return trainable, scales, counts


def _rule_params(tree: ModuleTree, rules: Sequence[Rule]) -> dict[str, tuple[np.ndarray, tuple[int, int]]]:
    """The matcher's answer for these rules' patterns; a pattern over its budget names its rule's line."""
    try:
        return pattern_params(tree, [r.pattern for r in rules])
    except PatternBudgetError as exc:
        line = next((r.line for r in rules if r.pattern.text == exc.pattern), None)
        raise exc.located(exc.source, line if exc.line is None else exc.line) from None


def evaluate_stage(tree: ModuleTree, rules: RuleSet, k: int = 0) -> StageState:
    """Stage ``k`` (0: before any stage) of ``rules`` on ``tree``; RuleError when ``layer_decay``
    needs a block list the model does not have."""
    in_force = rules.at_stage(k)
    base = base_scales(tree, rules.layer_decay)
    start = np.full(len(tree.params), rules.default == "train", dtype=bool)
    with _located(rules.source):
        trainable, scales, matched = fold_rules(tree, in_force.rules, start, base, base)
    scales[~trainable] = 0.0
    adapted = rules.lora.adapted(tree) if rules.lora is not None else None
    return StageState(trainable, scales, adapted, matched)


def evaluate_scales(tree: ModuleTree, rules: RuleSet) -> tuple[np.ndarray, np.ndarray]:
    """``(trainable, scales)`` of :func:`evaluate_stage` at stage 0 (the file's own rules)."""
    state = evaluate_stage(tree, rules, 0)
    return state.trainable, state.scales


def evaluate_stages(tree: ModuleTree, rules: RuleSet) -> list[StageState]:
    """Every stage: 0 before any stage, then after each one. Linear in the stages: every pattern is
    matched once, and each stage folds its own rules onto the state the one before left (the same
    result as :func:`evaluate_stage` for each k: the last matching rule decides)."""
    base = base_scales(tree, rules.layer_decay)
    trainable = np.full(len(tree.params), rules.default == "train", dtype=bool)
    scales, adapted = base, rules.lora.adapted(tree) if rules.lora is not None else None
    out = []
    with _located(rules.source):
        params = _rule_params(tree, [*rules.rules, *all_stage_rules(rules)])
        for chunk in (rules.rules, *(stage.rules for stage in rules.schedule)):
            trainable, scales, matched = fold_rules(tree, chunk, trainable, scales, base, params=params)
            out.append(StageState(trainable, np.where(trainable, scales, 0.0), adapted, matched))
    return out


def all_stage_rules(rules: RuleSet) -> list[Rule]:
    """The rules of every stage, in order."""
    return [r for stage in rules.schedule for r in stage.rules]


def stage_problems(tree: ModuleTree, rules: RuleSet) -> list[str]:
    """What is wrong with the stages on this model: a stage rule that matches nothing (strict).
    The stages' order is the parser's to check (:func:`freezegui.core.rules.keys.check_stage_order`)."""
    out = []
    hits = occurrence_hits(tree, [r.pattern for r in all_stage_rules(rules)])  # each pattern once
    for k, stage in enumerate(rules.schedule, 1):
        for rule in stage.rules:
            if not hits[rule.pattern.text].size:
                where = f" (line {rule.line})" if rule.line is not None else ""
                out.append(f"stage {k} (at {stage.label}): rule `{rule}`{where} matches no parameter")
    return out


__all__ = [
    "StageState",
    "base_scales",
    "evaluate_scales",
    "evaluate_stage",
    "evaluate_stages",
    "fold_rules",
    "stage_problems",
]
