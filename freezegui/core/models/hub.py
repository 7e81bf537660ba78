"""Hub ids and the local Hugging Face cache: freezegui never downloads, so a hub id that is not in the
cache cannot open, and the message should say that (and how to get it there), not that a connection
to huggingface.co failed."""

from __future__ import annotations

from pathlib import Path


def looks_local(target: str) -> bool:
    """A path rather than a Hub id (``org/name``): starts like a path or has more than one slash."""
    return target.startswith((".", "/", "~", "\\")) or target.count("/") > 1 or ":" in target[1:3]


def is_cached(repo_id: str) -> bool | None:
    """Whether the hub id's ``config.json`` is in the local cache (None: cannot tell, e.g. no
    huggingface_hub or not a valid id; the loader then says what went wrong)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an id the hub library refuses (HFValidationError and the like)
        return None
    return isinstance(found, str)


def not_cached_message(repo_id: str) -> str:
    return (
        f"{repo_id} is not in the local Hugging Face cache, and freezegui never downloads. Get it "
        f"there first (`hf download {repo_id}`, or `huggingface-cli download {repo_id}`), or open a "
        "folder saved with save_pretrained()."
    )


def hub_problem(target: str) -> str:
    """Why ``hf:target`` cannot open from what is on this machine ("" when it may)."""
    if looks_local(target) or Path(target).expanduser().exists():
        path = Path(target).expanduser()
        return "" if path.exists() else f"No such folder: {target}"
    return not_cached_message(target) if is_cached(target) is False else ""


__all__ = ["hub_problem", "is_cached", "looks_local", "not_cached_message"]
