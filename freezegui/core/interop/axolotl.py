"""Axolotl's ``unfrozen_parameters``: the selection as that YAML list, and an axolotl config back as rules.

Axolotl freezes every parameter, then unfreezes each one whose name a listed pattern matches. Its
dialect is not plain regex, and both directions here follow it exactly:

* patterns are tried with ``re.match`` on the names ``model.named_parameters()`` yields (anchored at
  the start only; a tied tensor is seen under its first name only);
* before compiling, every ``.`` that is not followed by ``+`` becomes a literal dot (``\\.``), so
  ``.*`` means "any number of dots" and only ``.+`` is still a wildcard; an escaped ``\\.`` would
  turn into ``\\\\.`` (a backslash, then any character), so exported patterns never write one;
* a trailing ``[a:b]`` (or ``[i]``) slices rows of the tensor: axolotl trains part of a tensor by
  zeroing gradients of the other rows. freezegui freezes whole tensors, so such a slice is reported as
  not supported (or, when asked, widened to the whole tensor with a warning) -- never dropped silently.
* an empty list means no freezing at all (axolotl skips the step), so everything trains; the empty
  pattern ``""`` matches every name, so everything trains too;
* a pattern that matches nothing is ignored by axolotl: with a model the import leaves it out of the
  rule file (so the file applies under freezegui's strict default) and says so.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import yaml

from freezegui.core.errors import FreezeguiError, FreezeguiWarning, RuleError
from freezegui.core.interop.common import load_yaml_mapping
from freezegui.core.interop.quoting import yaml_scalar
from freezegui.core.rules.regex import BoundedRegex, PatternBudgetError, budget_source, compile_bounded
from freezegui.core.rules.ruleset import Rule, RuleSet, rules_from_selection
from freezegui.core.structure.tree import ModuleTree

KEY = "unfrozen_parameters"
NOTHING = "^$"  # the export's "nothing trains" pattern: matches no name (an empty list trains everything)
# The row-slice suffix axolotl strips before compiling the name pattern.
_RANGE = re.compile(r"^(.+)\[([0-9]*)(?::([0-9]*))?\]$", re.DOTALL)
_LITERAL_DOT = re.compile(r"\.(?!\+)")
_GLOBAL_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")


@dataclass(frozen=True)
class AxolotlPattern:
    """One entry of ``unfrozen_parameters``, parsed the way axolotl parses it."""

    raw: str
    name_pattern: str  # the part before a row slice
    rows: tuple[int, int | None] | None  # the row slice, None when absent
    regex: BoundedRegex  # what axolotl compiles (dots made literal), matched in bounded time

    @classmethod
    def parse(cls, raw: str) -> AxolotlPattern:
        if not isinstance(raw, str):
            raise RuleError(f"an `{KEY}` entry must be a string, got {raw!r}")
        # "" is a pattern like any other: re.match("") matches every name, so everything trains.
        name_pattern = raw
        rows: tuple[int, int | None] | None = None
        m = _RANGE.match(raw)
        if m:
            name_pattern, start, end = m.groups()
            if end is None and start.isdecimal():
                rows = (int(start), int(start) + 1)
            else:
                rows = (int(start) if start else 0, int(end) if end else None)
                if rows[1] is not None and rows[0] >= rows[1]:
                    raise RuleError(
                        f"`{KEY}` pattern {raw!r}: the row range is empty (end must be greater than start); "
                        "axolotl refuses it too"
                    )
        translated = _LITERAL_DOT.sub(r"\\.", name_pattern)
        try:
            regex = compile_bounded(translated, shown=raw)
        except RuleError as exc:
            raise RuleError(
                f"`{KEY}` pattern {raw!r} is not a valid regex in axolotl's dialect: {exc}"
            ) from None
        return cls(raw, name_pattern, rows, regex)

    @property
    def whole_tensor(self) -> bool:
        """True without a slice, or with one that covers every row (``[:]``, ``[0:]``)."""
        return self.rows is None or self.rows == (0, None)

    def match(self, name: str) -> bool:
        try:
            return self.regex.match(name)
        except PatternBudgetError:
            raise PatternBudgetError(f"{KEY}: {self.raw}", name) from None

    def freezegui_pattern(self) -> str:
        """The same test as a freezegui rule pattern: ``param:re:(?:R).*``, a full match of the
        transformed regex followed by anything (that is ``re.match``) over parameter names only, each
        tensor under its first name, as ``named_parameters()`` gives them -- exact without a model."""
        body = self.regex.pattern
        flags = _GLOBAL_FLAGS.match(body)
        if flags:  # a leading (?i) is only legal at the very start; make it a scoped group
            body = f"(?{flags.group(1)}:{body[flags.end() :]})"
        return f"param:re:(?:{body}).*"


def parse_patterns(patterns: str | Iterable[str]) -> list[AxolotlPattern]:
    """Parse a pattern list (a single string counts as a list of one, as in axolotl)."""
    if isinstance(patterns, str):
        patterns = [patterns]
    return [AxolotlPattern.parse(p) for p in patterns]


def axolotl_mask(tree: ModuleTree, patterns: str | Iterable[str] | list[AxolotlPattern]) -> np.ndarray:
    """What axolotl unfreezes on this model: a direct implementation of its dialect over primary names."""
    parsed = [p if isinstance(p, AxolotlPattern) else AxolotlPattern.parse(p) for p in _as_list(patterns)]
    if not parsed:  # axolotl skips freezing when the list is empty
        return np.ones(len(tree.params), dtype=bool)
    return np.fromiter(
        (any(p.match(info.name) for p in parsed) for info in tree.params), dtype=bool, count=len(tree.params)
    )


def _as_list(patterns: str | Iterable[str | AxolotlPattern]) -> list[str | AxolotlPattern]:
    if isinstance(patterns, str):
        return [patterns]
    return list(patterns)


# ------------------------------------------------------------------------------------------ export
def _escape_segment(segment: str) -> str:
    # re.escape never leaves a bare "." (segments hold none) and escapes "+", so the dot rewriting
    # only ever touches the separators written between segments.
    return re.escape(segment)


def to_axolotl_patterns(tree: ModuleTree, trainable: np.ndarray) -> list[str]:
    """Patterns that unfreeze exactly ``trainable`` under axolotl's dialect.

    Whole modules become ``^prefix.`` (the dot is made literal by axolotl, so ``layers.1.`` never hits
    ``layers.10``), single tensors ``^name$``; numbered siblings (layers) with the same selection
    inside share one line, ``^model.layers.(?:30|31).mlp.``. Tied tensors are named by their first
    name, the only one axolotl sees.
    """
    mask = np.asarray(trainable, dtype=bool)
    if mask.shape != (len(tree.params),):
        raise FreezeguiError(
            f"the selection has {mask.size} flags but the model has {len(tree.params)} tensors"
        )
    root = _Trie()
    for info in tree.params:
        root.add(info.name.split("."), bool(mask[info.index]))
    return ["^" + s for s in root.cover()]


class _Trie:
    """Primary parameter names by dotted segment, with trainable counts per prefix."""

    __slots__ = ("children", "total", "train", "is_param")

    def __init__(self) -> None:
        self.children: dict[str, _Trie] = {}
        self.total = 0
        self.train = 0
        self.is_param = False

    def add(self, segments: list[str], flag: bool) -> None:
        node = self
        for seg in segments:
            node.total += 1
            node.train += flag
            node = node.children.setdefault(seg, _Trie())
        node.total += 1
        node.train += flag
        node.is_param = True

    def cover(self) -> list[str]:
        """Suffix patterns, relative to this node's prefix, matching exactly its trainable names."""
        out: list[str] = []
        groups: dict[tuple[str, ...], list[str]] = {}  # numbered children with the same inner cover
        order: list[tuple[str, ...]] = []
        for seg, child in self.children.items():
            if child.train == 0:
                continue
            if child.train == child.total:
                inner: tuple[str, ...] = ("$",) if child.is_param else (".",)
            else:
                inner = tuple("." + s for s in child.cover())
            if seg.isdecimal():
                if inner not in groups:
                    groups[inner] = []
                    order.append(inner)
                    out.append("")  # placeholder keeps model order
                groups[inner].append(seg)
            else:
                out.extend(_escape_segment(seg) + s for s in inner)
        result: list[str] = []
        pending = iter(order)
        for item in out:
            if item:
                result.append(item)
                continue
            inner = next(pending)
            segs = groups[inner]
            head = segs[0] if len(segs) == 1 else "(?:" + "|".join(segs) + ")"
            result.extend(head + s for s in inner)
        return result


def to_axolotl(tree: ModuleTree, trainable: np.ndarray, *, spec: str | None = None) -> str:
    """A YAML fragment ``unfrozen_parameters: [...]`` to paste into an axolotl config."""
    mask = np.asarray(trainable, dtype=bool)
    patterns = to_axolotl_patterns(tree, mask)
    lines = [
        "# Paste into your axolotl config. Made by freezegui"
        + (f" for {yaml_scalar(spec)}" if spec else "")
        + ";",
        "# axolotl freezes everything, then unfreezes what these match (re.match, '.' is a literal dot).",
        f"# {int(mask.sum())} of {len(tree.params)} tensors train, "
        f"{int(tree.numel[mask].sum()):,} of {tree.total_params:,} parameters.",
    ]
    if not mask.any():
        # An empty list would disable freezing altogether; a pattern no name matches freezes everything.
        lines.append(
            "# Nothing trains: `^$` matches no parameter name (an empty list would train everything)."
        )
        patterns = [NOTHING]
    elif mask.all():
        lines.append("# Everything trains: you can also drop the key (axolotl then freezes nothing).")
    body = yaml.safe_dump({KEY: patterns}, sort_keys=False, default_flow_style=False, width=1000)
    check = axolotl_mask(tree, patterns if mask.any() else [NOTHING])
    if not np.array_equal(check, mask):  # pragma: no cover - guards the exporter against itself
        raise FreezeguiError("internal error: the axolotl patterns do not reproduce the selection")
    return "\n".join(lines) + "\n" + body


# ------------------------------------------------------------------------------------------ import
def read_axolotl_config(text: str, *, source: str | None = "<axolotl>") -> list[str]:
    """The ``unfrozen_parameters`` list of a whole axolotl config (every other key is ignored)."""
    data = load_yaml_mapping(text, source=source, what="an axolotl config")
    if KEY not in data:
        raise RuleError(
            f"no `{KEY}` key: this config does not freeze anything (axolotl trains every parameter)",
            source=source,
        )
    value = data[KEY]
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"`{KEY}` must be a list of pattern strings", source=source)
    return value


@dataclass
class AxolotlImport:
    """An axolotl config read as rules, and the patterns left out because they match nothing here."""

    rules: RuleSet
    dropped: list[str] = field(default_factory=list)  # raw patterns no parameter of the model matches

    @property
    def dropped_to_report(self) -> list[str]:
        """The dropped patterns worth a warning (the export's own "nothing trains" marker is not)."""
        return [p for p in self.dropped if p != NOTHING]


def from_axolotl(
    text: str,
    tree: ModuleTree | None = None,
    *,
    whole_tensors: bool = False,
    source: str | None = "<axolotl>",
) -> RuleSet:
    """Rules equivalent to an axolotl config's ``unfrozen_parameters`` (default freeze, ``train:`` each).

    :func:`import_axolotl` without the report: patterns left out (they match nothing on ``tree``, and
    axolotl ignores them) are named in a :class:`FreezeguiWarning`.
    """
    result = import_axolotl(text, tree, whole_tensors=whole_tensors, source=source)
    if result.dropped_to_report:
        warnings.warn(
            f"{source}: left out {', '.join(map(repr, result.dropped_to_report))}: no parameter of this model matches "
            "(axolotl ignores such a pattern; as a rule it would make strict apply_rules refuse the file)",
            FreezeguiWarning,
            stacklevel=2,
        )
    return result.rules


def import_axolotl(
    text: str,
    tree: ModuleTree | None = None,
    *,
    whole_tensors: bool = False,
    source: str | None = "<axolotl>",
) -> AxolotlImport:
    """Each pattern becomes a ``param:re:`` rule with axolotl's meaning on any model (parameter names
    only, a tied tensor under its first name, so ``model.layers.1$`` and a tied ``lm_head.weight``
    match nothing, as in axolotl). With a ``tree``, patterns that match nothing there are left out
    (axolotl ignores them; a rule matching nothing would fail strict ``apply_rules``), row ranges are
    checked against the tensors as axolotl checks them, and the translation is checked against a
    direct implementation of axolotl's matching (a safety net: per-tensor rules and a warning if they
    ever differ). A row slice raises :class:`RuleError` unless ``whole_tensors`` (then the whole tensor
    trains, with a warning).
    """
    parsed = parse_patterns(read_axolotl_config(text, source=source))
    _check_slices(parsed, tree, whole_tensors, source)
    if not parsed:
        return AxolotlImport(RuleSet(rules=[], default="train", source=source))
    dropped: list[str] = []
    if tree is not None:
        with budget_source(source):  # a pattern over its time budget names the config file
            dropped = [p.raw for p in parsed if not any(p.match(i.name) for i in tree.params)]
        parsed = [p for p in parsed if p.raw not in dropped]
    rs = RuleSet(
        rules=[Rule.make("train", p.freezegui_pattern()) for p in parsed], default="freeze", source=source
    )
    if tree is None:
        return AxolotlImport(rs)
    with budget_source(source):
        want = axolotl_mask(tree, parsed) if parsed else np.zeros(len(tree.params), dtype=bool)
    got, _ = rs.evaluate(tree)
    if np.array_equal(got, want):
        return AxolotlImport(rs, dropped)
    differ = [tree.params[i].name for i in np.flatnonzero(got != want)[:5]]
    warnings.warn(
        f"{source}: on this model axolotl's patterns and their regex translation differ on "
        f"{int((got != want).sum())} tensor(s) (e.g. {', '.join(differ)}): tied weights are matched by "
        f"their first name only, or an anchor fits a module path; wrote exact per-tensor rules instead",
        FreezeguiWarning,
        stacklevel=3,
    )
    exact = rules_from_selection(tree, want)
    exact.source = source
    return AxolotlImport(exact, dropped)


def _check_slices(
    parsed: list[AxolotlPattern], tree: ModuleTree | None, whole_tensors: bool, source: str | None
) -> None:
    """Row slices: refused (freezegui freezes whole tensors), or widened with a warning; on a model,
    a range past a matched tensor's rows is refused as axolotl refuses it."""
    sliced = [p for p in parsed if not p.whole_tensor]
    if not sliced:
        return
    listed = ", ".join(repr(p.raw) for p in sliced)
    if not whole_tensors:
        raise RuleError(
            f"row slices are not supported: {listed} unfreeze(s) only some rows of a tensor, and freezegui "
            f"freezes whole tensors. Remove the [a:b] suffix to train the whole tensor (or import with "
            f"--whole-tensors to do that here), or keep that setting in axolotl.",
            source=source,
        )
    for p in sliced if tree is not None else []:
        assert p.rows is not None and tree is not None
        for info in tree.params:
            rows = int(info.tensor.shape[0]) if info.tensor.dim() else 0
            end = rows if p.rows[1] is None else p.rows[1]
            if p.match(info.name) and (p.rows[0] >= end or end > rows > 0):
                raise RuleError(
                    f"{p.raw!r}: rows {p.rows[0]}:{end} do not fit {info.name} ({rows} rows); axolotl "
                    "refuses this range (invalid unfreeze range)",
                    source=source,
                )
    warnings.warn(f"{source}: row slices widened to whole tensors: {listed}", FreezeguiWarning, stacklevel=4)
