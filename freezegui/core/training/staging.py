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
    """The engine's schedule; a stage rule that matches nothing is a TrainingError before step 1.

    The engine counts steps, not epochs (its data sources have no epoch length): ``at: {epoch: N}``
    stages are refused here rather than never applied."""
    epochs = [s.label for s in rules.schedule if s.unit == "epoch"]
    if epochs:
        raise TrainingError(
            f"the training session counts steps: write the stage at {epochs[0]} as `at: {{step: N}}`"
        )
    try:
        return Schedule(model, rules, optimizer, lr=lr, weight_decay=weight_decay)
    except RuleError as exc:
        raise TrainingError(str(exc)) from None
