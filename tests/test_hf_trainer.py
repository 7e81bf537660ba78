"""The Hugging Face Trainer example: rules applied before the Trainer, 2 steps on a tiny Llama, offline."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("accelerate", reason="transformers' Trainer needs accelerate")

ROOT = Path(__file__).resolve().parents[1]


def _example():
    spec = importlib.util.spec_from_file_location(
        "hf_trainer_finetune", ROOT / "examples" / "hf_trainer_finetune.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("method", ["requires_grad", "lr_zero"])
def test_trainer_trains_only_the_selection(tmp_path: Path, method: str) -> None:
    example = _example()
    rules = tmp_path / "rules.yaml"
    rules.write_text(example.DEFAULT_RULES.replace("default: freeze", f"default: freeze\nmethod: {method}"))
    torch.manual_seed(0)
    before = {n: p.detach().clone() for n, p in example.tiny_llama().named_parameters()}

    trainer = example.main(["--rules", str(rules), "--steps", "2", "--output-dir", str(tmp_path / "out")])

    assert trainer.state.global_step == 2
    model = trainer.model
    trainable = {n for n in before if n.startswith(("model.layers.1.", "lm_head."))}
    assert trainable and len(trainable) < len(before)
    params = dict(model.named_parameters())
    for name, old in before.items():
        new = params[name].detach()
        if name in trainable:
            assert params[name].requires_grad
        else:
            assert torch.equal(new, old), f"frozen {name} changed"
            assert params[name].requires_grad == (method == "lr_zero")
    assert any(not torch.equal(params[n].detach(), before[n]) for n in trainable), "nothing trained"

    # The optimizer holds exactly the trainable tensors (method 1), or them plus an lr-0 group (method 2).
    groups = trainer.optimizer.param_groups
    # The scheduler has decayed "lr" by now; "initial_lr" is what each group started with.
    ids_by_lr = {id(p): g.get("initial_lr", g["lr"]) for g in groups for p in g["params"]}
    trainable_ids = {id(params[n]) for n in trainable}
    if method == "requires_grad":
        assert set(ids_by_lr) == trainable_ids
    else:
        assert {i for i, lr in ids_by_lr.items() if lr > 0} == trainable_ids
        assert set(ids_by_lr) == {id(p) for p in model.parameters()}
    assert not any((tmp_path / "out").glob("checkpoint-*"))  # nothing saved, nothing uploaded
