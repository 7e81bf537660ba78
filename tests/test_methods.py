"""Method 2 (lr 0 param groups) keeps frozen weights bit-identical; frozen BatchNorm keeps its stats."""

from __future__ import annotations

import torch

import freezegui
from freezegui.core.rules.ruleset import RuleSet
from tests import models

HEAD_ONLY = RuleSet.loads("default: freeze\nmethod: lr_zero\nrules:\n  - train: fc\n")


def test_lr_zero_adamw_weight_decay_keeps_frozen_bit_identical() -> None:
    torch.manual_seed(0)
    model = models.SmallConvNet()
    report = freezegui.apply_rules(model, HEAD_ONLY)
    assert all(p.requires_grad for p in model.parameters())  # method 2 leaves requires_grad on
    groups = freezegui.param_groups(model, HEAD_ONLY, lr=1e-2, weight_decay=0.1)
    assert {g["name"]: (g["lr"], g["weight_decay"]) for g in groups} == {
        "trainable": (1e-2, 0.1),
        "frozen": (0.0, 0.0),
    }
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    models.adamw_steps(model, groups)
    for name, p in model.named_parameters():
        if name.startswith("fc."):
            assert not torch.equal(p, before[name]), name
        else:
            assert torch.equal(p, before[name]), name
            assert p.grad is not None  # method 2 still computes the gradients it then ignores
    assert report.trainable == 8 * 3 + 3


def test_frozen_batchnorm_keeps_running_stats_in_train_mode() -> None:
    model = models.SmallConvNet()
    report = freezegui.apply_rules(model, RuleSet.loads("default: freeze\nrules:\n  - train: fc\n"))
    assert report.frozen_norm_layers == ["features.1", "features.4"]
    stats = {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}
    model.train()
    for _ in range(3):
        model(torch.randn(4, 3, 8, 8) * 5 + 2)
    for k, v in model.state_dict().items():
        if k in stats:
            assert torch.equal(v, stats[k]), k
    assert model.training and model.fc.training  # the rest of the model still trains


def test_update_stats_policy_and_trainable_bn_keep_updating() -> None:
    model = models.SmallConvNet()
    freezegui.apply_rules(
        model, RuleSet.loads("default: freeze\nbatchnorm: update_stats\nrules:\n  - train: fc\n")
    )
    before = model.features[1].running_mean.clone()
    model.train()
    model(torch.randn(4, 3, 8, 8) + 3)
    assert not torch.equal(before, model.features[1].running_mean)


def test_reapplying_releases_bn_that_became_trainable() -> None:
    model = models.SmallConvNet()
    freezegui.apply_rules(model, RuleSet.loads("default: freeze\nrules: [{train: fc}]"))
    freezegui.apply_rules(model, RuleSet.loads("default: train"))
    before = model.features[1].running_mean.clone()
    model.train()
    model(torch.randn(4, 3, 8, 8) + 3)
    assert not torch.equal(before, model.features[1].running_mean)


def test_resnet18_frozen_bn_stats(resnet18_10) -> None:
    freezegui.apply_rules(resnet18_10, RuleSet.loads("default: freeze\nrules: [{train: fc}]"))
    buffers = {n: b.clone() for n, b in resnet18_10.named_buffers()}
    resnet18_10.train()
    with torch.no_grad():
        resnet18_10(torch.randn(2, 3, 32, 32))
    assert all(torch.equal(b, buffers[n]) for n, b in resnet18_10.named_buffers())
