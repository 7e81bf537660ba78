"""The planner's synthetic batch: made on meta at the batch's own size, never a view of a pool.

A view of the training engine's 8-batch pool made autograd count the whole pool's storage as saved
(issue 21), and the pool itself was allocated in real memory before the meta step (issues 20, 26).
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

import freezegui
from freezegui.cli.main import main
from freezegui.core.data import examples
from freezegui.core.data.synthetic import BatchTooLargeError, SyntheticBatch, describe
from freezegui.core.plan import plan
from tests.test_plan import real_step

VISION = {  # name: (factory, the partial selection: last block and head)
    "resnet18": ("resnet18", ["layer4", "fc"]),
    "mobilenet_v3_small": ("mobilenet_v3_small", ["features.12", "classifier"]),
    "efficientnet_b0": ("efficientnet_b0", ["features.8", "classifier"]),
}


def _vision(name: str) -> nn.Module:
    import torchvision.models as tvm

    torch.manual_seed(0)
    return getattr(tvm, VISION[name][0])(num_classes=10)


@pytest.mark.parametrize("selection", ["full", "partial"])
@pytest.mark.parametrize("name", list(VISION))
def test_planned_activations_equal_a_dataloader_step(name: str, selection: str) -> None:
    """Issue 21's acceptance: batch 4 at 64 px, against a real CPU step fed by a DataLoader batch."""
    model = _vision(name)
    rules = (
        {"default": "train"}
        if selection == "full"
        else {"default": "freeze", "rules": [{"train": VISION[name][1]}]}
    )
    p = plan(model, rules, batch_size=4, image_size=64)
    real = real_step(model, rules, batch_size=4, image_size=64)
    assert p.step_ran and real.activations_bytes > 0
    assert math.isclose(p.activations_bytes, real.activations_bytes, rel_tol=0.01)
    assert math.isclose(p.step_flops, real.step_flops, rel_tol=0.01)


def test_the_meta_batch_is_the_batch_alone(convnet: nn.Module) -> None:
    spec = describe(convnet, batch_size=3, image_size=16)
    x, y = spec.meta()
    assert x.is_meta and y.is_meta
    assert x.shape == (3, 3, 16, 16) and y.shape == (3,)
    assert x.untyped_storage().nbytes() == 3 * 3 * 16 * 16 * 4  # its own storage, no pool behind it
    assert spec.batch_bytes == x.untyped_storage().nbytes() + y.untyped_storage().nbytes()


def test_resnet18_batch_300_at_224_plans_without_making_a_batch(monkeypatch) -> None:
    """The training pool (8 x 300 images, 5.4 GiB) is never made; the step sees meta tensors only."""
    seen: list[tuple] = []
    meta = SyntheticBatch.meta

    def spy(self: SyntheticBatch):
        batch = meta(self)
        seen.append(batch)
        return batch

    def refuse(*args: object) -> None:
        raise AssertionError("the planner made real examples")

    monkeypatch.setattr(SyntheticBatch, "meta", spy)
    monkeypatch.setattr(examples, "make_examples", refuse)
    from torchvision.models import resnet18

    p = plan(resnet18(), batch_size=300, image_size=224)
    assert p.step_ran, p.message
    assert p.activations_bytes > 5 * 2**30
    ((x, y),) = seen
    assert x.is_meta and y.is_meta and x.shape == (300, 3, 224, 224)
    assert x.untyped_storage().nbytes() == 300 * 3 * 224 * 224 * 4


def _plan_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[dict, str]:
    assert main(["plan", "torchvision:resnet18", *args, "--json"]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_absurd_batch_and_image_sizes_answer_as_a_plan(capsys: pytest.CaptureFixture[str]) -> None:
    huge_batch, err = _plan_json(capsys, "--batch-size", "1000000000000")
    assert huge_batch["activations_bytes"] > 10**18 and not err
    big_image, err = _plan_json(capsys, "--image-size", "100000")
    input_bytes = 8 * 3 * 100_000**2 * 4  # 894 GiB: conv1 keeps its input
    assert big_image["activations_bytes"] > input_bytes and big_image["step_flops"] > 0 and not err
    absurd, err = _plan_json(capsys, "--image-size", "1000000000")
    assert absurd["weights_bytes"] == 11_689_512 * 4 and absurd["activations_bytes"] == 0
    assert "more than a tensor can address" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_too_large_a_batch_is_a_clear_error_before_anything_is_made(convnet: nn.Module) -> None:
    with pytest.raises(BatchTooLargeError, match="lower the batch size or the input size"):
        describe(convnet, batch_size=8, image_size=10**9)
    spec = describe(convnet, batch_size=10**15, image_size=16)
    with pytest.raises(BatchTooLargeError):
        examples.make_batch(spec, 10**16, torch.device("cpu"))  # 3e19 bytes


def test_training_data_still_a_pool_of_its_own_examples(convnet: nn.Module) -> None:
    from freezegui.core.training.config import TrainingConfig
    from freezegui.core.training.data import synthetic_data

    data = synthetic_data(convnet, TrainingConfig(batch_size=2, image_size=16), torch.device("cpu"))
    assert data.steps_per_epoch == 8 and "16 examples" in data.description
    again = synthetic_data(convnet, TrainingConfig(batch_size=2, image_size=16), torch.device("cpu"))
    assert torch.equal(data.batch(3)[0], again.batch(3)[0])  # reproducible from the seed
    assert freezegui.plan(convnet, batch_size=2, image_size=16).step_ran
