"""Whole-segment pattern semantics (the substring test in tutorials gets these wrong)."""

from __future__ import annotations

import pytest

from freezegui.core.errors import RuleError
from freezegui.core.rules.patterns import Pattern


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("fc", "fc.weight", True),
        ("fc", "fc.bias", True),
        ("fc", "fc", True),
        ("fc", "fc1.weight", False),
        ("fc", "head.fc.weight", False),
        ("fc.weight", "fc.weight", True),
        ("fc.weight", "fc.bias", False),
        ("encoder.layer.1[01]", "encoder.layer.10.attention.self.query.weight", True),
        ("encoder.layer.1[01]", "encoder.layer.11.output.dense.bias", True),
        ("encoder.layer.1[01]", "encoder.layer.1.output.dense.bias", False),
        ("encoder.layer.1[01]", "encoder.layer.12.output.dense.bias", False),
        ("encoder.layer.*", "encoder.layer.3.x", True),
        ("encoder.*.3", "encoder.layer.3.x", True),
        ("encoder.*", "encoder", False),
        ("**.bn*", "layer1.0.bn1.weight", True),
        ("**.bn*", "bn1.weight", True),
        ("**.bn*", "layer1.0.conv1.weight", False),
        ("**.bn*", "layer1.0.abn1.weight", False),
        ("layer?.0", "layer1.0.conv1.weight", True),
        ("layer[!1].0", "layer1.0.conv1.weight", False),
        ("layer[!1].0", "layer2.0.conv1.weight", True),
        ("a.**.w", "a.w", True),
        ("a.**.w", "a.b.c.w", True),
        ("**", "anything.at.all", True),
        ("re:layer[12]", "layer1.0.weight", True),
        ("re:layer[12]", "layer12.weight", False),
        (r"re:encoder\.layer\.\d+\.attention", "encoder.layer.7.attention.self.key.bias", True),
        (r"re:.*\.bias", "layer1.0.bn1.bias", True),
        (r"re:.*\.bias", "layer1.0.bn1.weight", False),
    ],
)
def test_pattern_matching(pattern: str, path: str, expected: bool) -> None:
    assert Pattern.compile(pattern).matches(path) is expected


@pytest.mark.parametrize("bad", ["", "a..b", ".a", "a.", "a**.b", "re:(", "layer[1"])
def test_bad_patterns_raise_rule_error(bad: str) -> None:
    with pytest.raises(RuleError):
        Pattern.compile(bad)


def test_literal_flag() -> None:
    assert Pattern.compile("encoder.layer.10").is_literal
    assert not Pattern.compile("encoder.layer.*").is_literal
    assert not Pattern.compile("re:fc").is_literal


def test_glob_set_with_regex_set_syntax_is_literal_and_silent() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # re's FutureWarning on nested sets would reach the user
        pattern = Pattern.compile("layer[[&~|]x")
    assert all(pattern.matches(f"layer{c}x") for c in "[&~|")
    assert not pattern.matches("layerax")
