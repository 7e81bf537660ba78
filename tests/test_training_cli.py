"""`freezegui train`: plain progress lines, the report, JSON, --compare-methods, --save, clean errors."""

from __future__ import annotations

import json

import pytest

from freezegui.cli.main import main

HEAD = "default: freeze\nrules:\n  - train: fc\n"
MLP_HEAD = "default: freeze\nrules:\n  - train: fc2\n"


def test_train_prints_progress_and_report(tmp_path, capsys) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(MLP_HEAD)
    code = main(
        [
            "train",
            "py:tests.models:factory_mlp",
            "--rules",
            str(rules),
            "--steps",
            "6",
            "--log-every",
            "2",
            "--device",
            "cpu",
            "--save",
            str(tmp_path / "out"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("step ")] == [
        "1/6",
        "2/6",
        "4/6",
        "6/6",
    ]
    assert "status: completed" in out
    assert "frozen parameters verified bit-identical: 144 of 144" in out
    assert "trainable parameters changed: 68 of 68" in out
    assert (tmp_path / "out" / "model.safetensors").exists() and (tmp_path / "out" / "rules.yaml").exists()


def test_train_json(tmp_path, capsys) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(MLP_HEAD)
    code = main(
        [
            "train",
            "py:tests.models:factory_mlp",
            "--rules",
            str(rules),
            "--steps",
            "3",
            "--json",
            "--method",
            "lr_zero",
            "--optimizer",
            "sgd",
            "--device",
            "cpu",
        ]
    )
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == 0
    assert report["status"] == "completed" and report["ok"] and report["method"] == "lr_zero"
    assert report["proof"]["frozen_verified_elements"] == 144 and report["counts"]["trainable"] == 68
    assert len(report["losses"]) == 3 and "step 3/3" in captured.err


def test_train_compare_methods_uses_rule_file_num_classes(tmp_path, capsys) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text("model:\n  num_classes: 3\n" + HEAD)
    code = main(
        [
            "train",
            "py:tests.models:SmallConvNet",
            "--rules",
            str(rules),
            "--steps",
            "3",
            "--compare-methods",
            "--image-size",
            "16",
            "--device",
            "cpu",
            "--json",
        ]
    )
    rows = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [r["method"] for r in rows] == ["full", "requires_grad", "lr_zero"]
    assert rows[1]["trainable"] == rows[2]["trainable"] == 8 * 3 + 3
    assert rows[1]["grads_bytes"] < rows[2]["grads_bytes"]
    assert all(r["proof_ok"] for r in rows)


def test_train_compare_table(tmp_path, capsys) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(MLP_HEAD)
    code = main(
        ["train", "py:tests.models:factory_mlp", "--rules", str(rules), "--steps", "2", "--compare-methods"]
    )
    out = capsys.readouterr().out
    assert code == 0 and "method 1: requires_grad" in out and "full fine-tune" in out


def test_train_errors_are_one_line(tmp_path, capsys) -> None:
    assert main(["train", "py:tests.models:factory_mlp", "--data", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("freezegui: error: no such data folder") and "Traceback" not in err
    with pytest.raises(SystemExit) as exited:  # argparse validates the number: a one-line usage error
        main(["train", "py:tests.models:factory_mlp", "--steps", "0"])
    assert exited.value.code == 2
    assert "argument --steps: must be at least 1, got 0" in capsys.readouterr().err
    assert main(["train", "py:tests.models:factory_mlp", "--compare-methods"]) == 2
    assert "needs --rules" in capsys.readouterr().err
