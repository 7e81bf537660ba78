"""A Hugging Face ``datasets`` folder written by ``save_to_disk`` (needs ``pip install "freezegui[datasets]"``).

Its rows become :class:`~freezegui.core.data.records.Record` s (``folder[split] row N``) and go through
the same readers as JSON Lines; a ``DatasetDict`` with a ``validation`` (or ``val``) split brings its own
held-out part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from freezegui.core.data.problems import DataError, DataProblem, at
from freezegui.core.data.records import VAL_NAMES, Record
from freezegui.core.errors import MissingDependencyError

_MARKERS = ("dataset_dict.json", "dataset_info.json", "state.json")


def is_disk_dataset(path: Path) -> bool:
    """A folder ``save_to_disk`` wrote (a ``Dataset`` or a ``DatasetDict``)."""
    return path.is_dir() and any((path / m).is_file() for m in _MARKERS)


def _rows(path: Path, split: str, ds: Any) -> list[Record]:
    return [Record(f"{path}[{split}] row {i + 1}", dict(row)) for i, row in enumerate(ds)]


def read_disk_dataset(path: Path) -> tuple[list[Record], list[Record] | None]:
    """``(train rows, validation rows or None)`` of a saved dataset."""
    try:
        import datasets
    except ImportError:
        raise MissingDependencyError(
            f"{path} is a Hugging Face datasets folder; reading it needs the datasets package "
            '(pip install "freezegui[datasets]")'
        ) from None
    try:
        loaded: Any = datasets.load_from_disk(str(path))
    except Exception as exc:  # a damaged folder: the package's own reason, one line
        raise DataError(DataProblem.UNREADABLE, at(path), f"datasets cannot load it: {exc}") from None
    if not isinstance(loaded, datasets.DatasetDict):
        train, val = _rows(path, "train", loaded), None
    else:
        if "train" not in loaded:
            why = f"the DatasetDict has no 'train' split (it has: {', '.join(loaded)})"
            raise DataError(DataProblem.MISSING_COLUMN, at(path), why)
        train = _rows(path, "train", loaded["train"])
        name = next((n for n in VAL_NAMES if n in loaded), None)
        val = _rows(path, name, loaded[name]) if name is not None else None
    if not train:
        raise DataError(DataProblem.EMPTY, at(path), "the train split has no rows")
    return train, val
