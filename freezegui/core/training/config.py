"""Settings of a short training session, shared by the library, the CLI and the app."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch

from freezegui.core.data.split import DEFAULT_VAL_FRACTION
from freezegui.core.errors import TrainingError
from freezegui.core.rules.ruleset import Method

Optimizer = Literal["sgd", "adamw"]
OPTIMIZERS: tuple[str, ...] = ("sgd", "adamw")
TRAIN_METHODS: tuple[str, ...] = tuple(Method)
SYNTHETIC = "synthetic"


@dataclass
class TrainingConfig:
    """What to run. ``method=None`` takes the method from the rule file (or the app's document).

    ``data`` is ``"synthetic"`` (made for the model with ``seed``), an image folder in the
    torchvision ``ImageFolder`` layout, or a text file (for a transformers model with a tokenizer).
    ``image_size``/``seq_len`` default per data source (64 px synthetic, 224 px folders; 32 tokens).
    """

    steps: int = 30
    batch_size: int = 8
    lr: float = 1e-3
    optimizer: Optimizer = "adamw"
    method: str | None = None
    weight_decay: float = 0.01
    momentum: float = 0.9
    device: str = "auto"
    seed: int = 0
    data: str = SYNTHETIC
    image_size: int | None = None
    seq_len: int = 32
    tokenizer: str | None = None  # folder with a tokenizer (defaults to the model's folder)
    predict: bool = (
        True  # plan the run's cost once before the first step (freezegui.plan), reported beside the measured
    )
    val_fraction: float = DEFAULT_VAL_FRACTION  # held out when the data has no val/ split of its own
    eval_every: int | None = None  # also score the held-out part every N steps (always after the last)
    text_column: str = "text"  # CSV / JSON Lines text classification columns
    label_column: str = "label"
    classes: tuple[str, ...] | None = None  # the class list (default: the training rows' labels)

    def validate(self) -> None:
        """Raise :class:`TrainingError` for settings no run can use (before anything is built)."""
        if self.steps < 1:
            raise TrainingError(f"steps must be at least 1, got {self.steps}")
        if self.batch_size < 1:
            raise TrainingError(f"batch size must be at least 1, got {self.batch_size}")
        if math.isnan(self.lr):
            raise TrainingError("the learning rate is empty or not a number; enter one such as 1e-3")
        if not math.isfinite(self.lr) or self.lr < 0:
            raise TrainingError(f"learning rate must be a finite number >= 0, got {self.lr}")
        if math.isnan(self.weight_decay):
            raise TrainingError("the weight decay is empty or not a number; enter one such as 0.01")
        if not math.isfinite(self.weight_decay) or self.weight_decay < 0:
            raise TrainingError(f"weight decay must be a finite number >= 0, got {self.weight_decay}")
        if self.optimizer not in OPTIMIZERS:
            raise TrainingError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.method is not None and self.method not in TRAIN_METHODS:
            raise TrainingError(f"method must be one of {', '.join(TRAIN_METHODS)}, got {self.method!r}")
        if self.seq_len < 2:
            raise TrainingError(f"sequence length must be at least 2, got {self.seq_len}")
        if self.image_size is not None and self.image_size < 8:
            raise TrainingError(f"image size must be at least 8, got {self.image_size}")
        if not math.isfinite(self.val_fraction) or not 0 <= self.val_fraction < 1:
            raise TrainingError(f"the validation fraction must be >= 0 and < 1, got {self.val_fraction}")
        if self.eval_every is not None and self.eval_every < 1:
            raise TrainingError(f"evaluate every N steps needs N >= 1, got {self.eval_every}")
        resolve_device(self.device)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def available_devices() -> list[str]:
    """Devices this machine can train on: always ``cpu``, plus ``cuda``/``mps`` when present."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; a named device that is absent is a clear error."""
    name = (name or "auto").strip().lower()
    avail = available_devices()
    if name == "auto":
        return torch.device(avail[1] if len(avail) > 1 else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise TrainingError(f"unknown device {name!r}; use auto, {', '.join(avail)}") from None
    if dev.type not in avail:
        raise TrainingError(f"device {name!r} is not available here (available: {', '.join(avail)})")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise TrainingError(f"{name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return dev
