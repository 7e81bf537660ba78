"""What a plan is for: batch, length, dtype, optimizer and layout, checked before anything runs."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any

import torch

from freezegui.core.errors import FreezeguiError


class PlanError(FreezeguiError):
    """Settings no plan can use (a clear one-line message for the CLI and the app)."""


class PlanCancelled(Exception):
    """A plan stopped at its next op because its ``cancel`` check said so (an edit made it stale)."""


class Optimizer(enum.StrEnum):
    ADAMW = "adamw"
    SGD = "sgd"
    SGD_MOMENTUM = "sgd-momentum"


class Shard(enum.StrEnum):
    NONE = "none"
    FSDP = "fsdp"


# Optimizer state per trained element, in moments (each the size of the tensor).
MOMENTS = {Optimizer.ADAMW: 2, Optimizer.SGD_MOMENTUM: 1, Optimizer.SGD: 0}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class PlanOptions:
    """One step's settings. ``dtype=None`` keeps the model's; ``seq_len``/``image_size`` default as training."""

    batch_size: int = 8
    seq_len: int | None = None
    image_size: int | None = None
    dtype: str | None = None
    amp: bool = False
    optimizer: Optimizer = Optimizer.ADAMW
    gradient_checkpointing: bool = False
    gpus: int = 1
    shard: Shard = Shard.NONE

    @classmethod
    def make(cls, **kwargs: Any) -> PlanOptions:
        """Build and validate; raises :class:`PlanError` with the reason."""
        for key, choices in (("optimizer", Optimizer), ("shard", Shard)):
            value = kwargs.get(key)
            if value is not None and not isinstance(value, choices):
                try:
                    kwargs[key] = choices(str(value).lower())
                except ValueError:
                    names = ", ".join(c.value for c in choices)
                    raise PlanError(f"{key} must be one of {names}, got {value!r}") from None
        options = cls(**kwargs)
        options.validate()
        return options

    def validate(self) -> None:
        if self.batch_size < 1:
            raise PlanError(f"batch size must be at least 1, got {self.batch_size}")
        if self.seq_len is not None and self.seq_len < 2:
            raise PlanError(f"sequence length must be at least 2, got {self.seq_len}")
        if self.image_size is not None and self.image_size < 8:
            raise PlanError(f"image size must be at least 8, got {self.image_size}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise PlanError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.gpus < 1:
            raise PlanError(f"gpus must be at least 1, got {self.gpus}")

    @property
    def torch_dtype(self) -> torch.dtype | None:
        return DTYPES[self.dtype] if self.dtype is not None else None

    def as_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, enum.Enum) else v for k, v in asdict(self).items()}
