"""Issue 26, case 1: a model spec is data in every export, never code or a config key."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from freezegui.cli.main import main

TINY_LLAMA = {
    "model_type": "llama", "vocab_size": 64, "hidden_size": 16, "intermediate_size": 32,
    "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
    "max_position_embeddings": 32, "architectures": ["LlamaForCausalLM"],
}  # fmt: skip
PAYLOAD = 'top_inj\n__import__("os").system("echo INJECTED")\n#'
YAML_PAYLOAD = 'x\ntrust_remote_code: true\n# it\'s "quoted" \u2028trust_remote_code: true\r\x85#'
RULES = "default: freeze\nrules:\n- train: lm_head\n- train: model.layers.1\n"
LORA_RULES = (
    "default: freeze\nrules:\n- train: lm_head\nlora:\n  targets: [model.layers.*.self_attn.q_proj]\n"
)


def _hostile_model(tmp_path: Path, name: str) -> str:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TINY_LLAMA))
    return f"hf-config:{folder}"


def _export(tmp_path: Path, spec: str, fmt: str, out: str, rules: str = RULES) -> str:
    rule_file = tmp_path / "rules.yaml"
    rule_file.write_text(rules)
    target = tmp_path / out
    assert main(["export", spec, str(rule_file), "--structure-only", "--to", fmt, "-o", str(target)]) == 0
    return target.read_text()


def _spec_statements(tree: ast.Module, spec: str) -> list[ast.stmt]:
    """Top-level statements that hold the spec anywhere (as a constant or in their source)."""
    return [
        node
        for node in tree.body
        if any(
            isinstance(c, ast.Constant) and isinstance(c.value, str) and "top_inj" in c.value
            for c in ast.walk(node)
        )
        or (isinstance(node, ast.Expr) and not isinstance(node.value, ast.Constant))
    ]


def _assert_spec_is_one_data_statement(text: str, spec: str) -> None:
    tree = ast.parse(text)
    holders = _spec_statements(tree, spec)
    assert len(holders) == 1, ast.dump(tree)[:2000]
    (stmt,) = holders
    assert isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)
    assert stmt.value.value == spec
    calls = [
        n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "__import__"
    ]
    assert not calls


@pytest.mark.parametrize(
    "rules", [RULES, RULES + "schedule:\n- at: {step: 2}\n  rules:\n  - train: model.norm\n"]
)
def test_python_snippet_holds_the_spec_as_one_string(tmp_path: Path, rules: str) -> None:
    spec = _hostile_model(tmp_path, PAYLOAD)
    text = _export(tmp_path, spec, "python", "s.py", rules)
    _assert_spec_is_one_data_statement(text, spec)


def test_lora_snippet_holds_the_spec_as_one_string(tmp_path: Path) -> None:
    spec = _hostile_model(tmp_path, PAYLOAD)
    text = _export(tmp_path, spec, "peft", "lora.py", LORA_RULES)
    _assert_spec_is_one_data_statement(text, spec)
    config = json.loads(_export(tmp_path, spec, "peft", "adapter_config.json", LORA_RULES))
    assert config["base_model_name_or_path"] == spec


@pytest.mark.parametrize("fmt", ["axolotl", "llamafactory"])
def test_yaml_exports_keep_the_spec_in_a_comment(tmp_path: Path, fmt: str) -> None:
    spec = _hostile_model(tmp_path, YAML_PAYLOAD)
    text = _export(tmp_path, spec, fmt, "out.yml")
    data = yaml.safe_load(text)
    expected = {"unfrozen_parameters"} if fmt == "axolotl" else set(data) - {"trust_remote_code"}
    assert set(data) == expected and "trust_remote_code" not in data
    # every line the spec touches is one comment line: the YAML dumper's escapes, not its raw text
    for line in text.splitlines():
        assert line.startswith("#") or "trust_remote_code" not in line
    assert "\u2028" not in text and "\x85" not in text and "\r" not in text


def test_running_the_exported_snippet_runs_no_code_from_the_name(tmp_path: Path) -> None:
    spec = _hostile_model(tmp_path, PAYLOAD)
    rule_file = tmp_path / "rules.yaml"
    rule_file.write_text(RULES)
    out = tmp_path / "s.py"
    cmd = [sys.executable, "-m", "freezegui", "export", spec, str(rule_file), "--structure-only"]
    proc = subprocess.run(
        [*cmd, "--to", "python", "-o", str(out)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    ran = subprocess.run([sys.executable, str(out)], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "INJECTED" not in ran.stdout + ran.stderr
