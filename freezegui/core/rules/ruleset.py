"""Rule files: the saved freeze selection, as an ordered list of ``freeze:``/``train:`` patterns.

The file is YAML, versioned, and says how to freeze (``requires_grad`` or ``lr_zero``), what to do
with frozen normalisation layers' running statistics, and which model it was made for (spec and a
fingerprint of parameter names and shapes) so that applying it to another architecture warns.
Semantics: every parameter starts at ``default``; rules are read top to bottom and the last one that
matches a parameter (by any of its names, for tied tensors; ``param:`` patterns by its first name only)
decides.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import yaml

from freezegui.core import collector
from freezegui.core.atomic import atomic_write_text
from freezegui.core.errors import RuleError
from freezegui.core.rules.keys import Stage, parse_layer_decay, parse_schedule, rule_to_dict, split_rule_item
from freezegui.core.rules.lora import LoraSpec, parse_lora_section
from freezegui.core.rules.matching import evaluate_patterns
from freezegui.core.rules.patterns import Pattern
from freezegui.core.rules.regex import PatternBudgetError
from freezegui.core.rules.yaml_reader import compose_steps, read_limited, read_scalar
from freezegui.core.strenum import StrEnum
from freezegui.core.structure.tree import ModuleNode, ModuleTree

FORMAT_VERSION = 1
Action = Literal["freeze", "train"]


class Method(StrEnum):
    """How frozen parameters are kept still (the rule file's ``method:``)."""

    REQUIRES_GRAD = "requires_grad"  # method 1: no gradients, no optimizer state
    LR_ZERO = "lr_zero"  # method 2: everything has gradients; frozen ones sit in an lr-0 group


class NormPolicy(StrEnum):
    """What frozen normalisation layers do with their running statistics (``batchnorm:``)."""

    FROZEN_STATS = "frozen_stats"  # kept in eval mode: the statistics do not move
    UPDATE_STATS = "update_stats"  # left to train(): the statistics follow the new data


METHODS: tuple[str, ...] = tuple(Method)
NORM_POLICIES: tuple[str, ...] = tuple(NormPolicy)
_TOP_KEYS = {"version", "model", "default", "method", "batchnorm", "rules", "lora", "layer_decay", "schedule"}
_MODEL_KEYS = {"spec", "num_classes", "fingerprint", "parameters", "structure_only"}
MAX_RULES = 100_000  # a selection written out path by path stays far below; more is a mistake or an attack


@dataclass(frozen=True)
class Rule:
    """One line of the rule list: an action and the pattern it applies to."""

    action: Action
    pattern: Pattern
    line: int | None = None
    lr_scale: float | None = None  # train rules only: the matched tensors train at lr x lr_scale

    @classmethod
    def make(
        cls, action: Action, pattern: str, line: int | None = None, lr_scale: float | None = None
    ) -> Rule:
        return cls(action, Pattern.compile(pattern), line, lr_scale)

    @property
    def trainable(self) -> bool:
        return self.action == "train"

    def __str__(self) -> str:
        scale = f" (lr_scale {self.lr_scale:g})" if self.lr_scale is not None else ""
        return f"{self.action}: {self.pattern.text}{scale}"


@dataclass
class ModelInfo:
    """Where a rule file's model came from, and its architecture fingerprint."""

    spec: str | None = None
    num_classes: int | None = None
    fingerprint: str | None = None
    parameters: int | None = None
    structure_only: bool = False

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("spec", "num_classes", "fingerprint", "parameters"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass
class RuleMatch:
    """How much one rule matched when evaluated on a model."""

    rule: Rule
    params: int
    elements: int


@dataclass
class RuleSet:
    """A parsed rule file (or one built in code)."""

    rules: list[Rule] = field(default_factory=list)
    default: Action = "train"
    method: Method = Method.REQUIRES_GRAD
    batchnorm: NormPolicy = NormPolicy.FROZEN_STATS
    model: ModelInfo = field(default_factory=ModelInfo)
    source: str | None = None
    lora: LoraSpec | None = None  # the `lora:` section: adapted modules and their settings
    layer_decay: float | None = None  # scales by depth (see freezegui.core.lr.scales)
    schedule: list[Stage] = field(
        default_factory=list
    )  # gradual unfreezing (see freezegui.core.runtime.schedule)

    @property
    def has_scales(self) -> bool:
        """Whether any tensor trains at a scaled learning rate (in any stage)."""
        rules = self.rules + [r for stage in self.schedule for r in stage.rules]
        return self.layer_decay is not None or any(r.lr_scale is not None for r in rules)

    def at_stage(self, k: int) -> RuleSet:
        """The rules in force from stage ``k`` on (0: before any stage): later stages' rules appended."""
        if not 0 <= k <= len(self.schedule):
            raise IndexError(f"stage {k} of a schedule with {len(self.schedule)} stage(s)")
        extra = [r for stage in self.schedule[:k] for r in stage.rules]
        return dataclasses.replace(self, rules=self.rules + extra, schedule=[])

    def __post_init__(self) -> None:
        # Built in code with plain strings: the same enum members a parsed file gets (bad values raise).
        self.method = Method(self.method)
        self.batchnorm = NormPolicy(self.batchnorm)

    # ---------------------------------------------------------------------------------- evaluation
    def evaluate(self, tree: ModuleTree) -> tuple[np.ndarray, list[RuleMatch]]:
        """The trainable mask over ``tree``'s unique parameters, and what each rule matched.

        All rules are matched in one pass over the names (see :mod:`freezegui.core.rules.matching`).
        """
        try:
            trainable, counts = evaluate_patterns(
                tree,
                [r.pattern for r in self.rules],
                [r.trainable for r in self.rules],
                self.default == "train",
            )
        except PatternBudgetError as exc:  # refused, naming the rule's line
            line = next((r.line for r in self.rules if r.pattern.text == exc.pattern), None)
            raise exc.located(self.source, line) from None
        return trainable, [RuleMatch(rule, *c) for rule, c in zip(self.rules, counts)]

    def resolve(self, path: str) -> bool:
        """Whether a module or parameter at ``path`` trains under these rules (last match wins)."""
        result = self.default == "train"
        for rule in self.rules:
            if not rule.pattern.params_only and rule.pattern.matches(path):
                result = rule.trainable
        return result

    # ---------------------------------------------------------------------------------- files
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RuleSet:
        """Read a rule file; every problem is a :class:`RuleError` naming the file and line."""
        return _run(cls.load_steps(path))

    @classmethod
    def loads(cls, text: str, *, source: str | None = "<rules>") -> RuleSet:
        """Parse rule-file text (see :meth:`load`)."""
        return _run(cls.loads_steps(text, source=source))

    @classmethod
    def load_steps(cls, path: str | os.PathLike[str]) -> Generator[float, None, RuleSet]:
        """:meth:`load` as a generator: yields the fraction done (0..1) now and then and returns the
        rules. Closing it stops the parse; a UI thread can run it in a worker with a Cancel button."""
        text = read_limited(path, "rule file")
        yield 0.0
        return (yield from cls.loads_steps(text, source=str(path)))

    @classmethod
    def loads_steps(cls, text: str, *, source: str | None = "<rules>") -> Generator[float, None, RuleSet]:
        """:meth:`loads` as a generator (see :meth:`load_steps`). Bounded: over 4 MB, YAML aliases
        expanding beyond a million values, nesting deeper than 64 levels or more than
        :data:`MAX_RULES` rules are refused with a :class:`RuleError`."""
        with collector.paused():  # the rules built from the nodes hold no cycles either
            composing = compose_steps(text, source=source, max_items=MAX_RULES)
            while True:
                try:
                    fraction = next(composing)
                except StopIteration as done:
                    node = done.value
                    break
                yield 0.8 * fraction
            if node is None:
                raise RuleError("the rule file is empty", source=source)
            rules = yield from _parse_document(node, source)
            del node  # before the collector is back: its first pass need not walk the node graph
            return rules

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": FORMAT_VERSION}
        model = self.model.as_dict()
        if model:
            out["model"] = model
        out["default"] = self.default
        out["method"] = str(self.method)  # YAML's safe dumper writes plain str only
        out["batchnorm"] = str(self.batchnorm)
        if self.layer_decay is not None:
            out["layer_decay"] = self.layer_decay
        out["rules"] = [rule_to_dict(r) for r in self.rules]
        if self.schedule:
            out["schedule"] = [stage.to_dict() for stage in self.schedule]
        if self.lora is not None:
            out["lora"] = self.lora.to_dict()
        return out

    def dumps(self) -> str:
        header = "# freezegui rule file: every parameter starts at `default`; the last matching rule wins.\n"
        return header + yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False, width=1000)

    def save(self, path: str | os.PathLike[str], *, force: bool = False) -> None:
        """Write atomically (a temporary file renamed over ``path``); ``force`` overwrites a
        read-only file."""
        atomic_write_text(path, self.dumps(), force=force)


# ------------------------------------------------------------------------------------------ export
def literal_pattern(path: str) -> str:
    """A pattern that names exactly ``path`` (regex-escaped when a name holds glob characters)."""
    if any(c in path for c in "*?[]") or path.startswith("re:"):
        return "re:" + re.escape(path)
    return path


def rules_from_selection(tree: ModuleTree, trainable: np.ndarray, *, prefer: Action = "freeze") -> RuleSet:
    """The shortest rule list (one rule per module or parameter path) that reproduces ``trainable``.

    Dynamic programming over the tree: for each node and inherited state, the fewest rules needed
    below it; a rule at a node pays off when most of its subtree differs from what it inherits.
    """
    trainable = np.asarray(trainable, dtype=bool)
    n_train = tree.subtree_sums(trainable, elements=False)
    n_all = tree.nparams
    # base[i][t]: rules needed inside a mixed node i (none on i itself) when its subtree starts at t.
    base = np.zeros((len(tree.nodes), 2), dtype=np.int64)
    cost = np.zeros((len(tree.nodes), 2), dtype=np.int64)  # cost[i][s]: best, inheriting s
    for node in reversed(tree.nodes):
        i = node.index
        if n_all[i] == 0:
            continue
        if n_train[i] in (0, n_all[i]):
            u = int(n_train[i] == n_all[i])
            cost[i, u], cost[i, 1 - u] = 0, 1
            continue
        for t in (0, 1):
            own = sum(1 for e in node.params if trainable[e.info.index] != t)
            base[i, t] = own + sum(int(cost[c.index, t]) for c in node.children)
        for s in (0, 1):
            cost[i, s] = min(base[i, s], 1 + base[i, 1 - s])
    root = tree.root.index
    pref = int(prefer == "train")
    if n_train[root] in (0, n_all[root]):  # uniform: the default says it all
        uniform = int(n_all[root] > 0 and n_train[root] == n_all[root]) if n_all[root] else pref
        return RuleSet(rules=[], default="train" if uniform else "freeze")
    default = pref if base[root, pref] <= base[root, 1 - pref] else 1 - pref
    rules: list[Rule] = []

    def emit(node: ModuleNode, inherited: int) -> None:
        i = node.index
        if n_all[i] == 0:
            return
        if n_train[i] in (0, n_all[i]):
            u = int(n_train[i] == n_all[i])
            if u != inherited:
                rules.append(Rule.make("train" if u else "freeze", literal_pattern(node.path)))
            return
        t = inherited if base[i, inherited] <= 1 + base[i, 1 - inherited] else 1 - inherited
        if t != inherited:
            rules.append(Rule.make("train" if t else "freeze", literal_pattern(node.path)))
        _emit_children(node, t)

    def _emit_children(node: ModuleNode, t: int) -> None:
        for e in node.params:
            if int(trainable[e.info.index]) != t:
                rules.append(Rule.make("train" if not t else "freeze", literal_pattern(e.path)))
        for c in node.children:
            emit(c, t)

    _emit_children(tree.root, default)
    return RuleSet(rules=rules, default="train" if default else "freeze")


# ------------------------------------------------------------------------------------------ parsing
def _run(steps: Generator[float, None, RuleSet]) -> RuleSet:
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: RuleSet = done.value
            return result


def _parse_document(node: yaml.Node, source: str | None) -> Generator[float, None, RuleSet]:
    if not isinstance(node, yaml.MappingNode):
        raise RuleError("a rule file must be a mapping with a `rules:` list", source=source, line=_line(node))
    items = _mapping(node, source)
    unknown = [k for k in items if k not in _TOP_KEYS]
    if unknown:
        key = unknown[0]
        raise RuleError(
            f"unknown key {key!r} (expected one of: {', '.join(sorted(_TOP_KEYS))})",
            source=source,
            line=_line(items[key][0]),
        )
    rs = RuleSet(source=source)
    if "version" in items:
        version = read_scalar(items["version"][1], source)
        if version != FORMAT_VERSION:
            raise RuleError(
                f"unsupported rule-file version {version!r}; this freezegui reads version {FORMAT_VERSION}",
                source=source,
                line=_line(items["version"][1]),
            )
    if "default" in items:
        rs.default = _choice(items["default"][1], ("freeze", "train"), "default", source)  # type: ignore[assignment]
    if "method" in items:
        rs.method = Method(_choice(items["method"][1], METHODS, "method", source))
    if "batchnorm" in items:
        rs.batchnorm = NormPolicy(_choice(items["batchnorm"][1], NORM_POLICIES, "batchnorm", source))
    if "model" in items:
        rs.model = _parse_model(items["model"][1], source)
    if "rules" in items:
        rs.rules = yield from _parse_rules(items["rules"][1], source)
    if "lora" in items:
        rs.lora = parse_lora_section(items["lora"][1], source)
    if "layer_decay" in items:
        rs.layer_decay = parse_layer_decay(items["layer_decay"][1], source)
    if "schedule" in items:
        rs.schedule = parse_schedule(items["schedule"][1], source, _parse_rules_now)
    return rs


def _parse_model(node: yaml.Node, source: str | None) -> ModelInfo:
    if not isinstance(node, yaml.MappingNode):
        raise RuleError("`model:` must be a mapping", source=source, line=_line(node))
    items = _mapping(node, source)
    info = ModelInfo()
    for key, (knode, vnode) in items.items():
        if key not in _MODEL_KEYS:
            raise RuleError(
                f"unknown key {key!r} under `model:` (expected one of: {', '.join(sorted(_MODEL_KEYS))})",
                source=source,
                line=_line(knode),
            )
        value = read_scalar(vnode, source)
        if key in ("num_classes", "parameters") and value is not None and not isinstance(value, int):
            raise RuleError(f"`model.{key}` must be an integer", source=source, line=_line(vnode))
        setattr(info, key, value)
    return info


def _parse_rules_now(node: yaml.Node, source: str | None) -> list[Rule]:
    """:func:`_parse_rules` run to the end (a schedule stage's rules are short)."""
    steps = _parse_rules(node, source)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            rules: list[Rule] = done.value
            return rules


def _parse_rules(node: yaml.Node, source: str | None) -> Generator[float, None, list[Rule]]:
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise RuleError(
            "`rules:` must be a list of `- freeze: PATTERN` / `- train: PATTERN`",
            source=source,
            line=_line(node),
        )
    rules: list[Rule] = []
    total = max(1, len(node.value))
    for number, item in enumerate(node.value):
        if number % 2000 == 1999:
            yield 0.8 + 0.2 * number / total
        line = _line(item)
        if not isinstance(item, yaml.MappingNode) or not 1 <= len(item.value) <= 2:
            raise RuleError(
                "each rule must be one `freeze: PATTERN` or `train: PATTERN`", source=source, line=line
            )
        knode, vnode, lr_scale = split_rule_item(item, source)
        action = read_scalar(knode, source)
        if action not in ("freeze", "train"):
            raise RuleError(
                f"unknown rule action {action!r}; use `freeze` or `train`", source=source, line=line
            )
        patterns = [vnode] if not isinstance(vnode, yaml.SequenceNode) else list(vnode.value)
        if len(rules) + len(patterns) > MAX_RULES:
            raise RuleError(
                f"more than {MAX_RULES:,} rules; a rule file that long is a mistake (or YAML aliases "
                f"repeating rules): write module paths or patterns that cover many parameters",
                source=source,
                line=line,
            )
        for pnode in patterns:
            text = read_scalar(pnode, source)
            if not isinstance(text, str):
                text = str(text) if isinstance(text, int) else text
            try:
                rules.append(Rule(action, Pattern.compile(text), _line(pnode), lr_scale))
            except RuleError as exc:
                raise RuleError(str(exc), source=source, line=_line(pnode)) from None
    return rules


def _mapping(node: yaml.MappingNode, source: str | None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for knode, vnode in node.value:
        key = read_scalar(knode, source)
        if key in out:
            raise RuleError(f"duplicate key {key!r}", source=source, line=_line(knode))
        out[str(key)] = (knode, vnode)
    return out


def _choice(node: yaml.Node, options: tuple[str, ...], key: str, source: str | None) -> str:
    value = read_scalar(node, source)
    if value not in options:
        raise RuleError(
            f"`{key}` must be one of {', '.join(options)}; got {value!r}", source=source, line=_line(node)
        )
    return str(value)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1
