"""The rule-file keys for learning-rate scales and gradual unfreezing: ``lr_scale``, ``layer_decay``, ``schedule``.

Kept apart from :mod:`freezegui.core.rules.ruleset` (which reads the version-1 keys) so that the two evolve
separately; the parser there calls these for the new keys. A ``train:`` rule may carry ``lr_scale: X``
(X > 0); ``layer_decay: D`` (0 < D <= 1) sets scales by depth; ``schedule:`` is an ordered list of
stages, each ``at: {step: N}`` or ``at: {epoch: N}`` plus ``rules:`` applied on top of the stages before.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import yaml

from freezegui.core.errors import RuleError
from freezegui.core.rules.yaml_reader import read_scalar


class _Pattern(Protocol):
    @property
    def text(self) -> str: ...


class RuleLike(Protocol):
    """What this module needs of :class:`freezegui.core.rules.ruleset.Rule` (rules.py imports this module)."""

    @property
    def action(self) -> str: ...
    @property
    def pattern(self) -> _Pattern: ...
    @property
    def lr_scale(self) -> float | None: ...


Unit = Literal["step", "epoch"]
UNITS: tuple[str, ...] = ("step", "epoch")
_STAGE_KEYS = ("at", "rules")


@dataclass
class Stage:
    """One step of gradual unfreezing: from ``at`` steps (or epochs) on, ``rules`` apply on top."""

    unit: Unit
    at: int
    rules: list[Any] = field(default_factory=list)  # freezegui.core.rules.ruleset.Rule
    line: int | None = None

    def due(self, global_step: int, epoch: int) -> bool:
        """Whether the stage applies at this point of training (``global_step`` steps done)."""
        return (global_step if self.unit == "step" else epoch) >= self.at

    @property
    def label(self) -> str:
        return f"{self.unit} {self.at}"

    def to_dict(self) -> dict[str, Any]:
        return {"at": {self.unit: self.at}, "rules": [rule_to_dict(r) for r in self.rules]}


def rule_to_dict(rule: RuleLike) -> dict[str, Any]:
    """One rule as the file writes it: ``{train: P}``, ``{train: P, lr_scale: X}`` or ``{freeze: P}``."""
    out: dict[str, Any] = {rule.action: rule.pattern.text}
    if rule.lr_scale is not None:
        out["lr_scale"] = rule.lr_scale
    return out


def check_scale(value: Any, what: str, *, source: str | None, line: int | None, upper: float | None) -> float:
    """A positive finite number (at most ``upper`` when given); anything else is a RuleError."""
    bad = isinstance(value, bool) or not isinstance(value, (int, float))
    if bad or not math.isfinite(value) or value <= 0 or (upper is not None and value > upper):
        span = f"0 < {what} <= {upper:g}" if upper is not None else f"{what} > 0"
        raise RuleError(f"`{what}` must be a number with {span}; got {value!r}", source=source, line=line)
    return float(value)


def split_rule_item(item: yaml.MappingNode, source: str | None) -> tuple[yaml.Node, yaml.Node, float | None]:
    """The action key and pattern node of one rule mapping, and its ``lr_scale`` (None if absent)."""
    action_pair: tuple[yaml.Node, yaml.Node] | None = None
    scale: float | None = None
    for knode, vnode in item.value:
        key = read_scalar(knode, source)
        if key == "lr_scale":
            scale = check_scale(
                read_scalar(vnode, source), "lr_scale", source=source, line=_line(vnode), upper=None
            )
        elif action_pair is None:
            action_pair = (knode, vnode)
        else:
            raise RuleError(
                "each rule is one `freeze: PATTERN` or `train: PATTERN` (optionally with `lr_scale: X`)",
                source=source,
                line=_line(knode),
            )
    if action_pair is None:
        raise RuleError("`lr_scale` needs a `train: PATTERN` beside it", source=source, line=_line(item))
    if scale is not None and read_scalar(action_pair[0], source) != "train":
        raise RuleError(
            "`lr_scale` goes with `train:` rules only (a frozen tensor has no scale)",
            source=source,
            line=_line(item),
        )
    return action_pair[0], action_pair[1], scale


def parse_layer_decay(node: yaml.Node, source: str | None) -> float:
    return check_scale(read_scalar(node, source), "layer_decay", source=source, line=_line(node), upper=1.0)


def parse_schedule(
    node: yaml.Node, source: str | None, parse_rules: Callable[[yaml.Node, str | None], list[Any]]
) -> list[Stage]:
    """The ``schedule:`` list; stages of one unit must come in increasing order."""
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise RuleError(
            "`schedule:` must be a list of stages (`- at: {step: N}` with `rules:`)",
            source=source,
            line=_line(node),
        )
    stages = [_parse_stage(item, source, parse_rules) for item in node.value]
    for k, message in stage_order_problems(stages):
        raise RuleError(message + ": list stages in order", source=source, line=stages[k - 1].line)
    return stages


def stage_order_problems(stages: Sequence[Stage]) -> list[tuple[int, str]]:
    """``(k, message)`` for each stage (1 for the first) that does not come after the stage of its
    unit before it: the one check of the stages' order (the parser and the schedule editor)."""
    out = []
    last: dict[str, int] = {}
    for k, stage in enumerate(stages, 1):
        if stage.unit in last and stage.at <= last[stage.unit]:
            out.append((k, f"stage {k} at {stage.label} must come after {stage.unit} {last[stage.unit]}"))
        last[stage.unit] = stage.at
    return out


def _parse_stage(
    item: yaml.Node, source: str | None, parse_rules: Callable[[yaml.Node, str | None], list[Any]]
) -> Stage:
    line = _line(item)
    if not isinstance(item, yaml.MappingNode):
        raise RuleError("a stage is a mapping with `at:` and `rules:`", source=source, line=line)
    keys = {str(read_scalar(k, source)): (k, v) for k, v in item.value}
    for key, (knode, _) in keys.items():
        if key not in _STAGE_KEYS:
            raise RuleError(
                f"unknown stage key {key!r} (expected at, rules)", source=source, line=_line(knode)
            )
    if "at" not in keys or "rules" not in keys:
        raise RuleError("a stage needs both `at:` and `rules:`", source=source, line=line)
    at = keys["at"][1]
    if not isinstance(at, yaml.MappingNode) or len(at.value) != 1:
        raise RuleError("`at:` must be `{step: N}` or `{epoch: N}`", source=source, line=_line(at))
    unit = read_scalar(at.value[0][0], source)
    value = read_scalar(at.value[0][1], source)
    if unit not in UNITS:
        raise RuleError(f"`at:` takes `step` or `epoch`, not {unit!r}", source=source, line=_line(at))
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RuleError(
            f"`at: {{{unit}: N}}` needs a whole number N >= 0; got {value!r}", source=source, line=_line(at)
        )
    rules = parse_rules(keys["rules"][1], source)
    if not rules:
        raise RuleError("a stage needs at least one rule", source=source, line=line)
    return Stage(unit, value, rules, line)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1
