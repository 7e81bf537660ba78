"""Schedules (gradual unfreezing) in the training engine: built once, over the engine's optimizer."""

from __future__ import annotations

import torch
from torch import nn

from freezegui.core.errors import RuleError, TrainingError
from freezegui.core.rules import RuleSet
from freezegui.core.schedule import Schedule

__all__ = ["Schedule", "start_schedule"]


def start_schedule(
    model: nn.Module, rules: RuleSet, optimizer: torch.optim.Optimizer, lr: float, weight_decay: float
) -> Schedule:
    """The engine's schedule; a stage rule that matches nothing is a TrainingError before step 1."""
    try:
        return Schedule(model, rules, optimizer, lr=lr, weight_decay=weight_decay)
    except RuleError as exc:
        raise TrainingError(str(exc)) from None
