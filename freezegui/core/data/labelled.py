"""Text classification rows (``text`` and ``label`` columns, names settable) and their class list.

The class list is the one given (``--classes``) or the sorted labels of the training rows (numeric
labels keep their numbers as class ids); a validation row whose label is not in it is an error that
names its line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from freezegui.core.data.problems import DataError, DataProblem
from freezegui.core.data.records import Record, field


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with their class ids, and the class names (``names[i]`` is class ``i``)."""

    texts: list[str]
    labels: list[int]
    names: list[str]


def _label_text(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def class_names(records: Sequence[Record], label_column: str, given: Sequence[str] | None) -> list[str]:
    """The class list: ``given``, else the training rows' distinct labels (numbers by value)."""
    if given:
        return [str(n) for n in given]
    found = sorted({_label_text(field(r, label_column)) for r in records})
    if len(found) < 2:
        where = records[0].where.rsplit(":", 1)[0] if records else "the data"
        raise DataError(DataProblem.TOO_FEW, where, f"{len(found)} distinct label(s); a classifier needs 2")
    if all(n.isdigit() for n in found):
        return [str(i) for i in range(max(int(n) for n in found) + 1)]
    return found


def labelled_texts(
    records: Sequence[Record], names: Sequence[str], *, text_column: str = "text", label_column: str = "label"
) -> LabelledTexts:
    """Each row's text and class id; a label outside ``names`` raises, naming the row."""
    index = {n: i for i, n in enumerate(names)}
    texts, labels = [], []
    for r in records:
        text = field(r, text_column)
        if not isinstance(text, str):
            why = f"{text_column!r} must be text, got {type(text).__name__}"
            raise DataError(DataProblem.BAD_VALUE, r.where, why)
        label = _label_text(field(r, label_column))
        if label not in index:
            shown = ", ".join(names[:10]) + (" …" if len(names) > 10 else "")
            why = f"label {label!r} is not in the class list ({shown})"
            raise DataError(DataProblem.UNKNOWN_LABEL, r.where, why)
        texts.append(text)
        labels.append(index[label])
    return LabelledTexts(texts, labels, list(names))
