"""A single training run reports the cost planner's prediction beside what it measured."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from freezegui.cli.main import main
from freezegui.core.plan import plan
from freezegui.core.structure.counting import format_bytes
from freezegui.core.training import TrainingConfig, TrainingRun
from tests.models import factory_mlp

HEAD = {"default": "freeze", "rules": [{"train": "fc2"}]}


def _expected(model: nn.Module, cfg: TrainingConfig):
    """The plan a user would make by hand for the same run (a fresh copy, same rules and sizes)."""
    return plan(copy.deepcopy(model), HEAD, batch_size=cfg.batch_size, seq_len=cfg.seq_len)


def test_engine_report_has_the_prediction_beside_the_measurement() -> None:
    model = factory_mlp()
    cfg = TrainingConfig(steps=3, batch_size=4, device="cpu")
    expected = _expected(model, cfg)
    report = TrainingRun(model, cfg, rules=HEAD).run()
    p = report.prediction
    assert p is not None and p.peak_bytes == expected.per_rank.peak_bytes > 0
    assert p.step_flops_ratio == pytest.approx(expected.ratio("step_flops")) and p.step_flops_ratio < 1
    assert p.activations_bytes == expected.activations_bytes and p.plan_s > 0
    text = "\n".join(report.lines())
    assert f"predicted peak {format_bytes(expected.peak_bytes)}" in text
    assert f"step FLOPs {expected.ratio('step_flops'):.2f}x of full fine-tuning (predicted)" in text
    assert f"{report.time_per_step * 1000:.1f} ms/step measured" in text
    assert "not measured on CPU" in text  # no CPU peak is claimed
    assert report.as_dict()["prediction"]["peak_bytes"] == expected.peak_bytes


def test_cli_train_report_prints_the_predicted_numbers(tmp_path, capsys) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text("default: freeze\nrules:\n  - train: fc2\n")
    argv = ["train", "py:tests.models:factory_mlp", "--rules", str(rules), "--steps", "2", "--device", "cpu"]
    expected = _expected(factory_mlp(), TrainingConfig(batch_size=8))
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"plan: predicted peak {format_bytes(expected.peak_bytes)}" in out
    assert f"step FLOPs {expected.ratio('step_flops'):.2f}x of full fine-tuning (predicted)" in out
    assert main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["prediction"]["peak_bytes"] == expected.peak_bytes
    assert data["prediction"]["step_flops_ratio"] == pytest.approx(expected.ratio("step_flops"))


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return y if bool(y.sum() > -1e9) else -y  # reads a value: cannot run on the meta device


def test_model_not_runnable_on_meta_trains_with_a_note() -> None:
    report = TrainingRun(DataDependent(), TrainingConfig(steps=2, batch_size=2, device="cpu")).run()
    assert report.ok and report.prediction is not None
    assert report.prediction.step_flops_ratio is None and "meta" in report.prediction.note
    mem = report.memory  # the state part only, plus AdamW's step temporary (one moment)
    assert report.prediction.peak_bytes == mem.state_bytes + mem.optimizer_bytes // 2
    assert "plan: note:" in "\n".join(report.lines())


def test_prediction_can_be_switched_off() -> None:
    report = TrainingRun(factory_mlp(), TrainingConfig(steps=1, device="cpu", predict=False)).run()
    assert report.prediction is None and not any(line.startswith("plan:") for line in report.lines())


def test_a_schedule_is_predicted_at_its_costliest_stage() -> None:
    """Here the last stage trains the most, so it is the costliest (not the first one)."""
    staged = {**HEAD, "schedule": [{"at": {"step": 2}, "rules": [{"train": "fc1"}]}]}
    last = {"default": "freeze", "rules": [{"train": "fc2"}, {"train": "fc1"}]}
    model = factory_mlp()
    cfg = TrainingConfig(steps=3, batch_size=4, device="cpu")
    expected = plan(copy.deepcopy(model), last, batch_size=cfg.batch_size, seq_len=cfg.seq_len)
    first = _expected(model, cfg)
    report = TrainingRun(model, cfg, rules=staged).run()
    p = report.prediction
    assert p is not None and p.peak_bytes == expected.per_rank.peak_bytes > first.per_rank.peak_bytes
    assert "stage 1 of 1, the costliest" in p.note


def test_a_stage_that_freezes_is_not_the_one_predicted() -> None:
    """Stage rules may freeze: a schedule that trains everything at stage 1 and freezes back at
    stage 2 peaks at stage 1, which the prediction plans (the last stage would under-predict)."""
    from freezegui.core.training.prediction import predict

    staged = {
        **HEAD,
        "schedule": [
            {"at": {"step": 1}, "rules": [{"train": "fc1"}]},
            {"at": {"step": 2}, "rules": [{"freeze": "fc1"}]},
        ],
    }
    model = factory_mlp()
    cfg = TrainingConfig(steps=3, batch_size=4, device="cpu")
    both = {"default": "freeze", "rules": [{"train": "fc2"}, {"train": "fc1"}]}
    expected = plan(copy.deepcopy(model), both, batch_size=cfg.batch_size, seq_len=cfg.seq_len)
    from freezegui.core.runtime.apply import as_ruleset

    _, p = predict(model, as_ruleset(staged), cfg)
    assert p.peak_bytes == expected.per_rank.peak_bytes
    assert "stage 1 of 2, the costliest" in p.note
