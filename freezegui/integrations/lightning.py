"""A PyTorch Lightning callback that applies a freezegui rule file when ``fit`` starts.

    from freezegui.integrations.lightning import FreezeRules
    trainer = L.Trainer(callbacks=[FreezeRules("rules.yaml")])

The rules are applied in the callback's ``setup`` for the fit stage: that is Lightning's last hook
before it calls ``configure_optimizers`` and wraps the module for DDP/FSDP, which is the order that
works (see examples/ddp_finetune.py). Build the optimizer from ``p.requires_grad`` parameters, or with
``method: lr_zero`` from :func:`freezegui.param_groups` (the callback warns when frozen tensors would
train). Frozen BatchNorm layers are put back in eval mode at the start of every training epoch, since
Lightning calls ``model.train()`` then. A rule file with a ``schedule:`` (gradual unfreezing) needs the
optimizer built from :func:`freezegui.param_groups` (it holds every tensor that trains in any stage);
the callback then applies each stage when due, before the batch, by global step or epoch. Needs ``lightning`` (``pip install freezegui[lightning]``);
the older ``pytorch_lightning`` package works too.
"""

from __future__ import annotations

import warnings
from typing import Any

from torch import nn

from freezegui.core.errors import FreezeguiWarning, MissingDependencyError, RuleError
from freezegui.core.runtime.apply import ApplyReport, RulesLike, apply_rules, as_ruleset
from freezegui.core.runtime.schedule import Schedule, check_data_parallel
from freezegui.core.structure.norms import is_stats_frozen

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # pragma: no cover - depends on what is installed
    try:
        from pytorch_lightning.callbacks import Callback  # type: ignore[no-redef]
    except ImportError:
        raise MissingDependencyError(
            "freezegui.integrations.lightning needs PyTorch Lightning: pip install 'freezegui[lightning]'"
        ) from None


class FreezeRules(Callback):
    """Apply ``rules`` to the LightningModule (or its ``submodule``) before optimizers are built.

    ``submodule`` names the attribute holding the network the rule file was made for (``"model"``
    when the LightningModule wraps a torchvision/transformers model as ``self.model``); the rule
    patterns are then relative to it. ``strict`` as in :func:`freezegui.apply_rules`.
    """

    def __init__(self, rules: RulesLike, *, submodule: str | None = None, strict: bool = True) -> None:
        super().__init__()
        self.rules = as_ruleset(rules)  # parse now: a broken rule file fails before any training
        self.submodule = submodule
        self.strict = strict
        self.report: ApplyReport | None = None
        self.schedule: Schedule | None = None
        self._frozen_norms: list[nn.Module] = []

    def _target(self, pl_module: nn.Module) -> nn.Module:
        return pl_module.get_submodule(self.submodule) if self.submodule else pl_module

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage != "fit":
            return
        target = self._target(pl_module)
        self.report = apply_rules(target, self.rules, strict=self.strict)
        self._frozen_norms = [target.get_submodule(p) for p in self.report.frozen_norm_layers]
        # Their forward pre-hook switches them to eval mode at every forward pass; leaving the mode
        # flag as Lightning set it keeps its "modules in eval mode at the start of training" check
        # quiet about layers that are frozen on purpose.
        for module in self._frozen_norms:
            module.training = pl_module.training

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        """Check the optimizers Lightning built: no frozen tensor may train at a non-zero lr."""
        if self.report is None or self.report.trainable_mask is None:
            return
        target = self._target(pl_module)
        from freezegui.core.structure.tree import build_tree

        tree = build_tree(target)
        if self.rules.schedule:
            self._start_schedule(trainer, target)
        frozen = {id(t) for t, f in zip(tree.tensors, self.report.trainable_mask.tolist()) if not f}
        for optimizer in getattr(trainer, "optimizers", []):
            for group in optimizer.param_groups:
                moving = [p for p in group["params"] if id(p) in frozen and p.requires_grad]
                if moving and group.get("lr", 0) != 0:
                    warnings.warn(
                        f"{len(moving)} frozen tensor(s) sit in an optimizer group with lr {group['lr']}: with "
                        f"method lr_zero build the optimizer from freezegui.param_groups(model, rules, lr=...)",
                        FreezeguiWarning,
                        stacklevel=2,
                    )
                    return

    def _start_schedule(self, trainer: Any, target: nn.Module) -> None:
        optimizers = list(getattr(trainer, "optimizers", []))
        if len(optimizers) != 1:
            raise RuleError(
                "a rule file with a schedule needs exactly one optimizer, built from "
                "freezegui.param_groups(model, rules, lr=...) in configure_optimizers"
            )
        check_data_parallel(self.rules, getattr(trainer, "model", None))  # the strategy's DDP wrapper
        configs = getattr(trainer, "lr_scheduler_configs", [])
        scheduler = configs[0].scheduler if configs else None
        self.schedule = Schedule(target, self.rules, optimizers[0], lr_scheduler=scheduler)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        """Apply the stages now due (by the optimizer steps done and the epoch)."""
        if self.schedule is not None and self.schedule.step(
            int(trainer.global_step), int(trainer.current_epoch)
        ):
            self._frozen_norms = [m for m in self._target(pl_module).modules() if is_stats_frozen(m)]

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """Lightning has just called ``train()``: frozen norm layers go back to eval mode."""
        for module in self._frozen_norms:
            if is_stats_frozen(module):
                module.eval()
