"""The training engine runs schedules; the frozen-weights proof holds per stage."""

from __future__ import annotations

import pytest
import torch

from freezegui.core.errors import TrainingError
from freezegui.core.rules import RuleSet
from freezegui.core.training import TrainingConfig, TrainingRun
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


def test_epoch_stages_are_refused_by_the_step_counting_engine() -> None:
    rules = RuleSet.loads(STAGED.format(method="lr_zero").replace("{step: 3}", "{epoch: 1}"))
    with pytest.raises(TrainingError, match=r"counts steps: write the stage at epoch 1 as `at: \{step: N\}`"):
        TrainingRun(models.SmallConvNet(), _cfg(), rules=rules).prepare()
