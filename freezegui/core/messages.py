"""Third-party error text made fit for a one-line message: no terminal colour codes, no multi-KB
lists (transformers lists every model type it knows), no sentence cut at its first line break."""

from __future__ import annotations

import re
from collections.abc import Sequence

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Twelve or more comma-separated short items in a row: a list of names worth cutting.
_LONG_LIST = re.compile(r"(?:[^\s,][^,]{0,60}?, ){11,}[^\s,][^,]{0,60}?(?=[.;)\n]|$)")
MAX_CHARS = 400


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences (torch bolds part of its pickle warning)."""
    return _ANSI.sub("", text)


def cut_list(items: Sequence[str], limit: int = 8) -> str:
    """``a, b, c … and 120 more``."""
    shown = ", ".join(items[:limit])
    return shown + (f" … and {len(items) - limit} more" if len(items) > limit else "")


def shorten(text: str, limit: int = MAX_CHARS) -> str:
    """One line of at most ``limit`` characters, long lists cut to their first few items."""
    text = strip_ansi(text)
    text = _LONG_LIST.sub(lambda m: cut_list([s.strip() for s in m.group(0).split(",")]), text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def reason(exc: BaseException, limit: int = MAX_CHARS) -> str:
    """:func:`shorten` of an exception's text, or its type name when it has none."""
    return shorten(str(exc), limit) or type(exc).__name__


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's first line, short (no colour codes, long lists cut), or its type name when it
    has no text: for "cannot do X: WHY" messages where the type name would be noise."""
    text = _first(exc, limit)
    return text if text is not None else type(exc).__name__


def _first(exc: BaseException, limit: int) -> str | None:
    lines = strip_ansi(str(exc)).strip().splitlines()
    return shorten(lines[0], limit) if lines else None


def error_line(exc: BaseException, limit: int = 300) -> str:
    """The one way to turn any exception into one line for a person (GUI, CLI, reports).

    A :class:`~freezegui.core.errors.FreezeguiError` already says what to do: its message. An
    ``OSError`` names its file(s): ``cannot use PATH: REASON``. ``sys.exit()`` and Ctrl+C in user code
    say so; anything else is ``TypeName: first line``, short and without colour codes."""
    from freezegui.core.errors import FreezeguiError

    if isinstance(exc, FreezeguiError):  # ours: whole, on one line (a box shows the rest behind Details)
        return " ".join(strip_ansi(str(exc)).split()) or type(exc).__name__
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}): the code called sys.exit() (or argparse found bad arguments)"
    if isinstance(exc, KeyboardInterrupt):
        return "KeyboardInterrupt (interrupted)"
    if isinstance(exc, OSError) and (exc.filename is not None or exc.strerror):
        why = exc.strerror or str(exc) or type(exc).__name__
        paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
        return shorten(f"cannot use {' -> '.join(paths)}: {why}" if paths else why)
    text = _first(exc, limit)
    return f"{type(exc).__name__}: {text}" if text is not None else type(exc).__name__
