"""Schedules (gradual unfreezing) in the training engine: built once, over the engine's optimizer.

The engine counts epochs as passes over its data: ``TrainingData.steps_per_epoch`` batches each
(synthetic data: its pool of 8 batches; an image folder or a text file: its examples over the batch
size, rounded up). Step ``i`` (0-based, ``i`` steps done) is in epoch ``i // steps_per_epoch``, so a
stage ``at: {epoch: N}`` applies before step ``N * steps_per_epoch + 1``.
"""

from __future__ import annotations

import torch
from torch import nn

from freezegui.core.errors import RuleError, TrainingError
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.runtime.schedule import Schedule

__all__ = ["Schedule", "epoch_of", "start_schedule"]


def start_schedule(
    model: nn.Module,
    rules: RuleSet,
    optimizer: torch.optim.Optimizer,
    lr: float,
    weight_decay: float,
    steps_per_epoch: int | None,
) -> Schedule:
    """The engine's schedule; a stage rule that matches nothing is a TrainingError before step 1, and
    so is an ``at: {epoch: N}`` stage over data without a length (it has no epochs to count)."""
    epochs = [s.label for s in rules.schedule if s.unit == "epoch"]
    if epochs and steps_per_epoch is None:
        raise TrainingError(
            f"this data has no length, so no epochs: write the stage at {epochs[0]} as `at: {{step: N}}`"
        )
    try:
        return Schedule(model, rules, optimizer, lr=lr, weight_decay=weight_decay)
    except RuleError as exc:
        raise TrainingError(str(exc)) from None


def epoch_of(done: int, steps_per_epoch: int | None) -> int:
    """Epochs completed after ``done`` steps (0 for data without a length)."""
    return done // steps_per_epoch if steps_per_epoch else 0
