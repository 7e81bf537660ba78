"""Parameter counts, each tensor counted once by identity (tied weights count once)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class Counts:
    """Trainable / frozen / total parameter elements.

    With LoRA adapters, ``trainable`` and ``total`` include the ``lora`` adapter parameters (as PEFT's
    ``get_nb_trainable_parameters`` counts them), so ``frozen`` stays the frozen base parameters.
    """

    trainable: int
    total: int
    lora: int = 0

    @property
    def frozen(self) -> int:
        return self.total - self.trainable

    @property
    def trainable_fraction(self) -> float:
        return self.trainable / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, int | float]:
        return {
            "trainable": self.trainable,
            "frozen": self.frozen,
            "total": self.total,
            "trainable_percent": round(100 * self.trainable_fraction, 4),
            "lora_parameters": self.lora,
        }

    def __str__(self) -> str:
        adapters = f" | LoRA {self.lora:,}" if self.lora else ""
        return (
            f"trainable {self.trainable:,}{adapters} | frozen {self.frozen:,} | total {self.total:,} "
            f"({format_percent(self.trainable_fraction)})"
        )


def format_percent(fraction: float) -> str:
    """``0.000459`` -> ``'0.05 %'``; never shows 0 % for a non-zero share."""
    pct = 100 * fraction
    if 0 < pct < 0.01:
        return "<0.01 %"
    return f"{pct:.2f} %"


def count_parameters(model: nn.Module) -> Counts:
    """Trainable (``requires_grad``), frozen and total elements; tied tensors count once.

    Equals ``sum(p.numel() for p in model.parameters())``, which also de-duplicates by identity.
    """
    trainable = total = 0
    for p in model.parameters():  # de-duplicated by identity
        n = p.numel()
        total += n
        if p.requires_grad:
            trainable += n
    return Counts(trainable=trainable, total=total)


_UNITS = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))


def format_count(n: int) -> str:
    """Readable parameter count: ``11181642`` -> ``'11.2 M'``, ``5130`` -> ``'5.1 K'``."""
    for scale, unit in _UNITS:
        if abs(n) >= scale:
            value = n / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return str(n)


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover
