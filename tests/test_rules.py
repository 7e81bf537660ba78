"""Rule files: parsing, semantics, strict mode, the seed's acceptance numbers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

import freezegui
from freezegui.core.errors import FingerprintWarning, FreezeguiWarning, RuleError
from freezegui.core.rules.ruleset import Method, NormPolicy, RuleSet, rules_from_selection
from freezegui.core.structure.tree import build_tree
from tests import models

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def test_resnet18_head_only(resnet18_10, tmp_path: Path) -> None:
    path = write(tmp_path, "default: freeze\nrules:\n  - train: fc\n")
    report = freezegui.apply_rules(resnet18_10, path)
    assert (report.trainable, report.frozen, report.total) == (5_130, 11_176_512, 11_181_642)
    assert str(report) == "trainable 5,130 | frozen 11,176,512 | total 11,181,642 (0.05 %)"
    assert freezegui.count_parameters(resnet18_10).trainable == 5_130
    assert {n for n, p in resnet18_10.named_parameters() if p.requires_grad} == {"fc.weight", "fc.bias"}


def test_seed_example_files_apply(resnet18_10) -> None:
    report = freezegui.apply_rules(resnet18_10, EXAMPLES / "resnet18_head.yaml")
    assert report.trainable == 5_130


def test_bert_base_last_two_blocks(bert_base_meta) -> None:
    report = freezegui.apply_rules(bert_base_meta, EXAMPLES / "bert_last2.yaml")
    assert report.total == 109_482_240
    assert report.trainable == 14_766_336


def test_gpt2_total_counts_tied_once() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    with torch.device("meta"):
        model = GPT2LMHeadModel(GPT2Config())
    counts = freezegui.count_parameters(model)
    assert counts.total == 124_439_808 == sum(p.numel() for p in model.parameters())
    tree = build_tree(model)
    assert tree.total_params == 124_439_808
    head = tree.node("lm_head").params[0]
    assert head.aliases == ["transformer.wte.weight"]
    # Freezing the head freezes the one tied tensor, counted once.
    report = freezegui.apply_rules(model, RuleSet.loads("rules:\n  - freeze: lm_head\n"))
    assert report.frozen == 50257 * 768
    assert not model.transformer.wte.weight.requires_grad


def test_strict_rule_matching_nothing_changes_nothing(tmp_path: Path) -> None:
    model = models.MLP()
    model.fc1.weight.requires_grad_(False)
    before = {n: p.requires_grad for n, p in model.named_parameters()}
    path = write(tmp_path, "default: freeze\nrules:\n  - train: fc\n")
    with pytest.raises(RuleError, match=r"rules.yaml.*`train: fc` \(line 3\) matches no parameter"):
        freezegui.apply_rules(model, path)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == before


def test_non_strict_warns_and_applies(tmp_path: Path) -> None:
    model = models.MLP()
    path = write(tmp_path, "default: freeze\nrules:\n  - train: fc\n  - train: fc2\n")
    with pytest.warns(FreezeguiWarning, match="matches no parameter"):
        report = freezegui.apply_rules(model, path, strict=False)
    assert report.trainable == 16 * 4 + 4
    assert [m.params for m in report.matches] == [0, 2]


def test_last_matching_rule_wins() -> None:
    model = models.SmallConvNet()
    rs = RuleSet.loads(
        """
        default: train
        rules:
          - freeze: features
          - train: features.4
          - freeze: "**.bias"
        """
    )
    freezegui.apply_rules(model, rs)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"features.4.weight", "fc.weight"}


def test_fingerprint_mismatch_warns(tmp_path: Path) -> None:
    rs = freezegui.rules_from_model(models.SmallConvNet())
    with pytest.warns(FingerprintWarning):
        report = freezegui.apply_rules(models.SmallConvNet(num_classes=7), rs)
    assert not report.fingerprint_ok


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("rules:\n  - train: [a\n", None, "not valid YAML"),
        ("rules:\n  - train: **.bn\n", 2, "quote patterns"),
        ("default: freeze\nfrozen: [a]\n", 2, "unknown key 'frozen'"),
        ("version: 7\n", 1, "unsupported rule-file version 7"),
        ("rules:\n  - train: 're:('\n", 2, "bad regular expression"),
        ("rules:\n  - thaw: fc\n", 2, "unknown rule action 'thaw'"),
        ("method: magic\n", 1, "`method` must be one of"),
        ("rules: fc\n", 1, "`rules:` must be a list"),
        ("model:\n  spec: x\n  colour: red\n", 3, "unknown key 'colour' under `model:`"),
        ("", None, "empty"),
    ],
)
def test_malformed_files_name_file_and_line(
    tmp_path: Path, text: str, line: int | None, message: str
) -> None:
    path = write(tmp_path, text, "bad.yaml")
    with pytest.raises(RuleError) as info:
        RuleSet.load(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    if line is not None:
        assert info.value.line == line
        assert f"bad.yaml:{line}:" in str(info.value)


def test_missing_file() -> None:
    with pytest.raises(RuleError, match="no such rule file"):
        RuleSet.load("/nonexistent/rules.yaml")


def test_dump_load_roundtrip_keeps_everything() -> None:
    rs = RuleSet.loads(
        'version: 1\nmodel: {spec: "torchvision:resnet18", num_classes: 10, fingerprint: abc, parameters: 5}\n'
        "default: freeze\nmethod: lr_zero\nbatchnorm: update_stats\n"
        'rules:\n  - train: fc\n  - freeze: "**.bn*"\n  - train: "re:layer4\\\\..*"\n'
    )
    again = RuleSet.loads(rs.dumps())
    assert again.to_dict() == rs.to_dict()
    assert [str(r) for r in again.rules] == ["train: fc", "freeze: **.bn*", r"train: re:layer4\..*"]


def test_list_of_patterns_in_one_rule() -> None:
    rs = RuleSet.loads("default: freeze\nrules:\n  - train: [encoder.layer.10, encoder.layer.11, pooler]\n")
    assert [r.pattern.text for r in rs.rules] == ["encoder.layer.10", "encoder.layer.11", "pooler"]


def test_shortest_rules_for_head_only(resnet18_10) -> None:
    tree = build_tree(resnet18_10)
    mask = torch.tensor([n.startswith("fc.") for n in (p.name for p in tree.params)]).numpy()
    rs = rules_from_selection(tree, mask)
    assert rs.default == "freeze"
    assert [str(r) for r in rs.rules] == ["train: fc"]


def test_rules_from_model_reproduces_bert_selection(bert_base_meta) -> None:
    freezegui.apply_rules(bert_base_meta, EXAMPLES / "bert_last2.yaml")
    rs = freezegui.rules_from_model(bert_base_meta)
    assert [str(r) for r in rs.rules] == [
        "train: encoder.layer.10",
        "train: encoder.layer.11",
        "train: pooler",
    ]
    assert rs.default == "freeze"


def test_saved_rule_file_has_normal_permissions_and_no_temp_left(tmp_path: Path) -> None:
    import os
    import stat

    out = tmp_path / "r.yaml"
    RuleSet.loads("default: freeze\nrules: [{train: fc}]").save(out)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["r.yaml"]


def test_method_and_batchnorm_are_enums_and_the_file_stays_plain_text() -> None:
    rs = RuleSet(method="lr_zero", batchnorm="update_stats")  # built in code from strings
    assert rs.method is Method.LR_ZERO and rs.batchnorm is NormPolicy.UPDATE_STATS
    text = rs.dumps()
    assert "method: lr_zero\n" in text and "batchnorm: update_stats\n" in text and "!!" not in text
    again = RuleSet.loads(text)
    assert again.method is Method.LR_ZERO and again.batchnorm is NormPolicy.UPDATE_STATS
    with pytest.raises(ValueError, match="lr0"):
        RuleSet(method="lr0")
