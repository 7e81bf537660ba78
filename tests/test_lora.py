"""LoRA in the core: adapter sizes (checked against PEFT's own layers), the selection's adapted state
with undo and exclusivity, the ``lora:`` rule-file section, and the Suggest helpers."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest

from freezegui.core.editing import presets
from freezegui.core.editing.document import Document
from freezegui.core.editing.selection import CheckState, Selection
from freezegui.core.errors import RuleError
from freezegui.core.rules.lora import (
    LoraBias,
    LoraConflictError,
    LoraSettings,
    adaptable_mask,
    adapter_numel,
    targets_from_adapted,
    targets_mask,
)
from freezegui.core.rules.patterns import Pattern
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.structure.tree import build_tree
from tests import models

peft = pytest.importorskip("peft")


def _peft_adapter_numel(model, names, r, use_dora):  # type: ignore[no-untyped-def]
    cfg = peft.LoraConfig(r=r, lora_alpha=2 * r, target_modules=names, use_dora=use_dora)
    pm = peft.get_peft_model(copy.deepcopy(model), cfg)
    return pm.get_nb_trainable_parameters()[0]


@pytest.mark.parametrize("use_dora", [False, True])
@pytest.mark.parametrize("name", ["lin", "emb", "c1", "c2", "c2g", "c3"])
def test_adapter_size_equals_peft(name: str, use_dora: bool) -> None:
    model = models.AdaptableZoo()
    ours = adapter_numel(getattr(model, name), 4, use_dora=use_dora)
    assert ours == _peft_adapter_numel(model, [name], 4, use_dora)


def test_adapter_size_hf_conv1d_equals_peft() -> None:
    model = models.tiny_gpt2()
    tree = build_tree(model)
    attn = tree.node("transformer.h.0.attn.c_attn").module
    assert adapter_numel(attn, 8) == 8 * (16 + 48)
    assert adapter_numel(attn, 8) == _peft_adapter_numel(model, ["h.0.attn.c_attn"], 8, False)


def test_linear_formula() -> None:
    assert adapter_numel(models.AdaptableZoo().lin, 8) == 8 * (6 + 10)
    assert adapter_numel(models.AdaptableZoo().norm, 8) == 0


def test_adaptable_types() -> None:
    tree = build_tree(models.AdaptableZoo())
    able = {tree.paths[i] for i in np.flatnonzero(adaptable_mask(tree))}
    assert able == {"lin", "emb", "c1", "c2", "c2g", "c3"}


# ------------------------------------------------------------------------------------ selection
def _llama_selection() -> Selection:
    tree = build_tree(models.tiny_llama())
    sel = Selection(tree)
    sel.set_mask(np.zeros(len(tree.params), dtype=bool), label="freeze all")
    return sel


def test_adapting_a_subtree_counts_r_in_plus_out_per_module_and_undoes() -> None:
    sel = _llama_selection()
    tree = sel.tree
    before = sel.counts()
    attn = tree.node("model.layers.1.self_attn")
    assert sel.set_adapted(attn, True)
    # q 16->16, k 16->8, v 16->8, o 16->16 at r=8
    expected = 8 * ((16 + 16) + (16 + 8) + (16 + 8) + (16 + 16))
    assert sel.counts().trainable - before.trainable == expected
    assert sel.counts().lora == expected == sel.lora_parameters()
    assert sel.counts(attn).lora == expected
    assert sel.counts(tree.node("model.layers.0")).lora == 0
    assert sel.adapted_names() == [f"model.layers.1.self_attn.{p}_proj" for p in "qkvo"]
    assert sel.lora_state(attn) is CheckState.TRAIN
    assert sel.lora_state(tree.node("model.layers.1")) is CheckState.PARTIAL
    assert sel.lora_state(tree.node("model.layers.0")) is CheckState.FREEZE
    assert sel.lora_state(tree.node("model.norm")) is CheckState.EMPTY
    sel.set_lora_settings(LoraSettings(r=2))
    assert sel.counts().lora == expected // 4
    assert sel.undo()  # the settings are an edit of their own
    assert sel.counts().lora == expected
    assert sel.undo()
    assert sel.counts().lora == 0 and not sel.adapted.any()
    assert sel.redo()
    assert sel.redo()
    assert len(sel.adapted_names()) == 4


def test_labelled_settings_change_is_one_undoable_edit() -> None:
    """The app's settings dialog: undo restores the rank (and its counts), the file counts as unsaved."""
    sel = _llama_selection()
    sel.set_adapted(sel.tree.node("model.layers.0.mlp"), True)
    sel.mark_saved()
    r8 = sel.counts().lora
    sel.set_lora_settings(LoraSettings(r=8), label="LoRA settings")  # unchanged: no edit
    assert not sel.is_modified
    sel.set_lora_settings(LoraSettings(r=2, use_dora=True), label="LoRA settings")
    assert sel.is_modified and sel.undo_label == "LoRA settings"
    assert sel.counts().lora == r8 // 4 + (32 + 32 + 16)  # DoRA: a magnitude per output feature
    assert sel.undo()
    assert sel.lora_settings == LoraSettings() and sel.counts().lora == r8 and not sel.is_modified
    assert sel.redo()
    assert sel.lora_settings.r == 2


def test_train_and_adapt_are_exclusive() -> None:
    sel = _llama_selection()
    tree = sel.tree
    q = tree.node("model.layers.0.self_attn.q_proj")
    sel.set_subtree(q, True)
    with pytest.raises(
        LoraConflictError, match=re.escape("model.layers.0.self_attn.q_proj is trained fully")
    ):
        sel.set_adapted(q, True)
    assert not sel.adapted.any()
    sel.set_subtree(q, False)
    sel.set_adapted(tree.node("model.layers.0"), True)
    with pytest.raises(LoraConflictError, match="adapted"):
        sel.set_subtree(tree.node("model.layers.0.self_attn"), True)
    assert not sel.trainable[tree.param_indices(q)].any()
    # the norm layers beside the adapters may still train
    assert sel.set_subtree(tree.node("model.layers.0.input_layernorm"), True)


def test_bias_setting_counts_biases_peft_trains() -> None:
    tree = build_tree(models.tiny_bert())
    sel = Selection(tree)
    sel.set_mask(np.zeros(len(tree.params), dtype=bool), label="freeze")
    query = tree.node("bert.encoder.layer.0.attention.self.query")
    sel.set_adapted(query, True)
    base = sel.counts().trainable
    sel.set_lora_settings(LoraSettings(r=8, bias=LoraBias.LORA_ONLY))
    assert sel.counts().trainable == base + 16
    sel.set_lora_settings(LoraSettings(r=8, bias=LoraBias.ALL))
    biases = sum(p.numel for p in tree.params if any("bias" in n for n in p.names))
    assert sel.counts().trainable == base + biases


# ------------------------------------------------------------------------------------ rule file
LORA_RULES = """\
version: 1
default: freeze
rules:
- train: lm_head
lora:
  r: 4
  lora_alpha: 8
  dropout: 0.1
  use_dora: true
  bias: lora_only
  targets:
  - model.layers.*.self_attn.q_proj
  - model.layers.2
"""


def test_lora_section_round_trip_and_semantics() -> None:
    rs = RuleSet.loads(LORA_RULES)
    assert rs.lora is not None
    assert rs.lora.settings == LoraSettings(
        r=4, lora_alpha=8, dropout=0.1, use_dora=True, bias=LoraBias.LORA_ONLY
    )
    tree = build_tree(models.tiny_llama())
    adapted = {tree.paths[i] for i in np.flatnonzero(rs.lora.adapted(tree))}
    layer2 = {f"model.layers.2.{p}" for p in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")}
    layer2 |= {
        f"model.layers.2.{p}" for p in ("self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
    }
    assert adapted == {"model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj"} | layer2
    again = RuleSet.loads(rs.dumps())
    assert again.lora is not None and again.lora.to_dict() == rs.lora.to_dict()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("lora: 3", "must be a mapping"),
        ("lora:\n  rank: 3", "unknown key 'rank'"),
        ("lora:\n  r: 0", "positive integer"),
        ("lora:\n  bias: some", "none, all, lora_only"),
        ("lora:\n  targets: [1]", "list of module patterns"),
        ("lora:\n  use_dora: 2", "wrong type"),
        ("lora:\n  targets: ['a..b']", "empty segment"),
    ],
)
def test_bad_lora_section_is_one_line_error(section: str, message: str) -> None:
    with pytest.raises(RuleError, match=message) as info:
        RuleSet.loads("version: 1\nrules: []\n" + section + "\n", source="r.yaml")
    assert str(info.value).startswith("r.yaml:")


def test_targets_from_adapted_are_short_and_exact() -> None:
    tree = build_tree(models.tiny_llama())
    want = np.zeros(len(tree.modules), dtype=bool)
    for i, p in enumerate(tree.paths):
        if p.endswith(("q_proj", "v_proj")) or p == "model.layers.1.mlp.up_proj":
            want[i] = True
    targets = targets_from_adapted(tree, want)
    assert targets == [
        "model.layers.*.self_attn.q_proj",
        "model.layers.*.self_attn.v_proj",
        "model.layers.1.mlp.up_proj",
    ]
    assert np.array_equal(targets_mask(tree, [Pattern.compile(t) for t in targets]), want)


def test_document_saves_and_reopens_adapters(tmp_path) -> None:  # type: ignore[no-untyped-def]
    doc = Document.from_model(models.tiny_llama(), "test")
    doc.selection.set_mask(np.zeros(len(doc.tree.params), dtype=bool), label="freeze")
    doc.selection.set_adapted(doc.tree.node("model.layers.0.mlp"), True)
    doc.selection.set_lora_settings(LoraSettings(r=2, lora_alpha=4))
    counts = doc.selection.counts()
    path = doc.save_rules(tmp_path / "r.yaml")
    other = Document.from_model(models.tiny_llama(), "test")
    other.open_rules(path)
    assert other.selection.adapted_names() == doc.selection.adapted_names()
    assert other.selection.counts() == counts
    assert not other.selection.is_modified
    other.selection.undo()
    assert not other.selection.adapted.any()


# ------------------------------------------------------------------------------------ suggest
def _names(tree, mask):  # type: ignore[no-untyped-def]
    return {tree.paths[i] for i in np.flatnonzero(mask)}


def test_suggest_attention_projections() -> None:
    for model, expected in [
        (models.tiny_llama(1), {f"model.layers.0.self_attn.{p}_proj" for p in "qkvo"}),
        (models.tiny_gpt2(), {f"transformer.h.{i}.attn.{p}" for i in (0, 1) for p in ("c_attn", "c_proj")}),
    ]:
        tree = build_tree(model)
        assert _names(tree, presets.attention_projections_mask(tree)) == expected
    tree = build_tree(models.tiny_bert())
    got = _names(tree, presets.attention_projections_mask(tree))
    assert "bert.encoder.layer.1.attention.self.query" in got
    assert "bert.encoder.layer.1.attention.output.dense" in got
    assert "bert.encoder.layer.1.intermediate.dense" not in got


def test_suggest_all_linear_matches_peft() -> None:
    for model in (models.tiny_llama(2), models.tiny_gpt2()):
        tree = build_tree(model)
        ours = _names(tree, presets.all_linear_except_head_mask(tree))
        pm = peft.get_peft_model(copy.deepcopy(model), peft.LoraConfig(r=2, target_modules="all-linear"))
        theirs = {
            n.removeprefix("base_model.model.")
            for n, m in pm.named_modules()
            if isinstance(m, peft.tuners.lora.LoraLayer)
        }
        assert ours == theirs
        assert "lm_head" not in ours


def test_suggest_last_blocks_and_apply_as_one_edit() -> None:
    tree = build_tree(models.tiny_llama(3))
    mask = presets.last_blocks_lora_mask(tree, 1)
    assert _names(tree, mask) == {
        f"model.layers.2.{p}"
        for p in (
            *("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"),
            *("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"),
        )
    }
    sel = Selection(tree)  # everything trains: the suggestion freezes the adapted modules itself
    assert presets.suggest_adapters(sel, mask, label="Suggest")
    assert sel.adapted.sum() == 7
    assert not sel.trainable[tree.param_indices(tree.node("model.layers.2.mlp.up_proj"))].any()
    sel.undo()
    assert sel.trainable.all() and not sel.adapted.any()
