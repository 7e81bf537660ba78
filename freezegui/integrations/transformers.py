"""A Hugging Face ``TrainerCallback`` that runs a rule file's scales and gradual-unfreezing schedule.

    from freezegui.integrations.transformers import FreezeSchedule
    schedule = FreezeSchedule("rules.yaml")
    optimizer = schedule.create_optimizer(model, training_args)       # applies the rules, builds the groups
    trainer = Trainer(model, training_args, optimizers=(optimizer, None), callbacks=[schedule], ...)

Why the optimizer factory: the Trainer builds its default optimizer from the parameters that have
``requires_grad=True`` when training starts, so a callback that flips ``requires_grad`` on later
unfreezes tensors the optimizer never sees: they get gradients and never move. The factory puts every
tensor that trains in any stage into the optimizer up front, in lr-0 groups until its stage, and the
callback gives those groups their learning rate (and the Trainer's scheduler its base rates) when the
stage comes. Needs ``transformers`` (and ``accelerate``, which its Trainer needs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from freezegui.core.errors import MissingDependencyError, RuleError
from freezegui.core.lr.groups import NoDecay
from freezegui.core.runtime.apply import ApplyReport, RulesLike, apply_rules, as_ruleset, param_groups
from freezegui.core.runtime.schedule import Schedule, StageChange, check_data_parallel

try:
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover - depends on what is installed
    raise MissingDependencyError(
        "freezegui.integrations.transformers needs transformers: pip install transformers"
    ) from None


class FreezeSchedule(TrainerCallback):
    """Apply ``rules`` (scales, schedule) during ``Trainer.train``; build the optimizer with
    :meth:`create_optimizer`. ``changes`` lists the stages applied, with the global step of each."""

    def __init__(self, rules: RulesLike, *, strict: bool = True, no_decay: NoDecay = None) -> None:
        self.rules = as_ruleset(rules)  # parse now: a broken rule file fails before any training
        self.strict = strict
        self.no_decay = no_decay
        self.report: ApplyReport | None = None
        self.schedule: Schedule | None = None

    def create_optimizer(
        self,
        model: nn.Module,
        args: Any = None,
        *,
        lr: float | None = None,
        weight_decay: float | None = None,
        optimizer_cls: Callable[..., torch.optim.Optimizer] = torch.optim.AdamW,
        **optimizer_kwargs: Any,
    ) -> torch.optim.Optimizer:
        """Apply the rules to ``model`` and return an optimizer over every tensor that trains in any stage.

        ``lr``/``weight_decay`` default to ``args.learning_rate``/``args.weight_decay`` (TrainingArguments);
        with AdamW the betas and epsilon come from ``args`` too.
        """
        if lr is None:
            lr = float(getattr(args, "learning_rate", 5e-5))
        if weight_decay is None:
            weight_decay = float(getattr(args, "weight_decay", 0.0))
        # The Trainer wraps the model in DDP later, when it trains on several ranks: refuse now.
        check_data_parallel(self.rules, model, data_parallel_ranks=int(getattr(args, "world_size", 1)))
        if args is not None and optimizer_cls is torch.optim.AdamW:
            optimizer_kwargs.setdefault("betas", (args.adam_beta1, args.adam_beta2))
            optimizer_kwargs.setdefault("eps", args.adam_epsilon)
        self.report = apply_rules(model, self.rules, strict=self.strict)
        groups = param_groups(model, self.rules, lr=lr, weight_decay=weight_decay, no_decay=self.no_decay)
        optimizer = optimizer_cls(groups, lr=lr, **optimizer_kwargs)
        self.schedule = Schedule(
            model, self.rules, optimizer, lr=lr, weight_decay=weight_decay, no_decay=self.no_decay
        )
        return optimizer

    @property
    def changes(self) -> list[StageChange]:
        return self.schedule.changes if self.schedule is not None else []

    def _drive(self, state: Any, lr_scheduler: Any) -> None:
        if self.schedule is None:
            raise RuleError(
                "FreezeSchedule needs the optimizer it builds: pass optimizers=(schedule.create_optimizer(model, "
                "args), None) to the Trainer"
            )
        if lr_scheduler is not None:
            self.schedule.lr_scheduler = getattr(
                lr_scheduler, "scheduler", lr_scheduler
            )  # accelerate wraps it
        self.schedule.step(int(state.global_step), int(state.epoch or 0))

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._drive(state, kwargs.get("lr_scheduler"))

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._drive(state, kwargs.get("lr_scheduler"))

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._drive(state, kwargs.get("lr_scheduler"))
