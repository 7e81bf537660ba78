"""The training engine runs schedules; the frozen-weights proof holds per stage."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from freezegui.core.errors import TrainingError
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.training import TrainingConfig, TrainingData, TrainingRun
from freezegui.core.training.proof import same_bits
from tests import models

STAGED = """\
default: freeze
method: {method}
rules:
  - train: fc
schedule:
  - at: {{step: 3}}
    rules:
      - train: features.3
        lr_scale: 0.5
"""


def _cfg() -> TrainingConfig:
    return TrainingConfig(steps=6, batch_size=4, image_size=8, lr=1e-2, device="cpu")


@pytest.mark.parametrize("method", ["requires_grad", "lr_zero"])
def test_engine_applies_stages_and_proves_them(method: str) -> None:
    torch.manual_seed(0)
    model = models.SmallConvNet()
    run = TrainingRun(model, _cfg(), rules=RuleSet.loads(STAGED.format(method=method)))
    results = list(run.steps())
    report = run.report
    assert report is not None and report.ok, report.message
    assert [r.stage for r in results] == [0, 0, 0, 1, 1, 1]
    (stage,) = report.proof.stages
    assert (stage.stage, stage.step, stage.unfrozen_tensors, stage.verified_tensors) == (1, 3, 2, 2)
    assert report.proof.trainable_changed_tensors == 4  # fc and features.3, weight and bias
    assert "stage 1 at step 3: 2 of 2 tensors" in "\n".join(report.lines())


def test_a_norm_layer_unfrozen_by_a_stage_updates_its_statistics_after_it() -> None:
    """Under frozen_stats a BatchNorm is still until its stage unfreezes it; then its running
    statistics follow train(), and the proof does not call that a frozen buffer changing."""
    torch.manual_seed(0)
    model = models.SmallConvNet()
    bn = model.features[1]
    start = bn.running_mean.clone()
    rules = RuleSet.loads(STAGED.format(method="requires_grad").replace("features.3", "features.1"))
    run = TrainingRun(model, _cfg(), rules=rules)
    seen = [torch.equal(bn.running_mean, start) for _ in run.steps()]  # after each step
    report = run.report
    assert report is not None and report.ok, report.message
    assert seen[:3] == [True, True, True] and not seen[-1]  # still up to step 3, moving after
    assert report.proof.stages[0].changed == []
    assert "features.1.running_mean" not in report.proof.buffers_changed


def test_proof_catches_a_tensor_that_moved_before_its_stage() -> None:
    model = models.SmallConvNet()
    run = TrainingRun(model, _cfg(), rules=RuleSet.loads(STAGED.format(method="lr_zero")))
    for result in run.steps():
        if result.step == 2:
            with torch.no_grad():
                model.features[3].weight.add_(1.0)  # something outside the schedule moves it
    report = run.report
    assert report is not None and not report.ok
    assert report.proof.stages[0].changed == ["features.3.weight"]
    assert "features.3.weight" in report.message


def test_a_stage_rule_matching_nothing_fails_before_step_one() -> None:
    rules = RuleSet.loads(STAGED.format(method="lr_zero").replace("features.3", "features.9"))
    with pytest.raises(TrainingError, match=r"stage 1 .* matches no parameter"):
        TrainingRun(models.SmallConvNet(), _cfg(), rules=rules).prepare()


def _zero_state(opt: torch.optim.Optimizer, p: torch.Tensor) -> bool:
    return all(not torch.is_tensor(v) or not v.any() for v in opt.state.get(p, {}).values())


@pytest.mark.parametrize("method", ["requires_grad", "lr_zero"])
def test_an_epoch_stage_unfreezes_after_one_pass_over_the_data(method: str) -> None:
    """Synthetic data is a pool of 8 batches, one epoch: `at: {epoch: 1}` applies before step 9."""
    torch.manual_seed(0)
    model = models.SmallConvNet()
    rules = RuleSet.loads(STAGED.format(method=method).replace("{step: 3}", "{epoch: 1}"))
    run = TrainingRun(model, dataclasses.replace(_cfg(), steps=11), rules=rules)
    late = {n: p for n, p in model.named_parameters() if n.startswith("features.3.")}
    start = {n: p.detach().clone() for n, p in late.items()}
    results = []
    for result in run.steps():
        results.append(result)
        if result.step == 8:  # the last step of epoch 0: still frozen, no AdamW state at all
            assert run.data is not None and run.data.steps_per_epoch == 8
            assert all(same_bits(p, start[n]) for n, p in late.items())
            assert run.optimizer is not None and all(_zero_state(run.optimizer, p) for p in late.values())
    assert [r.epoch for r in results] == [0] * 8 + [1] * 3
    assert [r.stage for r in results] == [0] * 8 + [1] * 3
    assert all(not torch.equal(p, start[n]) for n, p in late.items())  # trained from step 9 on
    report = run.report
    assert report is not None and report.ok, report.message
    (stage,) = report.proof.stages
    assert (stage.step, stage.epoch, stage.verified_tensors) == (8, 1, 2)
    assert "stage 1 at step 8 (epoch 1): 2 of 2 tensors" in str(report)
    assert report.steps_per_epoch == 8 and "(8 steps per epoch)" in str(report)


def test_an_image_folder_epoch_is_its_images_over_the_batch_size(tmp_path: Path) -> None:
    """10 images at batch size 4: 3 batches an epoch (the last topped up), the same 3 every epoch."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, count in (("a", 6), ("b", 4)):
        (tmp_path / cls).mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    rules = RuleSet.loads(STAGED.format(method="lr_zero").replace("{step: 3}", "{epoch: 2}"))
    cfg = dataclasses.replace(_cfg(), steps=7, data=str(tmp_path))
    run = TrainingRun(models.SmallConvNet(num_classes=2), cfg, rules=rules)
    results = list(run.steps())
    assert run.data is not None and run.data.steps_per_epoch == 3
    assert [r.epoch for r in results] == [0, 0, 0, 1, 1, 1, 2]
    assert [r.stage for r in results] == [0] * 6 + [1]
    first, second = run.data.batch(0), run.data.batch(3)  # epoch 1 starts where epoch 0 did
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert run.report is not None and run.report.ok and run.report.proof.stages[0].step == 6


def test_data_without_a_length_refuses_epoch_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches from a plain function (an endless stream) have no epochs: a one-line error before step 1."""
    import freezegui.core.training.engine as engine

    real = engine.make_data

    def endless(*args: object, **kwargs: object) -> TrainingData:
        data = real(*args, **kwargs)  # type: ignore[arg-type]
        pool = data.get_batch
        return dataclasses.replace(data, get_batch=lambda step: pool(step))

    monkeypatch.setattr(engine, "make_data", endless)
    rules = RuleSet.loads(STAGED.format(method="lr_zero").replace("{step: 3}", "{epoch: 1}"))
    with pytest.raises(
        TrainingError, match=r"^this data has no length, so no epochs: write the stage at epoch 1"
    ):
        TrainingRun(models.SmallConvNet(), _cfg(), rules=rules).prepare()
    run = TrainingRun(models.SmallConvNet(), _cfg(), rules=RuleSet.loads(STAGED.format(method="lr_zero")))
    assert run.run().ok and run.data is not None and run.data.steps_per_epoch is None  # step stages run


def test_a_stage_the_run_does_not_reach_is_noted() -> None:
    rules = RuleSet.loads(STAGED.format(method="lr_zero").replace("{step: 3}", "{epoch: 5}"))
    report = TrainingRun(models.SmallConvNet(), _cfg(), rules=rules).run()
    assert report.ok and report.stages_not_reached == ["stage 1 at epoch 5"]
    assert "note: stage 1 at epoch 5 was not reached in 6 steps" in str(report)
