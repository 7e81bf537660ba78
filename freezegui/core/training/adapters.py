"""Training a rule file's ``lora:`` section: the model wrapped by PEFT with the file's own settings.

A LoRA-only rule file freezes every base weight, so without adapters the engine had nothing that
requires grad ("element 0 of tensors does not require grad"). The run trains what the user sees:
PEFT's LoRA layers on exactly the adapted modules, with the file's r / lora_alpha / dropout / DoRA /
bias, and the fully trained modules as PEFT's ``modules_to_save``. The config is the PEFT export's
(:func:`freezegui.core.interop.peft.to_peft`), whose meaning under PEFT's own matching is exactly the
selection, or a one-line refusal saying what PEFT cannot express. The checkpoint is the adapter as
``PeftModel.save_pretrained`` writes it, so ``PeftModel.from_pretrained`` loads it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from freezegui.core.errors import FreezeguiError, TrainingError
from freezegui.core.messages import first_line
from freezegui.core.rules.ruleset import Method, RuleSet
from freezegui.core.runtime.apply import ApplyReport
from freezegui.core.structure.tree import build_tree


def has_adapters(rules: RuleSet, report: ApplyReport) -> bool:
    """Whether the rules adapt at least one module of the model."""
    return rules.lora is not None and report.adapted is not None and bool(report.adapted.any())


def wrap_with_adapters(model: nn.Module, rules: RuleSet, report: ApplyReport) -> nn.Module:
    """``model`` inside a ``PeftModel`` whose trainable tensors are the selection's (adapters included).

    PEFT injects its layers into ``model`` in place, as ``get_peft_model`` always does."""
    _refuse_unsupported(rules, report)
    try:
        import peft
    except ImportError:
        raise TrainingError(
            'the rule file has a `lora:` section: training its adapters needs PEFT (pip install "freezegui[peft]")'
        ) from None
    from freezegui.core.interop.peft import to_peft

    assert rules.lora is not None and report.adapted is not None and report.trainable_mask is not None
    try:
        exported = to_peft(build_tree(model), report.trainable_mask, report.adapted, rules.lora.settings)
    except FreezeguiError as exc:
        raise TrainingError(f"cannot train these adapters with PEFT: {exc}") from None
    config = {k: v for k, v in exported.config.items() if k != "peft_type"}
    try:
        with warnings.catch_warnings():  # transformers 5 deprecates an attribute PEFT still reads
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
            return peft.get_peft_model(model, peft.LoraConfig(**config))
    except (ValueError, TypeError, RuntimeError) as exc:
        raise TrainingError(f"PEFT cannot wrap the model: {first_line(exc)}") from None


def trainable_flags(tensors: list[Any]) -> np.ndarray:
    """Which unique tensors require grad (after PEFT set its flags)."""
    return np.fromiter((bool(t.requires_grad) for t in tensors), dtype=bool, count=len(tensors))


def adapter_writer(model: nn.Module) -> Any:
    """A ``write_weights(folder)`` for :func:`freezegui.core.training.checkpoint.save_checkpoint`:
    the adapter as PEFT saves it (``adapter_config.json``, ``adapter_model.safetensors``, ``README.md``)."""

    def write(folder: Path) -> list[Path]:
        before = set(folder.iterdir())
        try:
            model.save_pretrained(str(folder))  # type: ignore[operator]
        except (ValueError, RuntimeError, TypeError) as exc:
            raise TrainingError(f"PEFT cannot save the adapter: {first_line(exc)}") from None
        return sorted(p for p in folder.iterdir() if p not in before)

    return write


def _refuse_unsupported(rules: RuleSet, report: ApplyReport) -> None:
    if report.lora_conflicts:
        raise TrainingError(report.problems()[-1])
    if rules.schedule or rules.has_scales or rules.method == Method.LR_ZERO:
        raise TrainingError(
            "a run with LoRA adapters trains with method requires_grad, without lr_scale, layer_decay "
            "or a schedule (not supported together yet): remove them from the rule file"
        )
