"""What can be wrong when rules meet a model, as data: a kind to branch on and the facts, plus the
line a person reads. Callers decide by ``kind`` (strict mode refuses unmatched rules, a fingerprint
only warns), never by searching the message."""

from __future__ import annotations

from dataclasses import dataclass, field

from freezegui.core.strenum import StrEnum


class ProblemKind(StrEnum):
    """The kinds of problem a rule file can have on a model."""

    UNMATCHED_RULE = "unmatched_rule"  # a rule that matches no parameter
    UNMATCHED_LORA_TARGET = "unmatched_lora_target"  # a lora target covering no adaptable module
    LORA_CONFLICT = "lora_conflict"  # adapted modules whose own tensors also train fully
    FINGERPRINT = "fingerprint"  # the file was made for another architecture


@dataclass(frozen=True)
class Problem:
    """One problem: its kind, the line to show, and what it is about (rule text, module paths...)."""

    kind: ProblemKind
    message: str
    subjects: tuple[str, ...] = field(default=())
    line: int | None = None

    def __str__(self) -> str:
        return self.message


def of_kind(problems: list[Problem], *kinds: ProblemKind) -> list[Problem]:
    """The problems of these kinds, in order."""
    return [p for p in problems if p.kind in kinds]


__all__ = ["Problem", "ProblemKind", "of_kind"]
