"""Rule patterns over dotted module/parameter paths, matched by whole segments.

``fc`` matches ``fc.weight`` and ``fc.bias`` (a pattern that names a module covers everything under
it) but never ``fc1.weight`` nor ``head.fc.weight``: patterns are anchored at the model's root and
compare whole segments, unlike the ``"fc" in name`` test in common tutorials. In a glob pattern ``*``
matches within one segment (``bn*``, ``layer.1[01]``) and ``**`` matches any number of segments;
``re:`` introduces a regular expression that must match a whole path. ``param:`` before a pattern
(``param:re:model\\.layers\\.1\\..*``) tests parameter names only, each tensor under its first name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from freezegui.core.errors import RuleError
from freezegui.core.rules.regex import BoundedRegex, PatternBudgetError, compile_bounded

PARAM_PREFIX = "param:"
_CACHE_SIZE = 65_536
_CACHE: dict[str, Pattern] = {}


def segment_regex(segment: str) -> str:
    """Translate one glob segment (``*``, ``?``, ``[...]``) into a regex that stays inside the segment."""
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        c = segment[i]
        if c == "*":
            out.append("[^.]*")
        elif c == "?":
            out.append("[^.]")
        elif c == "[":
            j = segment.find("]", i + 2 if i + 1 < n and segment[i + 1] in "!^" else i + 1)
            if j == -1:
                raise ValueError(f"unclosed '[' in {segment!r}")
            body = segment[i + 1 : j]
            if body.startswith(("!", "^")):
                body = "^" + body[1:]
            # '[', '&', '~', '|' are literal in a glob set; re would warn of nested sets/set operations
            out.append("[" + re.sub(r"([\\\[&~|])", r"\\\1", body) + "]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _literal(segment: str) -> str:
    """The longest run of plain characters in one glob segment (outside ``*``, ``?`` and ``[...]``)."""
    runs, run, i = [], "", 0
    while i < len(segment):
        c = segment[i]
        if c in "*?[":
            runs.append(run)
            run = ""
            if c == "[":  # validated by segment_regex: the bracket closes
                i = segment.find("]", i + 2 if segment[i + 1 : i + 2] in ("!", "^") else i + 1)
        else:
            run += c
        i += 1
    return max([*runs, run], key=len)


def compile_regex(pattern: str, flags: int = 0, *, shown: str | None = None) -> BoundedRegex:
    """Every regex a pattern builds, compiled to match in bounded time with ``re``'s meaning (see
    :mod:`freezegui.core.rules.regex`): a user's pattern must not be able to hang a search."""
    return compile_bounded(pattern, flags, shown=shown)


@dataclass(frozen=True)
class Pattern:
    """A compiled rule pattern; :meth:`matches` says whether it covers a dotted path."""

    text: str
    _regex: BoundedRegex | None = field(repr=False, compare=False)  # None: a plain path
    _dotted: bool = field(repr=False, compare=False)  # glob regexes run on ``path + "."``
    # Text that every path the pattern matches contains ("" when none is known): a cheap test that
    # rules out most paths before the regex runs, when a search tests 10^5 of them.
    needle: str = field(default="", repr=False, compare=False)
    # ``param:`` patterns test each tensor's first name in ``named_parameters()`` only: never a module
    # path, never another name of a tied tensor (what axolotl and most training scripts see).
    params_only: bool = field(default=False, compare=False)

    @classmethod
    def compile(cls, text: str) -> Pattern:
        """Compile ``text``; raises :class:`RuleError` (without a source) when it is malformed.

        Compiled patterns are kept by text (a rule file repeats patterns; they are immutable)."""
        if isinstance(text, str):
            cached = _CACHE.get(text)
            if cached is not None:
                return cached
        pattern = cls._compile(text)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[text] = pattern
        return pattern

    @classmethod
    def _compile(cls, text: str) -> Pattern:
        if not isinstance(text, str) or not text.strip():
            raise RuleError(f"a pattern must be a non-empty string, got {text!r}")
        text = text.strip()
        if text.startswith(PARAM_PREFIX):
            return cls._compile_param(text)
        if text.startswith("re:"):
            body = text[3:]
            compile_regex(body, shown=body)  # its own errors, before the suffix is added
            return cls(text, compile_regex(rf"(?:{body})(?:\..*)?", re.DOTALL, shown=body), False)
        segments = text.split(".")
        if any(s == "" for s in segments):
            raise RuleError(f"pattern {text!r} has an empty segment (two dots, or a dot at an end)")
        if not any(c in text for c in "*?["):  # a plain path: compared as text, no regex to build
            return cls(text, None, True, max(segments, key=len))
        parts: list[str] = []
        try:
            for seg in segments:
                if seg == "**":
                    parts.append(r"(?:[^.]+\.)*")
                elif "**" in seg:
                    raise ValueError(f"'**' must be a whole segment, not part of {seg!r}")
                else:
                    parts.append(segment_regex(seg) + r"\.")
            regex = compile_regex("".join(parts) + ".*", re.DOTALL, shown=text)
        except (ValueError, RuleError) as exc:
            raise RuleError(f"bad pattern {text!r}: {exc}") from None
        return cls(text, regex, True, max((_literal(seg) for seg in segments), key=len))

    @classmethod
    def _compile_param(cls, text: str) -> Pattern:
        inner = text[len(PARAM_PREFIX) :]
        if not inner.startswith("re:"):
            glob = cls.compile(inner)
            return cls(text, glob._regex, glob._dotted, glob.needle, params_only=True)
        # the regex must match the whole parameter name: no module-path suffix is added
        return cls(text, compile_regex(inner[3:], shown=inner[3:]), False, params_only=True)

    def matches(self, path: str) -> bool:
        """True when the pattern names ``path`` itself or a module that contains it."""
        if self._regex is None:
            return path == self.text or path.startswith(self.text + ".")
        subject = path + "." if self._dotted else path
        try:
            return self._regex.fullmatch(subject)
        except PatternBudgetError:  # named as the user wrote it, not as the regex it became
            raise PatternBudgetError(self.text, path) from None

    @property
    def is_literal(self) -> bool:
        """True for a plain dotted path (no wildcard, no regex): it can name exactly one module."""
        if self.params_only or self.text.startswith("re:"):
            return False
        return not any(c in self.text for c in "*?[")
