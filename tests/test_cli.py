"""The CLI: same core, clear errors, exit codes that scripts can rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from freezegui.cli.main import main
from freezegui.core.rules.ruleset import RuleSet
from tests.models import LLAMA_70B_CONFIG as LLAMA_70B


def test_summary_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "summary",
                "torchvision:resnet18",
                "--num-classes",
                "10",
                "--rules",
                "examples/resnet18_head.yaml",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "fc       Linear" in out.replace("  ", "  ")
    assert "Trainable: 5,130 (5.13 K)" in out
    assert "Frozen:    11,176,512" in out
    assert "Total:     11,181,642 (11.2 M)" in out


def test_summary_json_depth(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "torchvision:resnet18", "--num-classes", "10", "--json", "--depth", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["trainable"], data["frozen"], data["total"]) == (11_181_642, 0, 11_181_642)
    assert {"layer1.0", "fc"} <= {m["path"] for m in data["modules"]}


def test_llama_70b_structure_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_70B))
    assert main(["summary", f"hf-config:{tmp_path}", "--structure-only", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"] == 70_553_706_496


def test_check_clean_and_unclean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "torchvision:resnet18", "--num-classes", "10", "examples/resnet18_head.yaml"]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "typo.yaml"
    bad.write_text("default: freeze\nrules:\n  - train: fc\n  - train: layer5\n")
    assert main(["check", "torchvision:resnet18", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "rule `train: layer5` (line 4) matches no parameter" in out


def test_check_reports_fingerprint_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "r.yaml"
    assert (
        main(["rules", "torchvision:resnet18", "--num-classes", "10", "--train", "fc", "-o", str(out_file)])
        == 0
    )
    assert main(["check", "torchvision:resnet34", "--num-classes", "10", str(out_file)]) == 1
    assert "another architecture" in capsys.readouterr().out


def test_rules_command_writes_shortest_file(tmp_path: Path) -> None:
    out_file = tmp_path / "head.yaml"
    code = main(
        [
            "rules",
            "torchvision:resnet18",
            "--num-classes",
            "10",
            "--train",
            "layer4",
            "--train",
            "fc",
            "--freeze",
            "layer4.0",
            "-o",
            str(out_file),
        ]
    )
    assert code == 0
    rs = RuleSet.load(out_file)
    assert rs.default == "freeze"
    assert [str(r) for r in rs.rules] == ["train: layer4.1", "train: fc"]
    assert rs.model.spec == "torchvision:resnet18" and rs.model.num_classes == 10 and rs.model.fingerprint


def test_rules_command_refuses_pattern_matching_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "x.yaml"
    assert main(["rules", "py:tests.models:MLP", "--train", "fc", "-o", str(out_file)]) == 2
    assert "matches no parameter" in capsys.readouterr().err
    assert not out_file.exists()


def test_errors_have_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "freezegui", "summary", "py:tests.models:factory_raises"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert (
        "freezegui: error: the factory py:tests.models:factory_raises raised RuntimeError: boom"
        in proc.stderr
    )
    assert "Traceback" not in proc.stderr


def test_broken_rule_file_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - train: fc\n  - bogus\n")
    assert main(["check", "torchvision:resnet18", str(bad)]) == 2
    assert f"{bad}:3: each rule must be one" in capsys.readouterr().err


def test_summary_json_reports_a_fingerprint_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "r.yaml"
    assert main(["rules", "torchvision:resnet18", "--train", "fc", "-o", str(rules)]) == 0
    capsys.readouterr()
    args = ["summary", "torchvision:resnet34", "--structure-only", "--rules", str(rules), "--json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["unmatched_rules"] == [] and data["fingerprint"]["ok"] is False
    assert data["fingerprint"]["rules"] != data["fingerprint"]["model"]
    assert any("another architecture" in p for p in data["problems"])
    assert main(["summary", "torchvision:resnet18", "--rules", str(rules), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fingerprint"]["ok"] is True


def test_check_validates_every_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    staged = tmp_path / "staged.yaml"
    staged.write_text(
        "default: freeze\nlayer_decay: 0.8\nrules:\n  - train: fc\nschedule:\n  - at: {step: 10}\n"
        "    rules:\n      - train: layer4\n        lr_scale: 0.5\n"
    )
    assert main(["check", "torchvision:resnet18", "--structure-only", str(staged)]) == 0
    out = capsys.readouterr().out
    assert "stage 1 at step 10:" in out and "train: layer4 (lr_scale 0.5)" in out
    assert "stage 1: trainable 8,906,728 parameters; lr scales 0.5, 1" in out
    staged.write_text(staged.read_text().replace("layer4", "layer5"))
    assert main(["check", "torchvision:resnet18", "--structure-only", str(staged)]) == 1
    out = capsys.readouterr().out
    assert (
        "problem: stage 1 (at step 10): rule `train: layer5 (lr_scale 0.5)` (line 8) matches no parameter"
        in out
    )
    flat = tmp_path / "flat.yaml"
    flat.write_text("layer_decay: 0.8\nrules: []\n")
    assert main(["check", "py:tests.models:MLP", str(flat)]) == 1
    assert "layer_decay needs a model with a repeated block list" in capsys.readouterr().out


def test_check_reports_a_bad_rule_in_any_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Strict per stage: stage 1 is fine, a rule of stage 2 (an epoch stage) matches nothing."""
    staged = tmp_path / "staged.yaml"
    staged.write_text(
        "default: freeze\nrules:\n  - train: fc2\nschedule:\n  - at: {step: 3}\n    rules: [{train: fc1}]\n"
        "  - at: {epoch: 2}\n    rules: [{freeze: fc1.bias}, {train: fc9}]\n"
    )
    assert main(["check", "py:tests.models:MLP", str(staged)]) == 1
    out = capsys.readouterr().out
    assert "problem: stage 2 (at epoch 2): rule `train: fc9` (line 8) matches no parameter" in out
    assert "stage 1 (at" not in out  # stage 1 and the other rule of stage 2 match
