"""CLI: ``rules --lora``, ``summary --json`` with ``lora_parameters``, ``export --to peft``,
``import --from peft`` and ``summary --adapter``."""

from __future__ import annotations

import copy
import json

import pytest

from freezegui.cli.main import main
from freezegui.core.rules.ruleset import RuleSet
from tests import models

peft = pytest.importorskip("peft")

LLAMA = "py:tests.models:tiny_llama"


def _rules(tmp_path, *extra: str):  # type: ignore[no-untyped-def]
    out = tmp_path / "rules.yaml"
    args = ["rules", LLAMA, "--lora", "**.q_proj", "--lora", "**.v_proj", "--train", "lm_head", *extra]
    assert main([*args, "-o", str(out)]) == 0
    return out


def test_rules_summary_export_equal_peft(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    rules = _rules(tmp_path, "--lora-r", "8", "--lora-alpha", "16")
    rs = RuleSet.load(rules)
    assert rs.lora is not None
    assert [t.text for t in rs.lora.targets] == [
        "model.layers.*.self_attn.q_proj",
        "model.layers.*.self_attn.v_proj",
    ]
    assert rs.lora.settings.r == 8
    capsys.readouterr()
    assert main(["summary", LLAMA, "--rules", str(rules), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    config_path = tmp_path / "adapter_config.json"
    assert main(["export", LLAMA, str(rules), "--to", "peft", "-o", str(config_path)]) == 0
    config = json.loads(config_path.read_text())
    assert config["target_modules"] == ["q_proj", "v_proj"] and config["modules_to_save"] == ["lm_head"]
    kwargs = {k: v for k, v in config.items() if k not in ("peft_type", "base_model_name_or_path")}
    pm = peft.get_peft_model(copy.deepcopy(models.tiny_llama()), peft.LoraConfig(**kwargs))
    assert summary["trainable"] == pm.get_nb_trainable_parameters()[0]
    assert summary["lora_parameters"] == 3 * 8 * ((16 + 16) + (16 + 8))
    adapted = {
        n.removeprefix("base_model.model.")
        for n, m in pm.named_modules()
        if isinstance(m, peft.tuners.lora.LoraLayer)
    }
    assert set(summary["adapted_modules"]) == adapted


def test_export_python_snippet(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rules = _rules(tmp_path)
    out = tmp_path / "lora.py"
    assert main(["export", LLAMA, str(rules), "--to", "peft", "-o", str(out)]) == 0
    namespace: dict = {}
    exec(out.read_text(), namespace)  # our own generated file
    config = namespace["config"]
    assert set(config.target_modules) == {"q_proj", "v_proj"}
    assert config.r == 8


def test_export_refuses_with_the_reason(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "r.yaml"
    rules.write_text("version: 1\ndefault: freeze\nrules:\n- train: lm_head\n")
    assert main(["export", LLAMA, str(rules), "--to", "peft"]) == 2
    assert "no `lora:` section" in capsys.readouterr().err
    rules.write_text(
        "version: 1\ndefault: freeze\nrules:\n- train: model.norm.weight\n- train: model.layers.0.mlp.up_proj\n"
        "lora:\n  targets: ['**.q_proj']\n"
    )
    assert main(["export", LLAMA, str(rules), "--to", "peft"]) == 0
    rules.write_text("version: 1\ndefault: train\nrules: []\nlora:\n  targets: ['**.q_proj']\n")
    assert main(["export", LLAMA, str(rules), "--to", "peft"]) == 2
    assert "trained or adapted, not both" in capsys.readouterr().err


def test_rules_refuses_lora_target_that_matches_nothing(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["rules", LLAMA, "--lora", "q_proj", "-o", str(tmp_path / "r.yaml")]) == 2
    err = capsys.readouterr().err
    assert "lora target `q_proj` matches no module" in err and "Traceback" not in err
    assert not (tmp_path / "r.yaml").exists()


def test_import_from_peft_reports_unmatched(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "adapter_config.json"
    config.write_text(
        json.dumps(
            {
                "peft_type": "LORA",
                "r": 4,
                "target_modules": ["q_proj", "qproj"],
                "modules_to_save": ["lm_head"],
            }
        )
    )
    out = tmp_path / "rules.yaml"
    assert main(["import", str(config), "--from", "peft", "--model", LLAMA, "-o", str(out)]) == 0
    assert "'qproj' matches no module" in capsys.readouterr().err
    rs = RuleSet.load(out)
    assert rs.lora is not None and rs.lora.settings.r == 4
    assert [t.text for t in rs.lora.targets] == ["model.layers.*.self_attn.q_proj"]
    assert main(["import", str(config), "--from", "peft", "--model", LLAMA, "-o", str(out), "--strict"]) == 1
    assert main(["import", str(config), "--from", "peft", "-o", str(out)]) == 2


def test_summary_opens_a_saved_adapter_folder(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    pm = peft.get_peft_model(
        models.tiny_llama(), peft.LoraConfig(r=4, target_modules=["q_proj"], modules_to_save=["lm_head"])
    )
    pm.save_pretrained(tmp_path / "adapter")
    capsys.readouterr()
    assert main(["summary", LLAMA, "--adapter", str(tmp_path / "adapter"), "--json", "--depth", "4"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trainable"] == pm.get_nb_trainable_parameters()[0]
    assert out["adapted_modules"] == [f"model.layers.{i}.self_attn.q_proj" for i in range(3)]
    assert "problems" not in out
    assert main(["summary", LLAMA, "--adapter", str(tmp_path / "adapter")]) == 0
    table = capsys.readouterr().out
    assert "LoRA" in table and "of which LoRA: 384" in table
