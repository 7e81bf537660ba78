"""Values written into generated Python or YAML, quoted by that format's own writer.

A model spec is a user's text: a folder called ``x⏎__import__("os").system(...)⏎#`` pasted into a
``#`` comment becomes a statement of the exported snippet, and ``x⏎trust_remote_code: true`` a key of
the exported config. So a value never goes into generated text as is: Python gets ``repr`` in a data
statement, YAML a scalar from the YAML dumper, and any comment is split at every line break either
format knows (``str.splitlines`` covers ``\\r``, ``\\x85``, ``\\u2028`` and the rest).
"""

from __future__ import annotations

import yaml

SPEC_NAME = "MODEL_SPEC"


def comment_lines(text: str, prefix: str = "# ") -> str:
    """``text`` as comment lines, one per line of it, each ending in a newline (a value cannot end one)."""
    return "".join((prefix + line).rstrip() + "\n" for line in text.splitlines())


def python_spec_statement(spec: str | None) -> str:
    """``MODEL_SPEC = '...'``: the spec as one statement of data (``repr`` quotes every character)."""
    return f"{SPEC_NAME} = {spec!r}  # the model this selection was made for\n"


def yaml_scalar(value: str) -> str:
    """``value`` as a one-line, double-quoted YAML scalar written by the YAML dumper (line breaks escaped)."""
    text = yaml.safe_dump(value, default_style='"', width=float("inf"), allow_unicode=False)
    line = text.removesuffix("\n").removesuffix("\n...")
    if "\n" in line or "\r" in line:  # pragma: no cover - the dumper escapes every break in this style
        raise ValueError("a YAML scalar spans several lines")
    return line
