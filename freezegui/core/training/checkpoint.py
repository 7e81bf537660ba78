"""Saving a fine-tuned model: ``model.safetensors`` with the rule file (and the report) beside it.

Every file is written through :mod:`freezegui.core.atomic`. The weights file is replaced last, after
the rule file and report were written, so a failure leaves no new weights without their rules and
never a half-written file.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from freezegui.core import standard_json
from freezegui.core.atomic import atomic_open, atomic_write_text
from freezegui.core.errors import TrainingError
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.training.report import TrainingReport

WEIGHTS_NAME = "model.safetensors"
RULES_NAME = "rules.yaml"
REPORT_NAME = "training_report.json"


def state_dict_for_safetensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """CPU, contiguous tensors; tied tensors (GPT-2's wte/lm_head) stored under each name, so the file
    loads with a strict ``load_state_dict`` (safetensors refuses shared storage)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, int]] = set()
    for name, t in model.state_dict().items():
        if t.is_meta:
            raise TrainingError("the model has no weights (structure-only); nothing to save")
        t = t.detach().to("cpu").contiguous()
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes()) if t.numel() else (0, id(t))
        if key in seen:
            t = t.clone()
        seen.add(key)
        out[name] = t
    return out


def save_checkpoint(
    model: nn.Module,
    rules: RuleSet,
    directory: str | os.PathLike[str],
    *,
    report: TrainingReport | None = None,
) -> list[Path]:
    """Write ``directory/model.safetensors``, ``rules.yaml`` and (with a report) ``training_report.json``."""
    from safetensors.torch import save

    folder = Path(directory)
    if folder.exists() and not folder.is_dir():
        raise TrainingError(f"{folder} exists and is not a folder")
    tensors = state_dict_for_safetensors(model)
    metadata = {"format": "pt", "producer": "freezegui"}
    if rules.model.spec:
        metadata["spec"] = str(rules.model.spec)
    try:
        data = save(tensors, metadata=metadata)
    except (ValueError, RuntimeError) as exc:
        raise TrainingError(f"cannot serialise the weights: {exc}") from None
    weights, rules_path, report_path = folder / WEIGHTS_NAME, folder / RULES_NAME, folder / REPORT_NAME
    paths = [weights, rules_path]
    try:
        with atomic_open(weights, "wb") as fh:
            fh.write(data)
            rules.save(rules_path)
            if report is not None:
                atomic_write_text(report_path, standard_json.dumps(report.as_dict()) + "\n")
                paths.append(report_path)
    except OSError as exc:
        raise TrainingError(f"cannot save to {folder}: {exc}") from None
    return paths
