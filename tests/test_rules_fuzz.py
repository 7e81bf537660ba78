"""Property tests of the rule-file reader and of the one-pass rule evaluation.

The reader takes any text or bytes: it loads, or raises :class:`RuleError`, never anything else,
and within hypothesis' deadline (no timed assertion). The evaluation agrees with the rule-by-rule
walk of the tree it replaced, on random patterns over a model with tied weights.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freezegui.core.errors import RuleError
from freezegui.core.rules.matching import match_params
from freezegui.core.rules.ruleset import Rule, RuleSet
from freezegui.core.structure.tree import build_tree
from tests.models import SmallConvNet, TiedLM

FUZZ = settings(max_examples=150, deadline=2_000, suppress_health_check=[HealthCheck.too_slow])

SEGMENTS = ["features", "fc", "0", "1", "3", "weight", "bias", "*", "**", "f*", "[0-3]", "?", "emb", "head"]
patterns = st.one_of(
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4).map(".".join),
    st.text(alphabet="ab.*?[]!^\\re:0fc", max_size=12),
    st.sampled_from(["re:features\\.\\d+", "re:(fc|head)", "re:.*bias", "re:[", "re:", "", "  "]),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=10), patterns
)
yaml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), patterns), inner, max_size=4),
    ),
    max_leaves=20,
)
rule_items = st.dictionaries(
    st.sampled_from(["train", "freeze", "trian"]), st.one_of(patterns, st.lists(patterns))
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "version": st.one_of(st.just(1), scalars),
        "default": st.one_of(st.sampled_from(["train", "freeze"]), scalars),
        "method": st.one_of(st.sampled_from(["requires_grad", "lr_zero"]), scalars),
        "batchnorm": st.one_of(st.sampled_from(["frozen_stats", "update_stats"]), scalars),
        "model": st.one_of(
            st.dictionaries(st.sampled_from(["spec", "num_classes", "x"]), scalars), yaml_values
        ),
        "rules": st.one_of(st.lists(st.one_of(rule_items, yaml_values), max_size=6), yaml_values),
        "extra": yaml_values,
    },
)
SNIPPETS = [
    "&a ",
    "*a ",
    "[",
    "]",
    "{",
    "}",
    ": ",
    "- ",
    "\n",
    "  ",
    "!!python/object ",
    "<<: ",
    "%YAML 1.1\n",
    "---\n",
]
yamlish = st.lists(st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=6)), max_size=40).map("".join)


def check(text: str) -> None:
    try:
        rs = RuleSet.loads(text, source="fuzz.yaml")
    except RuleError as exc:
        assert str(exc).startswith("fuzz.yaml")
        return
    assert isinstance(rs, RuleSet)
    again = RuleSet.loads(rs.dumps())  # what loads can be written and read back, unchanged
    assert again.to_dict() == rs.to_dict()
    assert [(r.action, r.pattern.text, r.lr_scale) for r in again.rules] == [
        (r.action, r.pattern.text, r.lr_scale) for r in rs.rules
    ]


@FUZZ
@given(documents)
def test_random_rule_documents(doc: dict) -> None:
    check(yaml.safe_dump(doc, sort_keys=False))


@FUZZ
@given(yamlish)
def test_random_yaml_like_text(text: str) -> None:
    check(text)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = Path(tmp_path_factory.mktemp("fuzz")) / "rules.yaml"
    path.write_bytes(data)
    try:
        RuleSet.load(path)
    except RuleError as exc:
        assert str(path) in str(exc)


@FUZZ
@given(patterns)
def test_random_patterns(pattern: str) -> None:
    check(yaml.safe_dump({"rules": [{"train": pattern}]}))


def walk_each_rule(rs: RuleSet, tree) -> np.ndarray:  # type: ignore[no-untyped-def]
    trainable = np.full(len(tree.params), rs.default == "train", dtype=bool)
    for rule in rs.rules:
        trainable[match_params(tree, rule.pattern)] = rule.trainable
    return trainable


def valid_rules(texts: list[str], actions: list[bool]) -> list[Rule]:
    out = []
    for text, train in zip(texts, actions):
        with contextlib.suppress(RuleError):
            out.append(Rule.make("train" if train else "freeze", text))
    return out


TREES = [build_tree(SmallConvNet()), build_tree(TiedLM())]


@settings(max_examples=200, deadline=2_000)
@given(
    st.sampled_from([0, 1]),
    st.lists(patterns | patterns.map(lambda t: "param:" + t), max_size=12),  # param: names tensors only
    st.lists(st.booleans(), min_size=12, max_size=12),
    st.booleans(),
)
def test_one_pass_evaluation_matches_the_tree_walk(
    which: int, texts: list[str], actions: list[bool], default: bool
) -> None:
    tree = TREES[which]
    rs = RuleSet(rules=valid_rules(texts, actions), default="train" if default else "freeze")
    mask, matches = rs.evaluate(tree)
    assert np.array_equal(mask, walk_each_rule(rs, tree))
    for m in matches:
        hit = match_params(tree, m.rule.pattern)
        assert m.params == int(hit.sum()) and m.elements == int(tree.numel[hit].sum())
