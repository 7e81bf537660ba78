"""`freezegui probe`: RGN = ‖∇W‖/‖W‖ per module, equal to a direct autograd computation."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from freezegui.cli.main import main
from freezegui.core.decide.probe import probe
from freezegui.core.errors import TrainingError
from freezegui.core.training.config import TrainingConfig
from freezegui.core.training.data import TrainingData, make_data
from tests.models import SmallConvNet


class DeadBranch(nn.Module):
    """A block whose ``dead`` layer's output is multiplied by zero, and a weight shared by two layers."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.dead = nn.Linear(8, 8)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(8, 8)
        self.fc3 = nn.Linear(8, 8)
        self.fc3.weight = self.fc2.weight  # tied: counted once in every module holding it
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc1(x))
        h = h + 0.0 * self.dead(h)
        h = self.fc3(torch.relu(self.fc2(self.drop(h))))
        return self.head(h)


def _explicit_data(seed: int, batches: int, size: int) -> TrainingData:
    gen = torch.Generator().manual_seed(seed)
    xs = [torch.randn(size, 6, generator=gen) for _ in range(batches)]
    ys = [torch.randint(0, 3, (size,), generator=gen) for _ in range(batches)]
    return TrainingData(
        task="classification",
        description="explicit",
        get_batch=lambda k: (xs[k], ys[k]),
        loss_fn=lambda model, batch: F.cross_entropy(model(batch[0]), batch[1]),
    )


def _direct(model: nn.Module, data: TrainingData, batches: int, seed: int) -> dict[str, tuple[float, float]]:
    """(mean ‖∇W‖, ‖W‖) per module by plain torch autograd on a fresh copy, in the same order."""
    work = copy.deepcopy(model)
    work.train()
    for p in work.parameters():
        p.requires_grad_(True)
    params = list(work.parameters())  # unique tensors
    names = {name: m for name, m in work.named_modules(remove_duplicate=False)}
    grad_sums = dict.fromkeys(names, 0.0)
    torch.manual_seed(seed)
    for k in range(batches):
        loss = data.loss(work, data.batch(k))
        grads = dict(zip(map(id, params), torch.autograd.grad(loss, params, allow_unused=True)))
        for name, m in names.items():
            sq = sum(
                float(grads[id(p)].double().pow(2).sum()) if grads[id(p)] is not None else 0.0
                for p in m.parameters()
            )
            grad_sums[name] += math.sqrt(sq)
    return {
        name: (
            grad_sums[name] / batches,
            math.sqrt(sum(float(p.detach().double().pow(2).sum()) for p in m.parameters())),
        )
        for name, m in names.items()
        if any(True for _ in m.parameters())
    }


def _assert_equal(result: dict, direct: dict[str, tuple[float, float]]) -> None:
    got = {m["name"]: m for m in result["modules"]}
    assert set(got) == set(direct) - {""}
    for name, (g, w) in direct.items():
        if not name:
            continue
        assert got[name]["grad_norm"] == pytest.approx(g, rel=1e-6, abs=0.0)
        assert got[name]["rgn"] == pytest.approx(g / w, rel=1e-6, abs=0.0)
    assert result["grad_norm"] == pytest.approx(direct[""][0], rel=1e-6)


def test_rgn_equals_direct_autograd_and_a_zeroed_layer_reports_zero() -> None:
    torch.manual_seed(1)
    model = DeadBranch()
    data = _explicit_data(seed=3, batches=3, size=5)
    result = probe(model, data=data, batches=3, seed=7, device="cpu").as_dict()
    _assert_equal(result, _direct(model, data, 3, seed=7))
    dead = next(m for m in result["modules"] if m["name"] == "dead")
    assert dead["rgn"] == 0.0 and dead["grad_norm"] == 0.0
    assert all(m["rgn"] > 0 for m in result["modules"] if m["name"] != "dead")


def test_synthetic_data_same_seed_same_batches_and_the_model_is_untouched() -> None:
    torch.manual_seed(0)
    model = SmallConvNet()
    model.fc.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = probe(model, batches=2, batch_size=4, seed=5, image_size=16, device="cpu").as_dict()
    data = make_data(
        copy.deepcopy(model), TrainingConfig(batch_size=4, seed=5, image_size=16), torch.device("cpu")
    )
    _assert_equal(result, _direct(model, data, 2, seed=5))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BatchNorm statistics included
    assert not model.fc.weight.requires_grad and all(p.grad is None for p in model.parameters())
    assert result["batches"] == 2 and result["data"].startswith("synthetic")


def test_cli_json_keys(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["probe", "torchvision:resnet18", "--num-classes", "4", "--image-size", "32", "--batch-size", "2"]
    assert main([*argv, "--batches", "1", "--device", "cpu", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["modules"] and all(set(m) == {"name", "rgn", "grad_norm"} for m in out["modules"])
    names = [m["name"] for m in out["modules"]]
    assert "layer4.1" in names and "fc" in names and "" not in names


def test_structure_only_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "torchvision:resnet18", "--structure-only"]) == 2
    err = capsys.readouterr().err
    assert "structure-only" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(TrainingError):
        probe(SmallConvNet(), batches=0)
