"""The cost planner: the meta step against the same measurement on the real CPU model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import freezegui
from freezegui.core.plan import KEYS, PlanError, plan
from freezegui.core.plan.measure import StepCost, measure_step
from freezegui.core.training.config import TrainingConfig
from tests.plan_models import ARCHS, Arch, loader_batch

BATCH = 2


def real_step(model: nn.Module, rules: dict, batch_size: int = BATCH, **size: int) -> StepCost:
    """The same hooks and FLOP counter on the real CPU model, frozen by the same rules, fed a batch
    as a ``DataLoader`` gives it."""
    freezegui.apply_rules(model, rules)
    spec, batch = loader_batch(model, batch_size, **size)
    model.train()
    return measure_step(model, lambda: spec.loss(model, batch))


@pytest.mark.parametrize("selection", ["full", "head", "last_two"])
@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: a.name)
def test_meta_plan_equals_real_cpu_step(arch: Arch, selection: str) -> None:
    model = arch.make()
    rules = arch.rules(selection)
    p = plan(model, rules, batch_size=BATCH, **arch.size)
    assert p.step_ran, p.message
    assert all(not t.is_meta for t in model.parameters())  # the real model was not touched
    real = real_step(model, rules, **arch.size)
    assert real.activations_bytes > 0 and real.step_flops > 0
    assert math.isclose(p.activations_bytes, real.activations_bytes, rel_tol=0.01)
    assert math.isclose(p.step_flops, real.step_flops, rel_tol=0.01)
    assert math.isclose(p.forward_flops, real.forward_flops, rel_tol=0.01)


@pytest.mark.parametrize("name", ["resnet18", "bert"])
def test_partial_selection_far_below_full(name: str) -> None:
    arch = next(a for a in ARCHS if a.name == name)
    p = plan(
        arch.make(), arch.rules("head" if name == "resnet18" else "last_two"), batch_size=BATCH, **arch.size
    )
    full = p.full_finetune
    assert full is not None
    assert p.activations_bytes < 0.35 * full.activations_bytes
    assert p.step_flops < 0.6 * full.step_flops
    assert p.gradients_bytes < 0.35 * full.gradients_bytes


def test_state_bytes_exact_and_tied_once(tied: nn.Module) -> None:
    p = plan(tied, {"default": "freeze", "rules": [{"train": "head"}]}, batch_size=2, seq_len=4)
    unique = {id(t): t for t in tied.parameters()}
    assert p.weights_bytes == sum(t.numel() * 4 for t in unique.values())
    assert p.gradients_bytes == tied.embed.weight.numel() * 4  # head.weight is embed.weight: once
    assert p.optimizer_bytes == 2 * p.gradients_bytes
    sgd = plan(tied, {"default": "train"}, batch_size=2, seq_len=4, optimizer="sgd")
    assert sgd.optimizer_bytes == 0


def test_lr_zero_costs_as_full_finetuning(resnet18_10: nn.Module) -> None:
    rules = {"default": "freeze", "method": "lr_zero", "rules": [{"train": "fc"}]}
    p = plan(resnet18_10, rules, batch_size=2, image_size=32)
    full = p.full_finetune
    assert full is not None
    for key in ("gradients_bytes", "optimizer_bytes", "activations_bytes", "step_flops"):
        assert getattr(p, key) == getattr(full, key) > 0
    assert p.counts.trainable == 5130


def test_dtype_amp_and_fsdp(resnet18_10: nn.Module) -> None:
    n = sum(t.numel() for t in resnet18_10.parameters())
    fp32 = plan(resnet18_10, batch_size=2, image_size=32)
    bf16 = plan(resnet18_10, batch_size=2, image_size=32, dtype="bf16")
    assert bf16.weights_bytes == 2 * n and fp32.weights_bytes == 4 * n
    assert bf16.activations_bytes < fp32.activations_bytes
    amp = plan(resnet18_10, batch_size=2, image_size=32, dtype="bf16", amp=True)
    assert amp.optimizer_bytes == 2 * 4 * n + 4 * n  # fp32 moments + fp32 master copy
    fsdp = plan(resnet18_10, batch_size=2, image_size=32, gpus=4, shard="fsdp")
    assert fsdp.per_rank.weights_bytes == math.ceil(4 * n / 4)
    assert fsdp.per_rank.activations_bytes == fp32.activations_bytes
    assert fsdp.activations_bytes == 4 * fp32.activations_bytes
    assert set(fsdp.as_dict()["per_rank"]) == set(KEYS)


def test_gradient_checkpointing_keeps_block_inputs_only() -> None:
    arch = next(a for a in ARCHS if a.name == "llama")
    model = arch.make()
    plain = plan(model, batch_size=2, seq_len=32)
    ckpt = plan(model, batch_size=2, seq_len=32, gradient_checkpointing=True)
    assert 0 < ckpt.activations_bytes < 0.5 * plain.activations_bytes
    assert not any(getattr(m, "gradient_checkpointing", False) for m in model.modules())  # only the copy
    with pytest.raises(Exception, match="gradient checkpointing") as info:
        raise_if_not_ran(plan(nn.Sequential(nn.Linear(4, 2)), batch_size=2, gradient_checkpointing=True))
    assert "Traceback" not in str(info.value)


def raise_if_not_ran(p: freezegui.Plan) -> None:
    if not p.step_ran:
        raise RuntimeError(p.message)


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return y if bool(y.sum() > 0) else -y  # needs a value: cannot run on meta


def test_forward_not_runnable_on_meta_gives_state_and_message() -> None:
    p = plan(DataDependent(), batch_size=2)
    assert not p.step_ran
    assert "meta" in p.message and "\n" not in p.message
    assert p.weights_bytes == 15 * 4 and p.gradients_bytes == 15 * 4
    assert p.activations_bytes == 0
    assert p.peak_bytes == p.cost.state_bytes + p.optimizer_bytes // 2  # + AdamW's step temporary (a moment)


def test_structure_only_model_and_selection_array() -> None:
    arch = next(a for a in ARCHS if a.name == "llama")
    with torch.device("meta"):
        model = arch.make()
    tree = freezegui.build_tree(model)
    mask = np.zeros(len(tree.tensors), dtype=bool)
    mask[-1] = True
    p = plan(model, selection=mask, batch_size=1, seq_len=8)
    assert p.step_ran and p.counts.trainable == tree.tensors[-1].numel()
    assert p.step_flops < p.full_finetune.step_flops


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch size"),
        ({"dtype": "fp8"}, "dtype"),
        ({"optimizer": "lion"}, "optimizer"),
        ({"shard": "zero3"}, "shard"),
        ({"gpus": 0}, "gpus"),
    ],
)
def test_bad_options_are_clear_errors(mlp: nn.Module, kwargs: dict, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan(mlp, **kwargs)


def test_compare_methods_prints_the_plan_beside_the_measurement(convnet: nn.Module) -> None:
    from freezegui.core.training import compare_methods, format_comparison

    cfg = TrainingConfig(steps=2, batch_size=2, image_size=16, device="cpu")
    rules = {"default": "freeze", "rules": [{"train": "fc"}]}
    rows = {r.name: r for r in compare_methods(convnet, cfg, rules=rules)}
    assert rows["full"].plan.ratio("step_flops") == 1.0
    assert rows["requires_grad"].plan.ratio("step_flops") < 1.0
    assert rows["lr_zero"].plan.ratio("step_flops") == 1.0  # method 2 computes everything
    assert rows["requires_grad"].as_dict()["plan_peak_bytes"] == rows["requires_grad"].plan.peak_bytes
    assert "plan vs full" in format_comparison(list(rows.values()))
