"""Examples kept as rows: CSV with a header, or JSON Lines, each row with the place it came from.

Every problem (an empty file, a line that is not JSON, a row that is not an object) is a
:class:`~freezegui.core.data.problems.DataError` naming the file and line, raised before any training.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freezegui.core.data.problems import DataError, DataProblem, at

TABLE_SUFFIXES = (".csv",)  # .tsv stays the text reader's `label<TAB>text` lines
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
RECORD_SUFFIXES = TABLE_SUFFIXES + JSON_SUFFIXES
VAL_NAMES = ("val", "valid", "validation", "dev")


@dataclass(frozen=True)
class Record:
    """One example: its fields and where it is (``file:line``, or ``folder[split] row N``)."""

    where: str
    fields: Mapping[str, Any]


def is_record_file(path: Path) -> bool:
    return path.suffix.lower() in RECORD_SUFFIXES


def read_records(path: Path) -> list[Record]:
    """The rows of a CSV / TSV / JSON Lines file; at least one, else a :class:`DataError`."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(DataProblem.UNREADABLE, at(path), f"cannot read it as UTF-8 text ({exc})") from None
    if not text.strip():
        raise DataError(DataProblem.EMPTY, at(path), "the file is empty (no examples)")
    rows = _table_rows(path, text) if path.suffix.lower() in TABLE_SUFFIXES else _json_rows(path, text)
    if not rows:
        raise DataError(DataProblem.EMPTY, at(path), "the file has a header but no examples")
    return rows


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not standard JSON")


def _json_rows(path: Path, text: str) -> list[Record]:
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            why = f"not JSON ({exc.msg} at column {exc.colno}); a JSON Lines file holds one object a line"
            raise DataError(DataProblem.NOT_JSON, at(path, lineno), why) from None
        except (ValueError, RecursionError) as exc:
            raise DataError(DataProblem.NOT_JSON, at(path, lineno), f"not JSON ({exc})") from None
        if not isinstance(value, dict):
            why = f"expected a JSON object ({{...}}), got {type(value).__name__}"
            raise DataError(DataProblem.NOT_OBJECT, at(path, lineno), why)
        rows.append(Record(at(path, lineno), value))
    return rows


def _table_rows(path: Path, text: str) -> list[Record]:
    delimiter = ","
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
        rows = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                why = f"{len(cells)} cells, the header has {len(header)} ({', '.join(header)})"
                raise DataError(DataProblem.BAD_VALUE, at(path, reader.line_num), why)
            rows.append(Record(at(path, reader.line_num), dict(zip(header, cells))))
    except csv.Error as exc:
        raise DataError(DataProblem.BAD_VALUE, at(path, reader.line_num), f"not CSV ({exc})") from None
    return rows


def field(record: Record, name: str) -> Any:
    """``record.fields[name]``, or a :class:`DataError` naming the record and the columns it has."""
    if name not in record.fields:
        have = ", ".join(map(str, record.fields)) or "none"
        raise DataError(DataProblem.MISSING_COLUMN, record.where, f"no column {name!r} (it has: {have})")
    value = record.fields[name]
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(DataProblem.BAD_VALUE, record.where, f"{name!r} is empty")
    if isinstance(value, float) and not math.isfinite(value):
        raise DataError(DataProblem.BAD_VALUE, record.where, f"{name!r} is {value}")
    return value


def sibling_val_file(path: Path) -> Path | None:
    """``val.jsonl`` beside ``train.jsonl`` (also ``validation``, ``valid``, ``dev``): the data's own split."""
    if path.stem.lower() != "train":
        return None
    for name in VAL_NAMES:
        candidate = path.parent / f"{name}{path.suffix}"
        if candidate.is_file():
            return candidate
    return None
