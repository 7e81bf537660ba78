"""Bad data as data: a kind, the place (file and line) and why, so the CLI and the app show one line.

A :class:`DataError` is a :class:`~freezegui.core.errors.TrainingError` (callers that catch that keep
working); its message is ``FILE:LINE: why`` and its ``kind`` says what went wrong without parsing it.
"""

from __future__ import annotations

from freezegui.core.errors import TrainingError
from freezegui.core.strenum import StrEnum


class DataProblem(StrEnum):
    """What is wrong with a data file (the ``kind`` of a :class:`DataError`)."""

    EMPTY = "empty"  # no examples at all
    NOT_JSON = "not_json"  # a JSON Lines line that does not parse (or is not standard JSON)
    NOT_OBJECT = "not_object"  # a JSON line that is not an object
    MISSING_COLUMN = "missing_column"  # a column / key the format needs is absent
    BAD_VALUE = "bad_value"  # a value of the wrong type or empty
    UNKNOWN_LABEL = "unknown_label"  # a label outside the class list
    TOO_FEW = "too_few"  # fewer classes or examples than the task needs
    TOO_LONG = "too_long"  # a prompt that leaves no room for its completion
    UNREADABLE = "unreadable"  # a file that cannot be read as text
    MISMATCH = "mismatch"  # the data does not fit the model (task, vocabulary, class folders)


class DataError(TrainingError):
    """A data problem found before the first step: ``where`` (``file:line`` or ``file``) and ``why``."""

    def __init__(self, kind: DataProblem, where: str, why: str) -> None:
        self.kind, self.where, self.why = kind, where, why
        super().__init__(f"{where}: {why}")


def at(path: object, line: int | None = None) -> str:
    """``path:line`` (or ``path``), how every data problem names its place."""
    return f"{path}:{line}" if line is not None else str(path)
