"""PEFT export and import, checked against PEFT's own matching and counting code."""

from __future__ import annotations

import copy
import json
import re
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freezegui.core.editing.selection import Selection
from freezegui.core.errors import RuleError
from freezegui.core.interop.peft import (
    PeftExportError,
    from_peft,
    read_adapter_folder,
    read_peft_config,
    target_matches,
    to_peft,
)
from freezegui.core.rules.lora import LoraBias, LoraSettings, adaptable_mask
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.structure.tree import ModuleTree, build_tree
from tests import models

peft = pytest.importorskip("peft")
from peft.tuners.tuners_utils import check_target_module_exists  # noqa: E402


def _peft_model(model, config: dict):  # type: ignore[no-untyped-def]
    kwargs = {k: v for k, v in config.items() if k not in ("peft_type", "base_model_name_or_path")}
    return peft.get_peft_model(copy.deepcopy(model), peft.LoraConfig(**kwargs))


def _peft_adapted(pm) -> set[str]:  # type: ignore[no-untyped-def]
    return {
        n.removeprefix("base_model.model.")
        for n, m in pm.named_modules()
        if isinstance(m, peft.tuners.lora.LoraLayer)
    }


def _peft_saved(pm) -> set[str]:  # type: ignore[no-untyped-def]
    from peft.utils.other import ModulesToSaveWrapper

    return {
        n.removeprefix("base_model.model.")
        for n, m in pm.named_modules()
        if isinstance(m, ModulesToSaveWrapper)
    }


def _agrees_with_peft_matching(tree: ModuleTree, config: dict) -> None:
    cfg = peft.LoraConfig(
        **{k: v for k, v in config.items() if k not in ("peft_type", "base_model_name_or_path")}
    )
    for path in tree.paths[1:]:
        assert bool(check_target_module_exists(cfg, path)) == target_matches(config, path), path


# ------------------------------------------------------------------------------------ acceptance
def test_llama_q_v_lora_plus_lm_head_counts_equal_peft() -> None:
    model = models.tiny_llama()
    tree = build_tree(model)
    sel = Selection(tree)
    sel.set_mask(np.zeros(len(tree.params), dtype=bool), label="freeze")
    sel.set_subtree(tree.node("lm_head"), True)
    for i, p in enumerate(tree.paths):
        if p.endswith((".q_proj", ".v_proj")):
            sel.set_adapted(tree.nodes[i], True)
    sel.set_lora_settings(LoraSettings(r=8, lora_alpha=16))
    exported = to_peft(tree, sel.trainable, sel.adapted, sel.lora_settings)
    assert exported.config["target_modules"] == ["q_proj", "v_proj"]
    assert exported.config["modules_to_save"] == ["lm_head"]
    pm = _peft_model(model, exported.config)
    assert sel.counts().trainable == pm.get_nb_trainable_parameters()[0]
    assert _peft_adapted(pm) == set(sel.adapted_names())
    assert _peft_saved(pm) == {"lm_head"}
    _agrees_with_peft_matching(tree, exported.config)


# ------------------------------------------------------------------------------------ round trip
@cache
def _arch(name: str) -> tuple[object, ModuleTree]:
    model = {"llama": models.tiny_llama, "gpt2": models.tiny_gpt2, "bert": models.tiny_bert}[name]()
    return model, build_tree(model)


def _candidates(tree: ModuleTree) -> list[int]:
    """Adaptable modules, the tied output embedding left out (PEFT unties what it adapts)."""
    out = []
    for i in np.flatnonzero(adaptable_mask(tree)).tolist():
        if any(tree.ties.get(int(p)) for p in tree.direct_param_indices(i)):
            continue
        out.append(i)
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(arch=st.sampled_from(["llama", "gpt2", "bert"]), data=st.data())
def test_round_trip_random_adapter_sets(arch: str, data: st.DataObject) -> None:
    model, tree = _arch(arch)
    cands = _candidates(tree)
    chosen = data.draw(st.sets(st.sampled_from(cands), min_size=1, max_size=len(cands)), label="adapted")
    r = data.draw(st.integers(1, 12), label="r")
    dora = data.draw(st.booleans(), label="dora")
    adapted = np.zeros(len(tree.modules), dtype=bool)
    adapted[sorted(chosen)] = True
    trainable = np.zeros(len(tree.params), dtype=bool)
    lora = LoraSettings(r=r, lora_alpha=2 * r, use_dora=dora)
    exported = to_peft(tree, trainable, adapted, lora)
    _agrees_with_peft_matching(tree, exported.config)
    pm = _peft_model(model, exported.config)
    assert _peft_adapted(pm) == {tree.paths[i] for i in chosen}
    sel = Selection(tree, trainable)
    sel.set_lora_settings(lora)
    sel.set_adapted_mask(adapted, label="random")
    assert sel.counts().trainable == pm.get_nb_trainable_parameters()[0]
    imported = from_peft(json.loads(exported.json()), tree)
    assert imported.problems == []
    assert np.array_equal(imported.adapted, adapted)
    again = RuleSet.loads(imported.rules.dumps())
    assert again.lora is not None and again.lora.settings == lora
    assert np.array_equal(again.lora.adapted(tree), adapted)
    assert not again.evaluate(tree)[0].any()


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_round_trip_with_fully_trained_modules(data: st.DataObject) -> None:
    model, tree = _arch("llama")
    cands = _candidates(tree)
    chosen = data.draw(st.sets(st.sampled_from(cands), min_size=1, max_size=6), label="adapted")
    leaves = [
        i
        for i in range(1, len(tree.modules))
        if tree.node_end[i] == i + 1 and tree.nparams[i] and i not in chosen
    ]
    saved = data.draw(st.sets(st.sampled_from(leaves), max_size=4), label="saved")
    adapted = np.zeros(len(tree.modules), dtype=bool)
    adapted[sorted(chosen)] = True
    trainable = np.zeros(len(tree.params), dtype=bool)
    for i in saved:
        trainable[tree.direct_param_indices(i)] = True
    try:
        exported = to_peft(tree, trainable, adapted, LoraSettings(r=4))
    except PeftExportError as exc:
        assert "suffix" in str(exc) or "single out" in str(exc)
        return
    pm = _peft_model(model, exported.config)
    assert _peft_adapted(pm) == {tree.paths[i] for i in chosen}
    assert _peft_saved(pm) == {tree.paths[i] for i in saved}
    sel = Selection(tree, trainable)
    sel.set_lora_settings(LoraSettings(r=4))
    sel.set_adapted_mask(adapted, label="random")
    assert sel.counts().trainable == pm.get_nb_trainable_parameters()[0]
    imported = from_peft(exported.config, tree)
    assert np.array_equal(imported.trainable, trainable)
    assert np.array_equal(imported.adapted, adapted)


def test_layers_to_transform_when_that_is_the_shape() -> None:
    model, tree = _arch("llama")
    adapted = np.array(
        [p in ("model.layers.1.self_attn.q_proj", "model.layers.2.self_attn.q_proj") for p in tree.paths]
    )
    trainable = np.zeros(len(tree.params), dtype=bool)
    exported = to_peft(tree, trainable, adapted, LoraSettings(r=4))
    assert exported.config["target_modules"] == ["q_proj"]
    assert exported.config["layers_to_transform"] == [1, 2]
    assert _peft_adapted(_peft_model(model, exported.config)) == {
        tree.paths[i] for i in np.flatnonzero(adapted)
    }


def test_regex_when_no_suffix_list_is_exact() -> None:
    model, tree = _arch("llama")
    want = {
        "model.layers.0.self_attn.q_proj",
        "model.layers.1.self_attn.k_proj",
        "model.layers.2.mlp.up_proj",
    }
    adapted = np.array([p in want for p in tree.paths])
    exported = to_peft(tree, np.zeros(len(tree.params), dtype=bool), adapted, LoraSettings(r=4))
    assert _peft_adapted(_peft_model(model, exported.config)) == want
    _agrees_with_peft_matching(tree, exported.config)


# ------------------------------------------------------------------------------------ head / lm_head
def _head_model_export(trained: list[str], adapted: list[str] = ["body.0"]):  # type: ignore[no-untyped-def]  # noqa: B006
    model = models.HeadAndLmHead()
    tree = build_tree(model)
    mask = np.zeros(len(tree.params), dtype=bool)
    for path in trained:
        mask[tree.param_indices(tree.node(path))] = True
    adapt = np.array([p in adapted for p in tree.paths])
    return model, tree, to_peft(tree, mask, adapt, LoraSettings(r=2))


def test_lm_head_alone_does_not_train_head() -> None:
    model, _, exported = _head_model_export(["lm_head"])
    assert exported.config["modules_to_save"] == ["lm_head"]
    assert _peft_saved(_peft_model(model, exported.config)) == {"lm_head"}


def test_nested_head_is_guarded_against_lm_head() -> None:
    model, _, exported = _head_model_export(["block.head"])
    assert exported.config["modules_to_save"] == [".head"]  # not "head": that ends "lm_head" and "subhead"
    assert _peft_saved(_peft_model(model, exported.config)) == {"block.head"}
    model, _, exported = _head_model_export(["block.subhead", "lm_head"])
    assert _peft_saved(_peft_model(model, exported.config)) == {"lm_head", "block.subhead"}
    with pytest.raises(PeftExportError, match=re.escape("would also train `block.head`")):
        _head_model_export(["head", "lm_head"])


def test_top_level_head_beside_lm_head_is_refused_with_the_reason() -> None:
    with pytest.raises(PeftExportError, match=r"bare name suffix.*would also train `lm_head`"):
        _head_model_export(["head"])


@pytest.mark.parametrize(
    ("trained", "adapted", "message"),
    [
        ([], [], "at least one target"),
        (["body.0.weight"], ["body.2"], "trains but the rest of `body.0` does not"),
    ],
)
def test_refusals(trained: list[str], adapted: list[str], message: str) -> None:
    tree = build_tree(models.HeadAndLmHead())
    mask = np.array([any(n in trained for n in p.names) for p in tree.params])
    adapt = np.array([p in adapted for p in tree.paths])
    with pytest.raises(PeftExportError, match=message):
        to_peft(tree, mask, adapt, LoraSettings())


def test_tied_modules_to_save_refused() -> None:
    tree = build_tree(models.tiny_gpt2())
    mask = np.zeros(len(tree.params), dtype=bool)
    mask[tree.param_indices(tree.node("lm_head"))] = True
    adapt = np.array([p == "transformer.h.0.attn.c_attn" for p in tree.paths])
    with pytest.raises(PeftExportError, match="tied"):
        to_peft(tree, mask, adapt, LoraSettings())


# ------------------------------------------------------------------------------------ import
def test_import_all_linear_and_unmatched_entries() -> None:
    _, tree = _arch("llama")
    imported = from_peft({"target_modules": "all-linear", "r": 4}, tree)
    assert imported.adapted.sum() == 3 * 7
    imported = from_peft(
        {
            "target_modules": ["q_proj", "nope"],
            "modules_to_save": ["lm_head", "ghost"],
            "layers_to_transform": [0, 9],
        },
        tree,
    )
    assert any("'nope' matches no module" in p for p in imported.problems)
    assert any("'ghost' matches no module" in p for p in imported.problems)
    assert any("layers_to_transform 9" in p for p in imported.problems)
    assert {tree.paths[i] for i in np.flatnonzero(imported.adapted)} == {"model.layers.0.self_attn.q_proj"}


def test_import_reproduces_peft_suffix_semantics() -> None:
    model, tree = _arch("llama")
    config = {"target_modules": ["proj"], "modules_to_save": ["norm"]}  # "proj" matches no ".proj" suffix
    assert from_peft({**config, "target_modules": ["o_proj"]}, tree).adapted.sum() == 3
    imported = from_peft({**config, "target_modules": ["o_proj"]}, tree)
    pm = _peft_model(model, {**config, "target_modules": ["o_proj"]})
    assert _peft_saved(pm) == {
        tree.paths[i] for i in range(1, len(tree.paths)) if tree.paths[i].endswith("norm")
    }
    saved_params = {n for p in np.flatnonzero(imported.trainable) for n in tree.params[int(p)].names}
    assert (
        "model.layers.0.input_layernorm.weight" in saved_params
    )  # bare suffix: "input_layernorm" ends in "norm"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1]", "JSON object"),
        ("{", "not valid JSON"),
        ('{"peft_type": "IA3"}', "not LoRA"),
        ('{"rank_pattern": {"q": 2}}', "own rank"),
    ],
)
def test_bad_adapter_config(text: str, message: str) -> None:
    with pytest.raises(Exception, match=message):
        read_peft_config(text, source="adapter_config.json")


def test_saved_adapter_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, tree = _arch("llama")
    pm = peft.get_peft_model(copy.deepcopy(model), peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    pm.save_pretrained(tmp_path / "adapter")
    imported, problems = read_adapter_folder(tmp_path / "adapter", tree)
    assert problems == []
    assert {tree.paths[i] for i in np.flatnonzero(imported.adapted)} == _peft_adapted(pm)
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    config["r"] = 8
    (tmp_path / "adapter" / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(RuleError, match="LoRA parameters"):  # weights that disagree: an error (issue 20)
        read_adapter_folder(tmp_path / "adapter", tree)


@pytest.mark.parametrize("bias", ["lora_only", "all"])
def test_bias_settings_count_as_peft_trains_them(bias: str) -> None:
    model, tree = _arch("bert")
    adapted = np.array([p.endswith((".query", ".value")) for p in tree.paths])
    trainable = np.zeros(len(tree.params), dtype=bool)
    trainable[tree.param_indices(tree.node("classifier"))] = True
    lora = LoraSettings(r=4, bias=LoraBias(bias))
    exported = to_peft(tree, trainable, adapted, lora)
    assert exported.config["bias"] == bias
    pm = _peft_model(model, exported.config)
    sel = Selection(tree, trainable)
    sel.set_lora_settings(lora)
    sel.set_adapted_mask(adapted, label="bias")
    assert sel.counts().trainable == pm.get_nb_trainable_parameters()[0]
