"""Every user-written regular expression, matched in bounded time with the meaning Python's ``re`` gives it.

A rule file, a CLI flag, a PEFT ``adapter_config.json`` or an axolotl config downloaded from the
internet must not be able to freeze the app or the CLI with a pattern such as ``(.*.*)*X``, which
makes ``re``'s backtracking run for minutes. :func:`compile_bounded` parses a pattern with Python's own
parser (so syntax, errors and flags are exactly ``re``'s) and re-emits the parse tree for RE2, a
linear-time automaton engine, node by node:

* each one-character node (a literal, a set, ``.``, ``\\d``...) becomes the explicit set of ASCII
  characters that ``re`` itself accepts for it under the flags in force there (asked of ``re``, one
  character at a time), so case folding, ``(?a)`` and ``DOTALL`` mean what they mean in ``re``;
* groups become non-capturing, alternations and counted repeats stay (whether a string matches does
  not depend on greediness or on captures); ``^``/``\\A`` become ``\\A``, ``$``/``\\Z`` become ``\\z``
  and ``\\b``/``\\B`` stay.

The translation is exact for subjects that are ASCII without a line break (every module path in
practice): on them the anchors and word boundaries agree and only ASCII members of a set can matter.
Anything else -- look-arounds, back-references, atomic groups, possessive repeats, counts above RE2's
1,000, a non-ASCII or multi-line subject, or google-re2 not installed -- runs on the ``regex``
package (``re``'s semantics in its V0 mode) with a time budget per subject; running out of it raises
:class:`PatternBudgetError`, refusing the pattern in one line. ``regex`` releases the GIL while it
matches, so a Cancel button stays live.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Literal

from freezegui.core.errors import RuleError


def _module(name: str, before_311: str) -> Any:
    """``re``'s parser and compiler (``re._parser``...; ``sre_parse``... before Python 3.11)."""
    try:
        return importlib.import_module(name)
    except ImportError:  # pragma: no cover - Python 3.10
        return importlib.import_module(before_311)


_sre = _module("re._constants", "sre_constants")
_parser = _module("re._parser", "sre_parse")
_compiler = _module("re._compiler", "sre_compile")

MATCH_BUDGET_S = 0.05  # per subject, on the fallback engine only (a module path matches in microseconds)
MAX_PATTERN_CHARS = 65_536
_MAX_DEPTH = 200
_RE2_MAX_COUNT = 1000
_NEVER = r"[^\x00-\x{10FFFF}]"
_ASCII = [chr(c) for c in range(128)]
Anchor = Literal["full", "start", "search"]


class PatternBudgetError(RuleError):
    """A pattern that ran out of its time budget on one name: refused, never left running."""

    kind = "pattern_budget"

    def __init__(self, pattern: str, subject: str, *, source: str | None = None, line: int | None = None):
        self.pattern = pattern
        self.subject = subject
        shown = subject if len(subject) <= 80 else subject[:79] + "…"
        super().__init__(
            f"pattern {pattern!r} needs more than {MATCH_BUDGET_S:g} s on {shown!r} (nested repetition "
            "with a look-around or back-reference backtracks exponentially): simplify it",
            source=source,
            line=line,
        )

    def located(self, source: str | None, line: int | None) -> PatternBudgetError:
        """The same refusal naming the file and line the pattern came from."""
        return PatternBudgetError(self.pattern, self.subject, source=source, line=line)


@contextmanager
def budget_source(source: str | None, line: int | None = None) -> Iterator[None]:
    """Inside: a :class:`PatternBudgetError` that names no file is re-raised naming ``source``."""
    try:
        yield
    except PatternBudgetError as exc:
        if exc.source is not None or source is None:
            raise
        raise exc.located(source, line) from None


class RegexSyntaxError(RuleError):
    """A pattern ``re`` rejects; ``reason`` is ``re``'s own words."""

    kind = "regex_syntax"

    def __init__(self, pattern: str, reason: str) -> None:
        self.pattern = pattern
        self.reason = reason
        super().__init__(f"bad regular expression {pattern!r}: {reason}")


class _Unsupported(Exception):
    """A construct RE2 lacks (or means differently): the pattern runs on the fallback engine."""


class BoundedRegex:
    """A compiled user pattern: ``fullmatch``, ``match`` (``re.match``) and ``search`` answer whether
    it matches, as ``re`` would, in bounded time."""

    __slots__ = ("_fallback", "_flags", "engine", "fullmatch", "match", "pattern", "search")

    def __init__(self, pattern: str, flags: int, re2_program: Any) -> None:
        self.pattern = pattern
        self._flags = flags
        self._fallback: Any = None
        self.engine = "re2" if re2_program is not None else "regex"
        # Closures, not methods: a search calls them 10^5 times, and RE2's own call is most of the cost.
        self.fullmatch: Callable[[str], bool] = self._tester(re2_program, "full")
        self.match: Callable[[str], bool] = self._tester(re2_program, "start")
        self.search: Callable[[str], bool] = self._tester(re2_program, "search")

    def _tester(self, program: Any, anchor: Anchor) -> Callable[[str], bool]:
        def slow(subject: str) -> bool:
            return self._fallback_call(subject, anchor) is not None

        if program is None:
            return slow
        run, how = program.Match, _RE2_ANCHOR[anchor]

        def test(subject: str) -> bool:
            if subject.isascii() and "\n" not in subject:
                data = subject.encode()
                return bool(run(how, data, 0, len(data))[0][0] >= 0)
            return slow(subject)

        return test

    def groups(self, subject: str, anchor: Anchor = "start") -> dict[str, str | None] | None:
        """The named groups of a match (fallback engine, within the budget), None when none."""
        m = self._fallback_call(subject, anchor)
        return None if m is None else m.groupdict()

    def _fallback_call(self, subject: str, anchor: Anchor) -> Any:
        if self._fallback is None:
            self._fallback = _regex_compile(self.pattern, self._flags)
        call = {
            "full": self._fallback.fullmatch,
            "start": self._fallback.match,
            "search": self._fallback.search,
        }
        try:
            return call[anchor](subject, timeout=MATCH_BUDGET_S, concurrent=True)
        except TimeoutError:
            raise PatternBudgetError(self.pattern, subject) from None


def compile_bounded(pattern: str, flags: int = 0, *, shown: str | None = None) -> BoundedRegex:
    """Compile a user's regex; :class:`RuleError` (``re``'s own message, naming ``shown`` or the
    pattern) when ``re`` rejects it."""
    if not isinstance(pattern, str):
        raise RuleError(f"a regular expression must be a string, got {pattern!r}")
    try:
        return _compile_cached(pattern, int(flags))
    except RuleError as exc:
        raise RegexSyntaxError(shown if shown is not None else pattern, str(exc)) from None


@lru_cache(maxsize=4096)
def _compile_cached(pattern: str, flags: int) -> BoundedRegex:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RuleError(f"{len(pattern):,} characters, at most {MAX_PATTERN_CHARS:,}")
    try:
        re.compile(pattern, flags)
        parsed = _parser.parse(pattern, flags)
    except re.error as exc:
        raise RuleError(str(exc)) from None
    except (RecursionError, OverflowError, MemoryError) as exc:
        raise RuleError(f"too deeply nested or too large ({type(exc).__name__})") from None
    return BoundedRegex(pattern, flags, _re2_program(parsed))


# ------------------------------------------------------------------------------------------- RE2
def _re2_module() -> Any:
    try:
        re2 = importlib.import_module("re2")  # google-re2
        _re2 = importlib.import_module("re2._re2")  # its program object, without the wrapper's overhead
    except ImportError:  # the fallback engine alone still bounds every match
        return None
    options = re2.Options()
    options.never_capture = True
    options.log_errors = False
    return _re2, options


_RE2 = _re2_module()
_RE2_ANCHOR: dict[Anchor, Any] = {}
if _RE2 is not None:
    _A = _RE2[0].RE2.Anchor
    _RE2_ANCHOR = {"full": _A.ANCHOR_BOTH, "start": _A.ANCHOR_START, "search": _A.UNANCHORED}


def _re2_program(parsed: Any) -> Any:
    """The RE2 program equivalent to ``parsed`` on ASCII single-line subjects, None when there is none."""
    if _RE2 is None:
        return None
    try:
        text = _emit(parsed.data, parsed.state.flags, 0)
    except (_Unsupported, RecursionError):
        return None
    module, options = _RE2
    program = module.RE2(text.encode("ascii"), options)
    return program if program.ok() else None  # e.g. over RE2's memory budget: the fallback bounds it


def _emit(items: Any, flags: int, depth: int) -> str:
    if depth > _MAX_DEPTH:
        raise _Unsupported
    return "".join(_emit_node(op, av, flags, depth) for op, av in items)


def _emit_node(op: Any, av: Any, flags: int, depth: int) -> str:
    if op in _ONE_CHAR:
        return _char_class(op, av, flags)
    handler = _HANDLERS.get(op)
    if handler is None:  # look-arounds, back-references, atomic groups, possessive repeats...
        raise _Unsupported
    return handler(av, flags, depth)


def _subpattern(av: Any, flags: int, depth: int) -> str:
    _group, add_flags, del_flags, sub = av
    if add_flags & _parser.TYPE_FLAGS:
        flags &= ~_parser.TYPE_FLAGS
    return "(?:" + _emit(sub.data, (flags | add_flags) & ~del_flags, depth + 1) + ")"


def _branch(av: Any, flags: int, depth: int) -> str:
    return "(?:" + "|".join(_emit(alt.data, flags, depth + 1) for alt in av[1]) + ")"


def _repeat(av: Any, flags: int, depth: int) -> str:
    lo, hi, sub = av
    if lo > _RE2_MAX_COUNT or (hi != _sre.MAXREPEAT and hi > _RE2_MAX_COUNT):
        raise _Unsupported
    count = f"{{{lo},}}" if hi == _sre.MAXREPEAT else f"{{{lo},{hi}}}"
    return "(?:" + _emit(sub.data, flags, depth + 1) + ")" + count


_AT = {
    _sre.AT_BEGINNING: r"\A",  # no line break in the subject: `^` (even MULTILINE) is its start
    _sre.AT_BEGINNING_STRING: r"\A",
    _sre.AT_END: r"\z",  # ... and `$` its end
    _sre.AT_END_STRING: r"\z",
    _sre.AT_BOUNDARY: r"\b",  # ASCII subject: re's word characters are RE2's
    _sre.AT_NON_BOUNDARY: r"\B",
}


def _at(av: Any, flags: int, depth: int) -> str:
    if av not in _AT:
        raise _Unsupported
    return _AT[av]


_HANDLERS: dict[Any, Callable[[Any, int, int], str]] = {
    _sre.SUBPATTERN: _subpattern,
    _sre.BRANCH: _branch,
    _sre.MAX_REPEAT: _repeat,
    _sre.MIN_REPEAT: _repeat,  # lazy or greedy, the same strings match
    _sre.AT: _at,
}
_ONE_CHAR = {_sre.LITERAL, _sre.NOT_LITERAL, _sre.ANY, _sre.IN}


def _char_class(op: Any, av: Any, flags: int) -> str:
    if op is _sre.LITERAL and not flags & _sre.SRE_FLAG_IGNORECASE:
        return _escape(av) if av < 128 else _NEVER
    return _members(op, _freeze(av), flags)


def _freeze(av: Any) -> Any:
    return tuple(_freeze(x) for x in av) if isinstance(av, list | tuple) else av


@lru_cache(maxsize=8192)
def _members(op: Any, av: Any, flags: int) -> str:
    """An RE2 set of exactly the ASCII characters ``re`` accepts for this one-character node."""
    state = _parser.State()
    state.flags = flags
    node = (op, [tuple(x) if isinstance(x, tuple) else x for x in av] if op is _sre.IN else av)
    program = _compile_subpattern(_parser.SubPattern(state, [node]), flags)
    codes = [c for c, ch in enumerate(_ASCII) if program.fullmatch(ch)]
    if not codes:
        return _NEVER
    runs: list[str] = []
    start = prev = codes[0]
    for c in [*codes[1:], -2]:
        if c != prev + 1:
            runs.append(_escape(start) if start == prev else f"{_escape(start)}-{_escape(prev)}")
            start = c
        prev = c
    return "[" + "".join(runs) + "]"


def _compile_subpattern(sub: Any, flags: int) -> re.Pattern[str]:
    compiled: re.Pattern[str] = _compiler.compile(sub, flags)
    return compiled


def _escape(code: int) -> str:
    return f"\\x{{{code:x}}}"


# ------------------------------------------------------------------------------------ fallback
def _regex_compile(pattern: str, flags: int) -> Any:
    try:
        regex = importlib.import_module("regex")
    except ImportError:  # pragma: no cover - a dependency (transformers needs it too)
        raise RuleError(
            f"regular expression {pattern!r} needs the `regex` package: pip install regex"
        ) from None
    names = {re.IGNORECASE: regex.IGNORECASE, re.MULTILINE: regex.MULTILINE, re.DOTALL: regex.DOTALL}
    names |= {re.VERBOSE: regex.VERBOSE, re.ASCII: regex.ASCII}
    converted = regex.V0
    for flag, value in names.items():
        if flags & flag:
            converted |= value
    try:
        return regex.compile(pattern, converted)
    except regex.error as exc:
        raise RuleError(
            f"regular expression {pattern!r} is not supported by the bounded engine: {exc}"
        ) from None
