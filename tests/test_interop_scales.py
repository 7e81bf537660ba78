"""Exports of rule files with lr scales and schedules: the Python snippet carries them, others say they don't."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

import freezegui
from freezegui.cli.main import main
from freezegui.core.interop.python_staged import to_python_staged
from freezegui.core.lr.groups import stage_states
from freezegui.core.rules.ruleset import RuleSet
from tests import models

STAGED = """\
default: freeze
method: {method}
layer_decay: 0.5
rules:
  - train: head
  - train: blocks.1
schedule:
  - at: {{step: 2}}
    rules:
      - train: blocks.0
        lr_scale: 3
  - at: {{epoch: 1}}
    rules:
      - freeze: head.bias
"""


def _snippet_namespace(code: str) -> dict:
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(code))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert imported == {"torch"}, imported  # runs without freezegui
    namespace: dict = {}
    exec(compile(code, "<snippet>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("method", ["lr_zero", "requires_grad"])
def test_python_snippet_reproduces_groups_and_schedule(method: str) -> None:
    rules = RuleSet.loads(STAGED.format(method=method))
    model = models.GroupedViT(depth=2)
    tree = freezegui.build_tree(model)
    ns = _snippet_namespace(to_python_staged(tree, rules, spec="py:tests.models:GroupedViT"))
    want = np.stack([s for _, s in stage_states(tree, rules)], axis=1)
    got = {id(p): row for p, row in ns["stage_scales"](model)}
    np.testing.assert_allclose([got[id(t)] for t in tree.tensors], want, rtol=1e-12)
    groups = ns["param_groups"](model, lr=0.1, weight_decay=0.01)
    assert sum(len(g["params"]) for g in groups) == len(tree.params)
    ours = freezegui.param_groups(model, rules, lr=0.1, weight_decay=0.01)
    assert sorted(g["lr"] for g in groups) == pytest.approx(sorted(g["lr"] for g in ours))
    opt = torch.optim.AdamW(groups)
    schedule = ns["Schedule"](opt, lr=0.1, weight_decay=0.01)
    block0 = model.blocks[0][1].weight
    start = block0.detach().clone()
    x = torch.randn(2, 5, 12)
    for step in range(4):
        schedule.step(step, epoch=step // 3)
        if step == 2:
            assert torch.equal(block0, start) and block0 not in opt.state  # no state while frozen
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    assert schedule.done == 2 and not torch.equal(block0, start)
    assert model.head.bias.requires_grad == (method == "lr_zero")


def test_other_exports_say_scales_and_schedules_do_not_carry_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "default: freeze\nrules:\n  - train: model.layers.1\n    lr_scale: 0.5\nschedule:\n"
        "  - at: {step: 5}\n    rules: [{train: lm_head}]\n"
    )
    config = tmp_path / "config.json"
    config.write_text(
        '{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 16, '
        '"intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, '
        '"vocab_size": 64}'
    )
    for fmt, tool in (("axolotl", "axolotl"), ("llamafactory", "LLaMA-Factory")):
        out = tmp_path / f"out.{fmt}"
        assert main(["export", f"hf-config:{config}", str(rules), "--to", fmt, "-o", str(out)]) == 0
        text = out.read_text()
        assert text.startswith(
            "# NOTE: per-layer learning-rate scales (lr_scale / layer_decay) and the 1-stage unfreezing "
            f"schedule do not carry over to {tool}"
        )
        assert "warning: NOTE: per-layer learning-rate scales" in capsys.readouterr().err
    plain = tmp_path / "plain.yaml"
    plain.write_text("default: freeze\nrules:\n  - train: model.layers.1\n")
    out = tmp_path / "plain.axolotl"
    assert main(["export", f"hf-config:{config}", str(plain), "--to", "axolotl", "-o", str(out)]) == 0
    assert "NOTE" not in out.read_text()


def test_cli_python_export_of_a_schedule_runs(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(STAGED.format(method="lr_zero"))
    out = tmp_path / "snippet.py"
    assert main(["export", "py:tests.models:GroupedViT", str(rules), "--to", "python", "-o", str(out)]) == 0
    ns = _snippet_namespace(out.read_text())
    assert len(ns["STAGES"]) == 3 and ns["STAGES"][1]["at"] == ("step", 2)
