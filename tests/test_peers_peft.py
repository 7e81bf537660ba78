"""PEFT's own matching cases (tests/peer_cases.py) on freezegui, and on PEFT's own functions."""

from __future__ import annotations

import copy
import json
from functools import cache

import numpy as np
import pytest
import torch
from torch import nn

from freezegui.core.editing.presets import all_linear_except_head_mask
from freezegui.core.interop.peft import from_peft, minimal_target_suffixes, target_matches, to_peft
from freezegui.core.interop.peft_defaults import DEFAULT_TARGETS, peft_count_line, saved_copy_elements
from freezegui.core.rules.lora import LoraSettings
from freezegui.core.structure.tree import ModuleTree, build_tree
from tests import peer_cases

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")
from peft.tuners.lora import LoraLayer  # noqa: E402
from peft.tuners.tuners_utils import _find_minimal_target_modules, check_target_module_exists  # noqa: E402
from peft.utils.other import ModulesToSaveWrapper  # noqa: E402


class PeftMLP(nn.Module):
    """PEFT's test MLP: lin0, relu, drop, lin1, sm."""

    def __init__(self) -> None:
        super().__init__()
        self.lin0 = nn.Linear(10, 20)
        self.relu = nn.ReLU()
        self.drop = nn.Dropout(0.5)
        self.lin1 = nn.Linear(20, 2)
        self.sm = nn.LogSoftmax(dim=-1)


_SMALL = {"vocab_size": 64, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
          "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 32}  # fmt: skip


@cache
def _model(kind: str) -> nn.Module:
    torch.manual_seed(0)
    t = transformers
    if kind == "mlp":
        return PeftMLP()
    if kind.startswith("llama"):
        cls = {"llama-causal": t.LlamaForCausalLM, "llama-base": t.LlamaModel,
               "llama-seq-cls": t.LlamaForSequenceClassification}[kind]  # fmt: skip
        return cls(t.LlamaConfig(**_SMALL, num_labels=3, pad_token_id=0))
    if kind == "gpt2-causal":
        return t.GPT2LMHeadModel(t.GPT2Config(vocab_size=64, n_positions=32, n_embd=16, n_layer=2, n_head=2))
    if kind == "t5-seq2seq":
        cfg = t.T5Config(vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2)
        return t.T5ForConditionalGeneration(cfg)
    if kind == "gpt-neox-causal":
        cfg = t.GPTNeoXConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=32, max_position_embeddings=32)  # fmt: skip
        return t.GPTNeoXForCausalLM(cfg)
    if kind == "bloom":
        return t.BloomForCausalLM(t.BloomConfig(vocab_size=64, hidden_size=16, n_layer=2, n_head=2))
    raise KeyError(kind)


def _tree(kind: str) -> ModuleTree:
    return build_tree(_model(kind))


def _peft_model(kind: str, config: dict):  # type: ignore[no-untyped-def]
    kwargs = {k: v for k, v in config.items() if k not in ("peft_type", "base_model_name_or_path")}
    return peft.get_peft_model(copy.deepcopy(_model(kind)), peft.LoraConfig(**kwargs))


def _adapted(pm) -> set[str]:  # type: ignore[no-untyped-def]
    return {_bare(n) for n, m in pm.named_modules() if isinstance(m, LoraLayer)}


def _saved(pm) -> set[str]:  # type: ignore[no-untyped-def]
    return {_bare(n) for n, m in pm.named_modules() if isinstance(m, ModulesToSaveWrapper)}


def _bare(name: str) -> str:
    return name.removeprefix("base_model.model.")


# ------------------------------------------------------------------------------------ matching cases
@pytest.mark.parametrize(("key", "targets", "layers", "pattern", "expected"), peer_cases.PEFT_REGEX_CASES)
def test_regex_cases(key: str, targets, layers, pattern, expected: bool) -> None:  # type: ignore[no-untyped-def]
    config = {"target_modules": targets, "layers_to_transform": layers, "layers_pattern": pattern}
    cfg = peft.LoraConfig(target_modules=targets, layers_to_transform=layers, layers_pattern=pattern)
    theirs = bool(check_target_module_exists(cfg, key))
    assert target_matches(config, key) is theirs
    assert theirs is (expected or key in peer_cases.PEFT_0_21_2_SAYS_TRUE)


@pytest.mark.parametrize(("targets", "others", "expected"), peer_cases.PEFT_MINIMAL_TARGET_CASES)
def test_minimal_target_modules(targets: list[str], others: list[str], expected: set[str]) -> None:
    assert minimal_target_suffixes(targets, others) == expected
    assert _find_minimal_target_modules(targets, others) == expected


@pytest.mark.parametrize(("targets", "exclude", "expected"), peer_cases.PEFT_EXCLUDE_CASES)
def test_exclude_modules(targets, exclude, expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    tree = _tree("mlp")
    imported = from_peft({"target_modules": targets, "exclude_modules": exclude}, tree)
    got = [tree.paths[i] for i in np.flatnonzero(imported.adapted).tolist()]
    assert got == expected
    pm = _peft_model("mlp", {"target_modules": targets, "exclude_modules": exclude})
    assert sorted(_adapted(pm)) == expected


# ------------------------------------------------------------------------------ all-linear exports
def _all_linear_selection(kind: str) -> tuple[ModuleTree, np.ndarray, np.ndarray]:
    """What PEFT's all-linear adapts on ``kind`` (a seq-cls head trained fully, as SEQ_CLS does)."""
    tree = _tree(kind)
    config = {"target_modules": "all-linear"}
    if kind == "llama-seq-cls":
        config["task_type"] = "SEQ_CLS"
    imported = from_peft(config, tree)
    assert not imported.problems
    return tree, imported.trainable, imported.adapted


@pytest.mark.parametrize(("kind", "suffixes"), peer_cases.PEFT_ALL_LINEAR_CASES)
def test_all_linear_set_exports_and_peft_agrees(kind: str, suffixes: set[str]) -> None:
    tree, trainable, adapted = _all_linear_selection(kind)
    names = {tree.paths[i] for i in np.flatnonzero(adapted).tolist()}
    assert {n.rsplit(".", 1)[-1] for n in names} == suffixes
    exported = to_peft(tree, trainable, adapted, LoraSettings(r=2, lora_alpha=4))  # raised before
    assert exported.config["target_modules"] == "all-linear"
    pm = _peft_model(kind, exported.config)
    assert _adapted(pm) == names
    assert _saved(pm) == ({"score"} if kind == "llama-seq-cls" else set())


@pytest.mark.parametrize("kind", ["llama-causal", "gpt2-causal", "t5-seq2seq", "gpt-neox-causal", "mlp"])
def test_the_apps_all_linear_but_head_suggestion_exports(kind: str) -> None:
    tree = _tree(kind)
    adapted = all_linear_except_head_mask(tree)
    trainable = np.zeros(len(tree.params), dtype=bool)
    exported = to_peft(tree, trainable, adapted, LoraSettings(r=2, lora_alpha=4))
    pm = _peft_model(kind, exported.config)
    assert _adapted(pm) == {tree.paths[i] for i in np.flatnonzero(adapted).tolist()}


# --------------------------------------------------------------------------- PEFT's preparation
def test_default_targets_are_peft_s() -> None:
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as theirs

    assert theirs == DEFAULT_TARGETS


@pytest.mark.parametrize(
    ("kind", "value"), [("bloom", None), ("llama-causal", None), ("llama-causal", "absent")]
)
def test_missing_target_modules_take_peft_s_defaults(kind: str, value: str | None) -> None:
    tree = _tree(kind)
    config: dict[str, object] = {} if value == "absent" else {"target_modules": None}
    imported = from_peft(config, tree)
    got = {tree.paths[i] for i in np.flatnonzero(imported.adapted).tolist()}
    assert got == _adapted(_peft_model(kind, {}))
    assert got and not imported.problems
    assert any("default" in n for n in imported.notes)


def test_no_default_for_the_model_type_is_one_clear_error() -> None:
    from freezegui.core.errors import RuleError

    with pytest.raises(RuleError, match="no default targets"):
        from_peft({}, _tree("mlp"))


def test_seq_cls_keeps_the_head_out_of_lora_and_trains_it() -> None:
    tree = _tree("llama-seq-cls")
    config = {"task_type": "SEQ_CLS", "target_modules": ["q_proj", "v_proj", "score"]}
    imported = from_peft(config, tree)
    pm = _peft_model("llama-seq-cls", config)
    assert {tree.paths[i] for i in np.flatnonzero(imported.adapted).tolist()} == _adapted(pm)
    assert "score" not in _adapted(pm) and _saved(pm) == {"score"}
    assert imported.trainable[tree.param_indices(tree.node("score"))].all()
    assert imported.problems == [
        "target_modules entry 'score' names only modules_to_save modules: PEFT trains them fully and never "
        "adapts them"
    ]


def test_counts_with_modules_to_save_state_both_readings() -> None:
    tree = _tree("llama-seq-cls")
    config = {"task_type": "SEQ_CLS", "target_modules": ["q_proj", "v_proj"], "r": 2, "lora_alpha": 4}
    imported = from_peft(config, tree)
    from freezegui.core.runtime.apply import evaluate_rules

    _, _, report = evaluate_rules(tree, imported.rules)
    copies = saved_copy_elements(tree, imported.saved)
    pm = _peft_model("llama-seq-cls", config)
    trainable, total = pm.get_nb_trainable_parameters()
    assert report.counts.trainable == trainable
    assert report.counts.total + copies == total
    line = peft_count_line(report.counts.trainable, report.counts.total, copies)
    assert f"all params: {total:,}" in line and f"{100 * trainable / total:.4f}" in line


def test_cli_import_of_an_adapter_only_config_succeeds(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from freezegui.cli.main import main

    cfg = tmp_path / "adapter_config.json"
    cfg.write_text(json.dumps({"peft_type": "LORA", "r": 2, "target_modules": ["fc1"]}))
    args = [
        "import",
        str(cfg),
        "--from",
        "peft",
        "-o",
        str(tmp_path / "r.yaml"),
        "--model",
        "py:tests.models:MLP",
    ]
    assert main(args) == 0  # exit 1 before: "nothing trains" ignored the adapters
    assert "PEFT counts as freezegui does" in capsys.readouterr().err
