"""Per-layer learning rates: layer ids as timm/BEiT give them, lr_scale rules, and the param groups."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import freezegui
from freezegui.core.errors import RuleError
from freezegui.core.lr.evaluate import evaluate_scales
from freezegui.core.lr.scales import layer_decay_preview, layer_ids
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.training.proof import same_bits
from tests import models

DECAY_09 = RuleSet.loads("layer_decay: 0.9\nrules: []\n")


def _scale_by_name(model: torch.nn.Module, rules: RuleSet) -> dict[str, float]:
    tree = freezegui.build_tree(model)
    _, scales = evaluate_scales(tree, rules)
    return {tree.primary_name(j): float(scales[j]) for j in range(len(scales))}


def test_bert_base_layer_decay_per_tensor() -> None:
    from transformers import BertConfig, BertForSequenceClassification

    with torch.device("meta"):
        model = BertForSequenceClassification(BertConfig())
    scales = _scale_by_name(model, DECAY_09)
    assert len(scales) == len(list(model.parameters()))
    for name, scale in scales.items():
        if name.startswith("bert.embeddings."):
            want = 0.9**13
        elif name.startswith("bert.encoder.layer."):
            want = 0.9 ** (12 - int(name.split(".")[3]))
        else:
            assert name.startswith(("bert.pooler.", "classifier.")), name
            want = 1.0
        assert scale == pytest.approx(want, rel=1e-12), name


def _bert_base_scale(name: str) -> float:
    """The issue's formula for BERT-base at 0.9, from the name alone."""
    if name.startswith("bert.embeddings."):
        return 0.9**13
    if name.startswith("bert.encoder.layer."):
        return 0.9 ** (12 - int(name.split(".")[3]))
    assert name.startswith(("bert.pooler.", "classifier.")), name
    return 1.0


@pytest.mark.slow
def test_bert_base_groups_train_each_tensor_at_its_rate() -> None:
    """Real BERT-base: AdamW fed the groups moves every tensor by lr x its scale in its first step."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig())
    lr = 1e-3
    groups = freezegui.param_groups(model, DECAY_09, lr=lr, weight_decay=0.0)
    assert len(groups) == 14 and all(g["lr"] == pytest.approx(lr * g["lr_scale"]) for g in groups)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW(groups, eps=1e-12)
    model(input_ids=torch.randint(0, 1000, (2, 8)), labels=torch.tensor([0, 1])).loss.backward()
    opt.step()
    still = []
    for name, p in model.named_parameters():
        if p.grad is None or not (p.grad.abs() > 1e-9).any():
            still.append(name)
            continue
        top = (p.detach() - before[name]).abs().max().item()
        assert top == pytest.approx(lr * _bert_base_scale(name), rel=1e-3), name
    # A key bias shifts every attention logit of a query equally: softmax cancels it, no gradient.
    assert still == [f"bert.encoder.layer.{i}.attention.self.key.bias" for i in range(12)]


def test_bert_groups_train_at_their_rates_with_adamw() -> None:
    """A small BERT: AdamW fed the groups moves each tensor by its group's lr (first Adam step ~ lr)."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50, hidden_size=8, num_hidden_layers=3, num_attention_heads=2, intermediate_size=16
    )
    model = BertForSequenceClassification(config)
    lr = 1e-3
    groups = freezegui.param_groups(model, DECAY_09, lr=lr, weight_decay=0.0)
    tree = freezegui.build_tree(model)
    _, scales = evaluate_scales(tree, DECAY_09)
    want = {id(t): lr * s for t, s in zip(tree.tensors, scales.tolist())}
    for g in groups:
        assert g["lr"] == pytest.approx(lr * g["lr_scale"])
        assert all(want[id(p)] == pytest.approx(g["lr"]) for p in g["params"])
    assert sorted({round(g["lr_scale"], 12) for g in groups}) == sorted({round(0.9**k, 12) for k in range(5)})
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW(groups, eps=1e-12)
    ids = torch.randint(0, 50, (4, 6))
    out = model(input_ids=ids, labels=torch.tensor([0, 1, 0, 1]))
    out.loss.backward()
    opt.step()
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    for name, p in model.named_parameters():
        moved = (p.detach() - before[name]).abs()
        has_grad = p.grad is not None and (p.grad.abs() > 1e-6).any()
        if has_grad:  # Adam's first step moves each element with a gradient by lr (eps tiny)
            top = moved.max().item()
            assert top == pytest.approx(rate[id(p)], rel=1e-3), name


def test_torchvision_vit_layer_ids() -> None:
    from torchvision.models.vision_transformer import VisionTransformer

    model = VisionTransformer(
        image_size=32, patch_size=16, num_layers=3, num_heads=2, hidden_dim=8, mlp_dim=16
    )
    tree = freezegui.build_tree(model)
    ids = layer_ids(tree)
    assert ids.max_id == 4 and ids.source == "encoder.layers"
    for j in range(len(tree.params)):
        name = tree.primary_name(j)
        if name.startswith("encoder.layers.encoder_layer_"):
            want = int(name.split(".")[2].rsplit("_", 1)[1]) + 1
        elif name in ("class_token", "encoder.pos_embedding") or name.startswith("conv_proj."):
            want = 0
        else:
            assert name.startswith(("encoder.ln.", "heads.")), name
            want = 4
        assert ids.ids[j] == want, name
    scales = _scale_by_name(model, DECAY_09)
    assert scales["class_token"] == pytest.approx(0.9**4) and scales["heads.head.weight"] == 1.0


def test_group_matcher_model_ids_and_merge_marker() -> None:
    model = models.GroupedViT(depth=3)
    tree = freezegui.build_tree(model)
    ids = layer_ids(tree)
    got = {tree.primary_name(j): int(ids.ids[j]) for j in range(len(tree.params))}
    assert ids.source == "group_matcher" and ids.max_id == 4
    assert got["cls_token"] == got["patch_embed.weight"] == 0
    assert [got[f"blocks.{i}.1.weight"] for i in range(3)] == [1, 2, 3]
    assert got["norm.weight"] == 3  # merged into the last block's group
    assert got["head.weight"] == 4  # unmatched: the last group
    # The same ids as timm's own grouping code.
    from timm.models import group_parameters

    timm_ids = group_parameters(model, model.group_matcher(coarse=False), reverse=True)
    assert got == timm_ids


@pytest.mark.parametrize("model_fn", [models.GroupedViT, "vit_tiny"])
def test_layer_decay_scales_equal_timms(model_fn: object) -> None:
    """Per-tensor scales equal timm's param_groups_layer_decay lr_scale (a real timm ViT too)."""
    from timm.optim import param_groups_layer_decay

    if model_fn == "vit_tiny":
        import timm

        with torch.device("meta"):
            model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=3, depth=2)
    else:
        model = model_fn()  # type: ignore[operator]
    ours = _scale_by_name(model, RuleSet.loads("layer_decay: 0.75\n"))
    theirs = {}
    for g in param_groups_layer_decay(model, layer_decay=0.75):
        by_id = {id(p): n for n, p in model.named_parameters()}
        theirs.update({by_id[id(p)]: g["lr_scale"] for p in g["params"]})
    assert theirs.keys() == ours.keys()
    assert all(math.isclose(ours[n], theirs[n], rel_tol=1e-12) for n in ours)


def test_layer_decay_without_blocks_is_a_clear_error() -> None:
    with pytest.raises(RuleError, match="layer_decay needs a model with a repeated block list"):
        freezegui.param_groups(models.MLP(), DECAY_09, lr=1e-3)


def test_explicit_lr_scale_wins_over_layer_decay_and_last_rule_wins() -> None:
    rules = RuleSet.loads(
        "layer_decay: 0.5\nrules:\n  - train: blocks.0\n    lr_scale: 3\n  - train: blocks.0.1.bias\n"
        "  - freeze: head.bias\n"
    )
    scales = _scale_by_name(models.GroupedViT(depth=3), rules)
    assert scales["blocks.0.1.weight"] == 3.0
    assert scales["blocks.0.1.bias"] == 0.5**3  # a later train rule without lr_scale: back to the decay
    assert scales["blocks.1.1.weight"] == 0.5**2
    assert scales["head.bias"] == 0.0 and scales["head.weight"] == 1.0


def test_preview_lists_each_group_once() -> None:
    preview = layer_decay_preview(models.GroupedViT(depth=2), 0.5)
    assert preview == [
        ("cls_token, patch_embed", 0.125),
        ("blocks.0", 0.25),
        ("blocks.1, norm", 0.5),
        ("head", 1.0),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules:\n  - freeze: fc1\n    lr_scale: 2\n", "`lr_scale` goes with `train:` rules only"),
        ("rules:\n  - train: fc1\n    lr_scale: 0\n", "`lr_scale` must be a number with lr_scale > 0"),
        ("rules:\n  - train: fc1\n    lr_scale: .inf\n", "lr_scale > 0"),
        ("rules:\n  - lr_scale: 2\n", "`lr_scale` needs a `train: PATTERN` beside it"),
        ("layer_decay: 1.5\n", "0 < layer_decay <= 1"),
        ("layer_decay: true\n", "0 < layer_decay <= 1"),
        ("schedule:\n  - at: {step: 5}\n", "needs both `at:` and `rules:`"),
        ("schedule:\n  - at: {minute: 5}\n    rules: [{train: fc1}]\n", "takes `step` or `epoch`"),
        ("schedule:\n  - at: {step: -1}\n    rules: [{train: fc1}]\n", "whole number N >= 0"),
        (
            "schedule:\n  - at: {step: 5}\n    rules: [{train: fc1}]\n  - at: {step: 5}\n    rules: [{train: fc2}]\n",
            "must come after step 5",
        ),
        ("schedule:\n  - at: {step: 5}\n    rules: []\n", "at least one rule"),
    ],
)
def test_bad_new_keys_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(RuleError, match=message) as info:
        RuleSet.loads(text, source="r.yaml")
    assert str(info.value).startswith("r.yaml:") and "\n" not in str(info.value)


def test_lr_zero_with_scales_keeps_frozen_bit_identical_under_weight_decay() -> None:
    torch.manual_seed(0)
    model = models.SmallConvNet()
    rules = RuleSet.loads(
        "default: freeze\nmethod: lr_zero\nrules:\n  - train: fc\n    lr_scale: 0.5\n"
        "  - train: features.3\n    lr_scale: 2\n"
    )
    freezegui.apply_rules(model, rules)
    groups = freezegui.param_groups(model, rules, lr=1e-2, weight_decay=0.1, no_decay="bias_and_norm")
    lrs = {g["name"]: (g["lr"], g["weight_decay"]) for g in groups}
    assert lrs == {
        "frozen": (0.0, 0.0),
        "lr_scale 2": (2e-2, 0.1),
        "lr_scale 2 no_decay": (2e-2, 0.0),
        "lr_scale 0.5": (5e-3, 0.1),
        "lr_scale 0.5 no_decay": (5e-3, 0.0),
    }
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    models.adamw_steps(model, groups)
    for name, p in model.named_parameters():
        if name.startswith(("fc.", "features.3.")):
            assert not torch.equal(p, before[name]), name
        else:
            assert same_bits(p, before[name]), name


def test_rules_from_model_writes_scales_from_an_optimizer() -> None:
    model = models.GroupedViT(depth=3)
    rules = RuleSet.loads("layer_decay: 0.5\nrules:\n  - freeze: blocks.0\n")
    freezegui.apply_rules(model, rules)
    opt = torch.optim.AdamW(freezegui.param_groups(model, rules, lr=1e-3))
    written = freezegui.rules_from_model(model, optimizer=opt)
    tree = freezegui.build_tree(model)
    np.testing.assert_array_equal(evaluate_scales(tree, written)[1], evaluate_scales(tree, rules)[1])
    assert written.layer_decay is None and any(r.lr_scale for r in written.rules)
    again = RuleSet.loads(written.dumps())
    np.testing.assert_array_equal(evaluate_scales(tree, again)[1], evaluate_scales(tree, rules)[1])
    by_name = freezegui.rules_from_model(model, scales={"head.weight": 4.0})
    assert [str(r) for r in by_name.rules] == ["freeze: blocks.0", "train: head.weight (lr_scale 4)"]


def _lr_by_name(model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict[str, float]:
    by_id = {id(p): n for n, p in model.named_parameters()}
    return {by_id[id(p)]: float(g["lr"]) for g in opt.param_groups for p in g["params"]}


def test_timm_schedulers_read_lr_scale_from_the_timm_scheduler_groups() -> None:
    """timm's scheduler sets lr = its value x lr_scale: with timm_scheduler=True our groups get the same
    per-tensor rates as timm's own param_groups_layer_decay groups, epoch by epoch; the default groups
    (lr already x scale, for torch schedulers) would be scaled twice, so Schedule refuses them."""
    from timm.optim import param_groups_layer_decay
    from timm.scheduler import CosineLRScheduler

    model = models.GroupedViT(depth=3)
    rules = RuleSet.loads("layer_decay: 0.75\n")
    ours = torch.optim.AdamW(freezegui.param_groups(model, rules, lr=0.1, timm_scheduler=True))
    theirs = torch.optim.AdamW(param_groups_layer_decay(model, weight_decay=0.0, layer_decay=0.75), lr=0.1)
    sched_ours, sched_theirs = CosineLRScheduler(ours, t_initial=10), CosineLRScheduler(theirs, t_initial=10)
    for epoch in range(4):
        sched_ours.step(epoch)
        sched_theirs.step(epoch)
        got, want = _lr_by_name(model, ours), _lr_by_name(model, theirs)
        assert got.keys() == want.keys() and all(math.isclose(got[n], want[n], rel_tol=1e-12) for n in got)
    assert len({round(v, 12) for v in got.values()}) == 5  # five depths, five rates
    plain = torch.optim.AdamW(freezegui.param_groups(model, rules, lr=0.1))
    with pytest.raises(RuleError, match=r"timm_scheduler=True"):
        freezegui.Schedule(model, rules, plain, lr_scheduler=CosineLRScheduler(plain, t_initial=10))


def test_a_stage_under_a_timm_scheduler_trains_at_the_schedulers_rate_times_its_scale() -> None:
    from timm.scheduler import CosineLRScheduler

    model = models.GroupedViT(depth=2)
    rules = RuleSet.loads(
        "default: freeze\nmethod: lr_zero\nrules:\n  - train: head\nschedule:\n  - at: {epoch: 2}\n"
        "    rules: [{train: blocks.1, lr_scale: 0.5}]\n"
    )
    freezegui.apply_rules(model, rules)
    opt = torch.optim.AdamW(freezegui.param_groups(model, rules, lr=0.1, timm_scheduler=True))
    sched = CosineLRScheduler(opt, t_initial=10)
    schedule = freezegui.Schedule(model, rules, opt, lr_scheduler=sched)
    ref = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    ref_sched = CosineLRScheduler(ref, t_initial=10)  # timm's rate for an unscaled group
    assert schedule.base_lr == 0.1
    for epoch in range(4):
        sched.step(epoch)
        ref_sched.step(epoch)
        schedule.step(epoch * 5, epoch)
        value = ref.param_groups[0]["lr"]
        assert 0 < value < 0.1 or epoch == 0
        lrs = _lr_by_name(model, opt)
        assert lrs["head.weight"] == pytest.approx(value)
        assert lrs["blocks.1.1.weight"] == (pytest.approx(0.5 * value) if epoch >= 2 else 0.0)
        assert lrs["blocks.0.1.weight"] == 0.0


def test_groups_are_stable_named_and_survive_a_checkpoint_resume() -> None:
    """The same rules give the same named groups in the same order on a fresh model; a stage changes
    only lr / lr_scale / weight_decay, so an optimizer state saved after it loads into a fresh build."""
    import copy

    rules = RuleSet.loads(
        "default: freeze\nmethod: lr_zero\nrules:\n  - train: fc\n    lr_scale: 0.5\nschedule:\n"
        "  - at: {step: 1}\n    rules: [{train: features.3}]\n"
    )
    torch.manual_seed(0)
    model = models.SmallConvNet()
    fresh = copy.deepcopy(model)

    def layout(m: torch.nn.Module, opt: torch.optim.Optimizer) -> list[tuple[str, list[str]]]:
        by_id = {id(p): n for n, p in m.named_parameters()}
        return [(g["name"], [by_id[id(p)] for p in g["params"]]) for g in opt.param_groups]

    opt = torch.optim.AdamW(freezegui.param_groups(model, rules, lr=1e-2, no_decay="bias_and_norm"))
    start = layout(model, opt)
    schedule = freezegui.Schedule(model, rules, opt, no_decay="bias_and_norm")
    for step in range(3):
        schedule.step(step)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 8, 8)), torch.tensor([0, 1])).backward()
        opt.step()
    assert layout(model, opt) == start  # members never move between groups
    again = torch.optim.AdamW(freezegui.param_groups(fresh, rules, lr=1e-2, no_decay="bias_and_norm"))
    assert layout(fresh, again) == start
    again.load_state_dict(opt.state_dict())  # a resume: same groups, same sizes
    resumed = freezegui.Schedule(fresh, rules, again, lr=1e-2, no_decay="bias_and_norm")
    assert resumed.step(3) and [g["lr"] for g in again.param_groups] == [g["lr"] for g in opt.param_groups]
    decays = {n: g["weight_decay"] for g in opt.param_groups for n in [g["name"]]}
    no_decay_members = {m for name, members in start if name.endswith("no_decay") for m in members}
    assert no_decay_members == {"fc.bias", "features.3.bias"}  # biases of the tensors that train
    assert all(v == 0.0 for k, v in decays.items() if k.endswith("no_decay") or k == "frozen")


def test_no_decay_exempts_biases_and_norm_layers() -> None:
    model = models.SmallConvNet()
    groups = freezegui.param_groups(
        model, RuleSet(default="train"), lr=1e-3, weight_decay=0.1, no_decay="bias_and_norm"
    )
    by_id = {id(p): n for n, p in model.named_parameters()}
    exempt = {by_id[id(p)] for g in groups if g["weight_decay"] == 0.0 for p in g["params"]}
    assert exempt == {"features.0.bias", "features.1.weight", "features.1.bias", "features.3.bias",
                      "features.4.weight", "features.4.bias", "fc.bias"}  # fmt: skip
    assert {g["weight_decay"] for g in groups} == {0.0, 0.1}
