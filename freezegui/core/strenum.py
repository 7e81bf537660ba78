"""``enum.StrEnum`` (Python 3.11+), with the same behaviour on 3.10.

Members are ``str`` instances that compare equal to, print as and serialise (JSON) as their value, so
statuses and kinds written to files or compared with plain strings stay what they were.
"""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover - exercised on Python 3.10 only
    from enum import Enum

    class StrEnum(str, Enum):
        """A ``str`` enum whose ``str()`` is its value, as 3.11's ``enum.StrEnum``."""

        def __str__(self) -> str:
            return str(self.value)


__all__ = ["StrEnum"]
