"""`freezegui plan`: the table, the --json keys, clear errors, the 70B structure-only config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from freezegui.cli.main import main
from freezegui.core.plan import KEYS
from tests.models import LLAMA_70B_CONFIG

HEAD = "version: 1\ndefault: freeze\nrules:\n- train: fc\n"


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_json_has_exactly_the_issue_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "head.yaml"
    rules.write_text(HEAD)
    base = [
        "plan",
        "torchvision:resnet18",
        "--num-classes",
        "10",
        "--rules",
        str(rules),
        "--image-size",
        "32",
    ]
    out = _json(capsys, [*base, "--batch-size", "2", "--json"])
    assert set(out) == {*KEYS, "full_finetune"}
    assert set(out["full_finetune"]) == set(KEYS)
    assert all(isinstance(out[k], int) for k in KEYS)
    assert out["gradients_bytes"] == 5130 * 4 and out["step_flops"] < out["full_finetune"]["step_flops"]
    ranked = _json(capsys, [*base, "--batch-size", "2", "--gpus", "2", "--shard", "fsdp", "--json"])
    assert set(ranked) == {*KEYS, "full_finetune", "per_rank"}
    assert ranked["per_rank"]["weights_bytes"] * 2 == ranked["weights_bytes"]


def test_table_shows_selection_full_and_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["plan", "torchvision:resnet18", "--image-size", "32", "--batch-size", "1", "--optimizer", "sgd"]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "this selection" in text and "full fine-tune" in text and "ratio" in text
    assert "activations" in text and "step FLOPs" in text


def test_bad_option_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "torchvision:resnet18", "--batch-size", "0"]) == 2
    err = capsys.readouterr().err
    assert "batch size" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_llama_70b_structure_only_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_70B_CONFIG))
    argv = ["plan", f"hf-config:{tmp_path}", "--structure-only", "--seq-len", "2048", "--batch-size", "1"]
    out = _json(capsys, [*argv, "--dtype", "bf16", "--json"])
    assert out["weights_bytes"] == 2 * 70_553_706_496
    assert out["optimizer_bytes"] == 2 * out["gradients_bytes"] == 4 * 70_553_706_496
    assert out["activations_bytes"] > 0 and out["step_flops"] > 6 * 70e9 * 2048 * 0.9


def test_per_module_json_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["plan", "torchvision:resnet18", "--num-classes", "10", "--image-size", "32", "--batch-size", "2"]
    out = _json(capsys, [*base, "--per-module", "--json"])
    modules = out["modules"]
    assert set(modules[0]) == {
        "name", "type", "output_shape", "forward_flops", "backward_flops", "activations_bytes"
    }  # fmt: skip
    assert modules[0]["name"] == "" and modules[0]["type"] == "ResNet"
    assert modules[0]["activations_bytes"] == out["activations_bytes"]
    assert modules[0]["forward_flops"] + modules[0]["backward_flops"] == out["step_flops"]
    names = [m["name"] for m in modules]
    assert names[:3] == ["", "conv1", "bn1"] and "layer1.0.conv1" in names  # tree order, every module
    assert next(m for m in modules if m["name"] == "fc")["output_shape"] == [2, 10]
    assert "modules" not in _json(capsys, [*base, "--json"])
    assert main([*base, "--per-module", "--depth", "1", "--sort", "flops"]) == 0
    text = capsys.readouterr().out
    assert "Output shape" in text and "layer1 (Sequential)" in text and "layer1.0" not in text
    rows = text.split("Layer (type)")[1].splitlines()[2:7]
    assert rows[0].startswith("ResNet")  # the most FLOPs first: the root holds everything
