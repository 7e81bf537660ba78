"""Gradual unfreezing with an optimizer built once: frozen until the stage, exact-zero AdamW state."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

import freezegui
from freezegui.core.editing.selection import MIXED, Selection
from freezegui.core.errors import FreezeguiWarning, RuleError
from freezegui.core.lr.evaluate import stage_problems
from freezegui.core.lr.scales import apply_layer_decay
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.runtime.schedule import Schedule
from freezegui.core.training.proof import same_bits
from tests import models

GRADUAL = """\
default: freeze
method: {method}
rules:
  - train: fc
schedule:
  - at: {{step: 10}}
    rules:
      - train: layer4
"""


def _zero_state(opt: torch.optim.Optimizer, p: torch.Tensor) -> bool:
    """No state, or only exact zeros (moments and step count)."""
    state = opt.state.get(p, {})
    return all(not torch.is_tensor(v) or not v.any() for v in state.values())


@pytest.mark.parametrize("method", ["lr_zero", "requires_grad"])
def test_resnet18_gradual_unfreezing(method: str) -> None:
    from torchvision.models import resnet18

    torch.manual_seed(0)
    model = resnet18(num_classes=4)
    rules = RuleSet.loads(GRADUAL.format(method=method))
    freezegui.apply_rules(model, rules)
    opt = torch.optim.AdamW(freezegui.param_groups(model, rules, lr=1e-3, weight_decay=0.1))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / 40)
    schedule = Schedule(model, rules, opt, lr_scheduler=sched)
    layer4 = {n: p for n, p in model.named_parameters() if n.startswith("layer4.")}
    others = {n: p for n, p in model.named_parameters() if not n.startswith(("layer4.", "fc."))}
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    x, y = torch.randn(2, 3, 16, 16), torch.randint(0, 4, (2,))
    at_10: dict[str, torch.Tensor] = {}
    model.train()
    for step in range(12):
        changes = schedule.step(step)
        if step == 10:
            assert [c.index for c in changes] == [1]
            assert {n for n, p in model.named_parameters() if p.requires_grad} >= set(layer4)
            at_10 = {n: p.detach().clone() for n, p in layer4.items()}
            for n, p in layer4.items():  # bit-identical up to step 10, no optimizer state at all
                assert same_bits(p, start[n]), n
                assert _zero_state(opt, p), n
        else:
            assert changes == []
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()
    assert at_10
    assert [n for n, p in layer4.items() if torch.equal(p, at_10[n])] == []  # every layer4 tensor moved
    assert all(same_bits(p, start[n]) for n, p in others.items())
    groups = {g["name"]: g for g in opt.param_groups}
    late = groups["stages 0 > 1"]
    assert late["lr_scale"] == 1.0 and late["weight_decay"] == 0.1
    assert late["lr"] == pytest.approx(1e-3 * (1 - 12 / 40))  # the scheduler's factor, from the stage on
    assert sched.base_lrs[opt.param_groups.index(late)] == pytest.approx(1e-3)
    assert groups["frozen"]["lr"] == 0.0


def test_adamw_at_lr_zero_moves_its_moments_without_the_schedule() -> None:
    """Why the schedule drops frozen gradients: AdamW at lr 0 still builds state when gradients flow."""
    model = models.MLP()
    rules = RuleSet.loads(
        "default: freeze\nmethod: lr_zero\nrules:\n  - train: fc2\nschedule:\n  - at: {step: 3}\n"
        "    rules: [{train: fc1}]\n"
    )
    freezegui.apply_rules(model, rules)
    plain = torch.optim.AdamW(freezegui.param_groups(model, rules, lr=1e-2))
    model(torch.randn(2, 8)).sum().backward()
    plain.step()
    assert not _zero_state(plain, model.fc1.weight)
    managed = torch.optim.AdamW(freezegui.param_groups(model, rules, lr=1e-2))
    Schedule(model, rules, managed)
    model.zero_grad()
    model(torch.randn(2, 8)).sum().backward()
    managed.step()
    assert _zero_state(managed, model.fc1.weight) and not _zero_state(managed, model.fc2.weight)


def test_epoch_stages_and_stage_problems() -> None:
    model = models.MLP()
    rules = RuleSet.loads(
        "default: freeze\nrules:\n  - train: fc2\nschedule:\n  - at: {epoch: 1}\n    rules:\n"
        "      - train: fc1\n        lr_scale: 0.1\n  - at: {step: 2}\n    rules: [{freeze: fc2}]\n"
    )
    freezegui.apply_rules(model, rules)
    opt = torch.optim.SGD(freezegui.param_groups(model, rules, lr=1.0), lr=1.0)
    schedule = Schedule(model, rules, opt)
    assert schedule.step(5, epoch=0) == []  # stages apply in file order: the epoch stage first
    (first, second) = schedule.step(6, epoch=1)
    assert first.unfrozen.sum() == 2 and second.frozen.sum() == 2
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs == {"stages 0 > 0.1 > 0.1": pytest.approx(0.1), "stages 1 > 1 > 0": 0.0}
    assert not model.fc2.weight.requires_grad and model.fc1.weight.requires_grad
    bad = RuleSet.loads("rules: []\nschedule:\n  - at: {step: 1}\n    rules: [{train: fc}]\n")
    tree = freezegui.build_tree(model)
    assert stage_problems(tree, bad) == [
        "stage 1 (at step 1): rule `train: fc` (line 4) matches no parameter"
    ]
    with pytest.raises(RuleError, match="matches no parameter"):
        Schedule(model, bad, opt)


def test_schedule_needs_the_param_groups() -> None:
    model = models.MLP()
    rules = RuleSet.loads("rules: []\nschedule:\n  - at: {step: 1}\n    rules: [{freeze: fc1}]\n")
    with pytest.raises(RuleError, match=r"build it from freezegui\.param_groups"):
        Schedule(model, rules, torch.optim.AdamW(model.parameters()))


def test_selection_scales_are_undoable_and_export_exactly() -> None:
    model = models.GroupedViT(depth=2)
    tree = freezegui.build_tree(model)
    sel = Selection(tree)
    assert apply_layer_decay(sel, 0.5)
    block0 = tree.node("blocks.0")
    assert sel.lr_scale_of(block0) == 0.25 and sel.lr_scale_of(tree.root) == MIXED
    assert sel.set_lr_scale(block0, 2.0) and sel.undo_label == "LR x2 blocks.0"
    assert sel.lr_scale_of(block0) == 2.0
    sel.set_subtree(tree.node("head"), False)
    assert sel.lr_scale_of(tree.node("head")) is None
    assert sel.lr_scale_of(tree.node("head").params[0]) is None
    rules = sel.to_rules()
    from freezegui.core.lr.evaluate import evaluate_scales

    mask, scales = evaluate_scales(tree, RuleSet.loads(rules.dumps()))
    np.testing.assert_array_equal(mask, sel.trainable)
    np.testing.assert_array_equal(scales, sel.effective_scales())
    sel.undo()  # the freeze
    sel.undo()  # the scale
    assert sel.lr_scale_of(block0) == 0.25
    sel.redo()
    assert sel.lr_scale_of(block0) == 2.0
    with pytest.raises(ValueError):
        sel.set_lr_scale(block0, 0.0)


def test_state_at_each_stage() -> None:
    from freezegui.core.lr.groups import stage_states

    model = models.MLP()
    rules = RuleSet.loads(GRADUAL.replace("fc", "fc2").replace("layer4", "fc1").format(method="lr_zero"))
    tree = freezegui.build_tree(model)
    (m0, s0), (m1, _) = stage_states(tree, rules)
    assert m0.tolist() == [False, False, True, True] and m1.all()
    assert s0.tolist() == [0.0, 0.0, 1.0, 1.0]


# ------------------------------------------------------------------------------------------ DDP
MLP_STAGED = (
    "default: freeze\nmethod: {method}\nrules:\n  - train: fc2\nschedule:\n  - at: {{step: 1}}\n"
    "    rules: [{{train: fc1}}]\n"
)


@pytest.fixture
def one_rank(tmp_path: Path) -> Iterator[None]:
    """A real gloo process group of one rank, so DistributedDataParallel can wrap a CPU model here."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


@pytest.mark.usefixtures("one_rank")
def test_ddp_refuses_a_requires_grad_schedule_and_runs_an_lr_zero_one() -> None:
    from torch.nn.parallel import DistributedDataParallel

    flipping = RuleSet.loads(MLP_STAGED.format(method="requires_grad"), source="r.yaml")
    model = models.MLP()
    freezegui.apply_rules(model, flipping)
    ddp = DistributedDataParallel(model)
    opt = torch.optim.AdamW(freezegui.param_groups(ddp, flipping, lr=1e-2))
    with pytest.raises(
        RuleError, match=r"^r\.yaml: a schedule under DistributedDataParallel needs `method: lr_zero`"
    ):
        Schedule(ddp, flipping, opt)

    rules = RuleSet.loads(MLP_STAGED.format(method="lr_zero"))
    model = models.MLP()
    freezegui.apply_rules(model, rules)
    ddp = DistributedDataParallel(model)  # every tensor requires grad: DDP syncs them all
    opt = torch.optim.AdamW(freezegui.param_groups(ddp, rules, lr=1e-2))  # grouped by the bare names
    schedule = Schedule(ddp, rules, opt)
    fc1 = model.fc1.weight.detach().clone()
    x = torch.randn(4, 8)
    for step in range(3):
        schedule.step(step)
        if step == 1:
            assert same_bits(model.fc1.weight, fc1)  # frozen until its stage, under DDP too
        opt.zero_grad()
        ddp(x).sum().backward()
        opt.step()
    assert not torch.equal(model.fc1.weight, fc1) and schedule.current == 1


def test_several_ranks_warn_about_a_requires_grad_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process group of 2 ranks and a bare model (DDP may wrap it later): a warning, not an error."""
    import freezegui.core.runtime.schedule as schedule_mod

    monkeypatch.setattr(schedule_mod, "_world_size", lambda: 2)
    for method in ("requires_grad", "lr_zero"):
        rules = RuleSet.loads(MLP_STAGED.format(method=method))
        model = models.MLP()
        freezegui.apply_rules(model, rules)
        opt = torch.optim.AdamW(freezegui.param_groups(model, rules, lr=1e-2))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            Schedule(model, rules, opt)
        said = [str(w.message) for w in caught if issubclass(w.category, FreezeguiWarning)]
        assert said == (
            [f"2 ranks are training: {schedule_mod._DDP_NEEDS_LR_ZERO}"] if method == "requires_grad" else []
        )
