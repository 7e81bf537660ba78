"""Factory keyword arguments typed as text (``--arg key=value``, the Open Model dialog's field)."""

from __future__ import annotations

from typing import Any

from freezegui.core.errors import SpecError

# load_model's own options: an --arg with one of these names would silently replace the flag.
_FLAG_OF = {
    "structure_only": "--structure-only",
    "num_classes": "--num-classes N",
    "weights": "--weights FILE",
    "pretrained": "--pretrained",
    "trust_pickle": "--trust-pickle",
}


def parse_model_args(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["depth=2", "name=vit"]`` -> ``{"depth": 2, "name": "vit"}``: values read as YAML scalars."""
    from freezegui.core.errors import RuleError
    from freezegui.core.rules.yaml_reader import safe_load

    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise SpecError(f"--arg {item!r}: write --arg KEY=VALUE, e.g. --arg model_name=convnext_atto")
        if key in _FLAG_OF:
            raise SpecError(f"--arg {item!r}: use {_FLAG_OF[key]} for that")
        try:  # bounded nesting and size: 30,000 '[' is one line, not a RecursionError
            value = safe_load(text, source=None) if text.strip() else ""
        except RuleError as exc:
            raise SpecError(f"--arg {_short(item)}: the value is not a YAML value ({exc})") from None
        if value is not None and not isinstance(value, (str, int, float, bool, list)):
            raise SpecError(f"--arg {_short(item)}: give a number, true/false, null, a list or text")
        out[key] = value
    return out


def _short(item: str, limit: int = 60) -> str:
    """``item`` quoted for a message, cut to ``limit`` characters (a 30,000-bracket value is not echoed)."""
    return repr(item) if len(item) <= limit else repr(item[:limit]) + f" … ({len(item):,} characters)"
