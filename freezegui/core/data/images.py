"""Image folders with their own split: ``root/train/CLASS/...`` beside ``root/val/CLASS/...``."""

from __future__ import annotations

from pathlib import Path

from freezegui.core.data.problems import DataError, DataProblem, at
from freezegui.core.data.records import VAL_NAMES


def _class_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def split_folders(root: Path) -> tuple[Path, Path] | None:
    """``(train, val)`` folders when ``root`` has both, with the same class folders; else None."""
    train = root / "train"
    val = next((root / n for n in VAL_NAMES if (root / n).is_dir()), None)
    if not train.is_dir() or val is None:
        return None
    have, want = _class_folders(val), _class_folders(train)
    if have != want:
        extra = sorted(set(have) - set(want))
        missing = sorted(set(want) - set(have))
        why = (
            f"class folder {extra[0]!r} is not in the class list of {train.name}/ ({', '.join(want)})"
            if extra
            else f"lacks the class folder(s) {', '.join(missing)} that {train.name}/ has"
        )
        raise DataError(DataProblem.UNKNOWN_LABEL if extra else DataProblem.MISMATCH, at(val), why)
    return train, val
