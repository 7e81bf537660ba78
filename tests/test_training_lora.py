"""Issue 26, the gap: ``train`` trains the rule file's ``lora:`` adapters (through PEFT).

Base weights stay bit-identical, the adapters change, and ``--save`` writes the adapter as PEFT saves it:
``PeftModel.from_pretrained`` on a fresh base model gives the trained model's outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from freezegui.core.errors import TrainingError
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.training.config import TrainingConfig
from freezegui.core.training.engine import TrainingRun
from tests.models import SmallConvNet, tiny_llama
from tests.test_robustness import error_line, run_cli

pytest.importorskip("peft")

LORA_ONLY = """\
default: freeze
lora:
  r: 4
  lora_alpha: 8
  dropout: 0.1
  use_dora: {dora}
  bias: {bias}
  targets: [model.layers.*.self_attn.q_proj, model.layers.*.self_attn.v_proj]
"""


def _config(steps: int = 3) -> TrainingConfig:
    return TrainingConfig(steps=steps, batch_size=2, seq_len=8, lr=1e-2, predict=False)


@pytest.mark.parametrize(("dora", "bias"), [("false", "none"), ("true", "lora_only")])
def test_a_lora_only_rule_file_trains_its_adapters(tmp_path: Path, dora: str, bias: str) -> None:
    from peft import PeftModel

    rules = RuleSet.loads(LORA_ONLY.format(dora=dora, bias=bias))
    model = tiny_llama()
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    run = TrainingRun(model, _config(), rules=rules)
    report = run.run()
    assert report is not None and report.ok, report.message
    peft_model = run.model
    assert isinstance(peft_model, PeftModel)
    config = peft_model.peft_config["default"]
    assert (config.r, config.lora_alpha, config.lora_dropout) == (4, 8, 0.1)
    assert config.use_dora == (dora == "true") and config.bias == bias
    assert peft_model.get_nb_trainable_parameters()[0] == report.counts.trainable
    # base weights bit-identical (the proof covers them), adapters changed
    assert report.proof is not None and report.proof.ok and not report.proof.frozen_changed
    bare = peft_model.get_base_model()
    for name, p in bare.named_parameters():
        if "lora_" not in name and "base_layer" not in name and name in base:
            assert torch.equal(p, base[name]), name
    lora_b = {n: p for n, p in peft_model.named_parameters() if "lora_B" in n}
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b.values())  # PEFT starts lora_B at zero

    run.save(tmp_path / "ckpt")
    saved = {p.name for p in (tmp_path / "ckpt").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "rules.yaml", "training_report.json"} <= saved
    assert "model.safetensors" not in saved
    saved_config = json.loads((tmp_path / "ckpt" / "adapter_config.json").read_text())
    assert saved_config["r"] == 4 and saved_config["use_dora"] == (dora == "true")

    loaded = PeftModel.from_pretrained(tiny_llama(), str(tmp_path / "ckpt"))
    ids = torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(1))
    peft_model.eval()
    loaded.eval()
    with torch.no_grad():
        assert torch.equal(peft_model(input_ids=ids).logits, loaded(input_ids=ids).logits)


def test_lora_plus_fully_trained_head_saves_both(tmp_path: Path) -> None:
    text = LORA_ONLY.format(dora="false", bias="none").replace(
        "default: freeze\n", "default: freeze\nrules:\n- train: lm_head\n"
    )
    run = TrainingRun(tiny_llama(), _config(2), rules=RuleSet.loads(text))
    report = run.run()
    assert report.ok, report.message
    assert run.model.get_nb_trainable_parameters()[0] == report.counts.trainable
    run.save(tmp_path / "ckpt")
    config = json.loads((tmp_path / "ckpt" / "adapter_config.json").read_text())
    assert config["modules_to_save"] == ["lm_head"]


def test_lora_on_a_conv_net_keeps_frozen_batchnorm_stats() -> None:
    rules = RuleSet.loads(
        "default: freeze\nrules:\n- train: fc\nlora:\n  r: 2\n  targets: [features.0, features.3]\n"
    )
    model = SmallConvNet()
    stats = model.features[1].running_mean.clone()
    report = TrainingRun(
        model, TrainingConfig(steps=2, batch_size=2, image_size=8, predict=False), rules=rules
    ).run()
    assert report.ok, report.message
    assert torch.equal(model.features[1].running_mean, stats)


def test_lora_with_a_schedule_is_one_clear_refusal() -> None:
    text = (
        LORA_ONLY.format(dora="false", bias="none")
        + "schedule:\n- at: {step: 1}\n  rules:\n  - train: lm_head\n"
    )
    with pytest.raises(TrainingError, match="LoRA adapters trains with method requires_grad"):
        TrainingRun(tiny_llama(), _config(), rules=RuleSet.loads(text)).prepare()


def test_cli_trains_and_saves_a_lora_only_rule_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "lora.yaml"
    rules.write_text(LORA_ONLY.format(dora="false", bias="none"))
    before = rules.read_bytes()
    out = tmp_path / "out"
    rc, stdout, err = run_cli(
        capsys, "train", "py:tests.models:tiny_llama", "--rules", str(rules), "--steps", "2", "--seq-len", "8",
        "--no-plan", "--save", str(out),
    )  # fmt: skip
    assert rc == 0, err
    assert "does not require grad" not in stdout + err
    assert (out / "adapter_model.safetensors").is_file() and rules.read_bytes() == before
    rc, _, err = run_cli(capsys, "train", "py:tests.models:tiny_llama", "--rules", str(rules), "--steps", "1",
                         "--seq-len", "8", "--no-plan", "--save", str(out))  # fmt: skip
    assert rc == 2 and "already holds a checkpoint" in error_line(err)
