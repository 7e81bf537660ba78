"""apply_rules before DistributedDataParallel or FSDP2: two gloo ranks on CPU via torchrun (examples/ddp_finetune.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import freezegui

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ddp_finetune.py"

RULES = """\
version: 1
default: freeze
rules:
- train: layer4.1
- train: fc
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=["ddp", "fsdp"])
def ddp_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp(request.param)
    out, rules = tmp / "out", tmp / "rules.yaml"
    stdout = _torchrun(tmp, RULES, "--out", str(out), "--steps", "3", "--wrap", request.param)
    assert "step 3" in stdout
    return out, rules


def _torchrun(tmp: Path, rules_text: str, *args: str) -> str:
    """The example on two CPU ranks with ``rules_text`` as its rule file; its stdout."""
    rules = tmp / "rules.yaml"
    rules.write_text(rules_text)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        str(EXAMPLE), "--rules", str(rules), *args,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=tmp)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_ranks_agree_and_frozen_weights_are_untouched(ddp_run: tuple[Path, Path]) -> None:
    out, rules = ddp_run
    r0, r1 = _load(out / "rank0.pt"), _load(out / "rank1.pt")
    torch.manual_seed(0)  # the example's initial weights
    init = freezegui.load_model("torchvision:resnet18", num_classes=10)
    report = freezegui.apply_rules(init, rules)
    trainable = {n for n, p in init.named_parameters() if p.requires_grad}
    assert set(r0["trainable"]) == set(r1["trainable"]) == trainable
    assert report.trainable > 0 and report.frozen > 0

    init_state = init.state_dict()
    frozen_norms = set(report.frozen_norm_layers)
    assert "bn1" in frozen_norms and "layer4.1.bn1" not in frozen_norms
    changed = 0
    for name, value in init_state.items():
        a, b = r0["state"][name], r1["state"][name]
        module = name.rpartition(".")[0]
        if name in trainable:
            # DDP all-reduced the gradients (FSDP reduce-scattered them): both ranks took the same steps.
            assert torch.equal(a, b), name
            changed += int(not torch.equal(a, value))
        elif (
            name.endswith(("running_mean", "running_var", "num_batches_tracked"))
            and module not in frozen_norms
        ):
            continue  # a trainable BatchNorm's statistics follow each rank's own last batch
        else:
            # Frozen weights and frozen BatchNorm statistics: bit-identical to the start on both ranks.
            assert torch.equal(a, value) and torch.equal(b, value), name
    assert changed >= len(trainable) // 2  # training really happened


STAGED = """\
version: 1
default: freeze
method: lr_zero
rules:
- train: fc
schedule:
- at: {step: 2}
  rules:
  - train: layer4.1
"""


def test_an_lr_zero_schedule_stays_in_sync_across_ranks(tmp_path: Path) -> None:
    """Gradual unfreezing under DDP (method lr_zero): both ranks apply the stage at step 3 and end
    bit-identical; layer4.1 trained after its stage, what no stage unfreezes did not move."""
    out = tmp_path / "out"
    stdout = _torchrun(tmp_path, STAGED, "--out", str(out), "--steps", "4")
    assert "stage 1 from step 3" in stdout
    r0, r1 = _load(out / "rank0.pt"), _load(out / "rank1.pt")
    torch.manual_seed(0)
    init = freezegui.load_model("torchvision:resnet18", num_classes=10).state_dict()
    for name, value in init.items():
        if name.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue  # statistics of training BatchNorm layers follow each rank's own batches
        a, b = r0["state"][name], r1["state"][name]
        assert torch.equal(a, b), name  # DDP synced every tensor (all require grad under lr_zero)
        moved = not torch.equal(a, value)
        assert moved == name.startswith(("fc.", "layer4.1.")), name
