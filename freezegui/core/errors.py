"""One error type for everything a user can get wrong, so callers catch one thing and show its message."""

from __future__ import annotations


class FreezeguiError(Exception):
    """A problem the user can act on; the message says what happened and what to do."""


class SpecError(FreezeguiError):
    """A model spec that cannot be understood or built."""


class LoadError(FreezeguiError):
    """A model or checkpoint that exists but failed to load."""


class MissingDependencyError(FreezeguiError):
    """An optional package needed for this spec is not installed."""


class RuleError(FreezeguiError):
    """A rule file that is malformed, or a rule that does not fit the model."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None) -> None:
        self.source = source
        self.line = line
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        super().__init__(where + message)


class TrainingError(FreezeguiError):
    """Training could not start or could not go on (bad data, a failing step)."""


class FreezeguiWarning(UserWarning):
    """Something suspicious but not fatal (a rule that matched nothing in non-strict mode...)."""


class FingerprintWarning(FreezeguiWarning):
    """A rule file made for a different architecture is applied to this model."""
