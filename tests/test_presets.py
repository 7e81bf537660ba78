"""Quick actions and search, as pure core functions (the app's buttons call these)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings

from freezegui.core.editing import presets
from freezegui.core.editing.document import Document
from freezegui.core.errors import RuleError
from freezegui.core.models.options import LoadOptions
from freezegui.core.rules.patterns import Pattern
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.structure.blocks import block_list
from freezegui.core.structure.tree import build_tree
from tests.strategies import module_graphs


def test_bert_block_list_last_blocks_and_search(bert_base_meta) -> None:
    tree = build_tree(bert_base_meta)
    assert tree.paths[block_list(tree)] == "encoder.layer"
    mask = presets.train_last_blocks_mask(tree, 2)
    assert int(tree.numel[mask].sum()) == 14_766_336  # encoder.layer.10, .11 and the pooler after them
    result = presets.search(tree, r"re:encoder\.layer\.1[01]|pooler")
    assert [tree.paths[i] for i in result.modules] == ["encoder.layer.10", "encoder.layer.11", "pooler"]
    assert np.array_equal(result.mask(tree), mask)
    assert result.visible[tree.index_of("encoder")] and not result.visible[tree.index_of("embeddings")]


def test_llama_block_list_keeps_final_norm_and_head() -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4, vocab_size=100
    )
    with torch.device("meta"):
        model = LlamaForCausalLM(cfg)
    tree = build_tree(model)
    assert tree.paths[block_list(tree)] == "model.layers"
    names = {tree.primary_name(i) for i in np.flatnonzero(presets.train_last_blocks_mask(tree, 1))}
    assert {"model.norm.weight", "lm_head.weight"} <= names
    assert not any(n.startswith("model.layers.2.") for n in names)
    assert len(presets.norm_indices(tree)) == 4 * 2 + 1  # LlamaRMSNorm counts as a norm layer


def test_search_plain_text_glob_and_params(resnet18_10) -> None:
    tree = build_tree(resnet18_10)
    plain = presets.search(tree, "DOWNSAMPLE")  # case-insensitive substring
    assert [tree.paths[i] for i in plain.modules] == [
        "layer2.0.downsample",
        "layer3.0.downsample",
        "layer4.0.downsample",
    ]
    glob = presets.search(tree, "layer4.*.bn*")
    assert len(glob.modules) == 4
    by_name = presets.search(tree, "re:.*\\.bias")
    assert by_name.modules == [] and len(by_name.occurrences) > 10
    with pytest.raises(RuleError):
        presets.search(tree, "layer[")


def test_head_and_types(resnet18_10) -> None:
    tree = build_tree(resnet18_10)
    assert tree.paths[presets.head_index(tree)] == "fc"
    assert dict(presets.type_counts(tree))["BatchNorm2d"] == 20
    assert len(presets.type_indices(tree, "BasicBlock")) == 8


def test_document_rules_round_trip(resnet18_10, tmp_path: Path) -> None:
    doc = Document.from_model(resnet18_10, LoadOptions("torchvision:resnet18", num_classes=10))
    report = doc.apply_ruleset(RuleSet.loads("default: freeze\nmethod: lr_zero\nrules: [{train: fc}]"))
    assert report.trainable == 5_130 and doc.method == "lr_zero"
    assert doc.selection.is_modified
    path = doc.save_rules(tmp_path / "r.yaml")
    assert not doc.selection.is_modified
    saved = RuleSet.load(path)
    assert (
        saved.model.spec == "torchvision:resnet18"
        and saved.model.num_classes == 10
        and saved.method == "lr_zero"
    )
    other = Document.from_model(
        type(resnet18_10)(block=type(resnet18_10.layer1[0]), layers=[2, 2, 2, 2], num_classes=10)
    )
    other.open_rules(path)
    assert other.selection.counts().trainable == 5_130 and not other.selection.is_modified


def _reference_search(tree, query: str) -> tuple[list[int], list[int], list[bool], list[bool]]:
    """What search() must return, by the plainest walk: test each path in preorder; a matching
    module covers its subtree (nothing inside it is tested); ancestors of matches are shown."""
    matcher = presets.compile_query(query)
    test = matcher.matches if isinstance(matcher, Pattern) else (lambda p: matcher in p.lower())
    n = len(tree.modules)
    modules, occs, covered = [], [], [False] * n
    parent = {i: tree.nodes[i].parent.index for i in range(1, n)}
    i = 1
    while i < n:
        if test(tree.paths[i]):
            modules.append(i)
            covered[i : tree.nodes[i].end] = [True] * (tree.nodes[i].end - i)
            i = tree.nodes[i].end
            continue
        occs += [o for o in range(tree.occ_start[i], tree.occ_start[i + 1]) if test(tree.occurrence_path(o))]
        i += 1
    occs += [o for o in range(tree.occ_start[0], tree.occ_start[1]) if test(tree.occurrence_path(o))]
    visible = list(covered)
    owners = [tree.nodes[i] for i in modules] + [tree.nodes[tree._occ_node[o]] for o in occs]
    for node in owners:
        k = node.index
        visible[k] = True
        while k:
            k = parent[k]
            visible[k] = True
    return modules, sorted(occs), covered, visible


def _queries(tree) -> list[str]:
    """Plain text, globs and regexes built from the tree's own names, plus ones that match nothing."""
    names = sorted({name for path in tree.paths[1:] for name in path.split(".")} | set(tree.occ_name))
    out = ["nothing-has-this", "re:zz+", "**", "*", "re:.*", "**.p0", "*.m1.*"]
    for name in names[:6]:
        out += [name, name.upper()[:2], f"*.{name}", f"**.{name}", f"re:(.*\\.)?{name}", f"{name[:1]}*"]
    return out


@settings(max_examples=40, deadline=None)
@given(model=module_graphs())
def test_search_matches_a_plain_walk_on_random_graphs(model) -> None:
    tree = build_tree(model)
    for query in _queries(tree):
        result = presets.search(tree, query)
        modules, occs, covered, visible = _reference_search(tree, query)
        assert result.modules == modules, query
        assert sorted(result.occurrences) == occs, query
        assert result.covered.tolist() == covered, query
        assert result.visible.tolist() == visible, query


@pytest.mark.parametrize(
    "query", ["layer4", "BN", "*.*.bn*", "layer[12].*.conv1", "**.weight", "re:.*\\.1\\..*", "fc.bias"]
)
def test_search_matches_a_plain_walk_on_resnet(resnet18_10, query: str) -> None:
    tree = build_tree(resnet18_10)
    result = presets.search(tree, query)
    modules, occs, covered, visible = _reference_search(tree, query)
    assert (result.modules, sorted(result.occurrences)) == (modules, occs)
    assert result.covered.tolist() == covered and result.visible.tolist() == visible
    assert result.count > 0
