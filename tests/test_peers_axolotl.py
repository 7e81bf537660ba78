"""axolotl's own freeze cases (tests/peer_cases.py) on its test model, and the issue's disagreements.

axolotl is not installable here (its requirements are far heavier than freezegui's), so the
reference is its documented dialect (tests/test_axolotl_exact.py's ``axolotl_reference``, which
calls axolotl's ``freeze_layers_except`` when it is importable).
"""

from __future__ import annotations

import re
import warnings

import pytest
import yaml
from torch import nn

from freezegui.core.errors import FreezeguiWarning, RuleError
from freezegui.core.interop.axolotl import from_axolotl, import_axolotl
from freezegui.core.runtime.apply import apply_rules
from freezegui.core.structure.tree import build_tree
from tests import peer_cases
from tests.models import TiedLM
from tests.test_axolotl_exact import axolotl_reference as _reference

_SLICE = re.compile(r"^(.+)\[([0-9]*)(?::([0-9]*))?\]$")  # axolotl's row-slice suffix, stripped first


def axolotl_reference(model: nn.Module, patterns: list[str]) -> set[str]:
    """What axolotl unfreezes (its row slices stripped: they choose rows, not tensors)."""
    return _reference(model, [m.group(1) if (m := _SLICE.match(p)) else p for p in patterns])


class _Features(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(10, 10)


class AxolotlTestModel(nn.Module):
    """axolotl's test model: features.layer (Linear 10 -> 10) and classifier (Linear 10 -> 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _Features()
        self.classifier = nn.Linear(10, 2)


def _config(patterns: list[str]) -> str:
    return yaml.safe_dump({"unfrozen_parameters": patterns})


def _trains(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def _applied(model: nn.Module, text: str, **kwargs: bool) -> set[str]:
    """Import with the model, then apply the file under freezegui's default (strict) mode."""
    rs = from_axolotl(text, build_tree(model), **kwargs)
    apply_rules(model, rs)  # strict: raises if a written rule matches nothing
    return _trains(model)


@pytest.mark.parametrize(("patterns", "trains", "rows"), peer_cases.AXOLOTL_FREEZE_CASES)
def test_axolotl_freeze_cases(patterns: list[str], trains: set[str], rows: tuple[int, int] | None) -> None:
    model = AxolotlTestModel()
    assert axolotl_reference(AxolotlTestModel(), patterns) == trains
    if rows is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FreezeguiWarning)  # class[a-c]+ is left out, with a warning
            assert _applied(model, _config(patterns)) == trains
        return
    # A row slice is not expressible (freezegui freezes whole tensors): refused, or widened on request.
    with pytest.raises(RuleError, match="row slices are not supported"):
        from_axolotl(_config(patterns), build_tree(model))
    with pytest.warns(FreezeguiWarning, match="widened"):
        assert _applied(model, _config(patterns), whole_tensors=True) == trains


@pytest.mark.parametrize("pattern", peer_cases.AXOLOTL_INVALID)
def test_invalid_ranges_are_refused_as_axolotl_refuses_them(pattern: str) -> None:
    for whole in (False, True):
        with pytest.raises(RuleError, match="row range is empty"):
            from_axolotl(_config([pattern]), build_tree(AxolotlTestModel()), whole_tensors=whole)


def test_a_range_past_the_tensor_is_refused_on_the_model() -> None:
    with pytest.raises(RuleError, match=r"do not fit features\.layer\.weight"):
        from_axolotl(_config(["features.layer[4:12]"]), build_tree(AxolotlTestModel()), whole_tensors=True)


@pytest.mark.parametrize(
    ("model", "patterns", "dropped"),
    [
        (AxolotlTestModel, [r"^features.[a-z]+.weight$", "class[a-c]+"], ["class[a-c]+"]),
        (TiedLM, ["^head.weight$", "^body.0."], ["^head.weight$"]),  # tied: axolotl sees only emb.weight
        (AxolotlTestModel, [".*mlp.*", "classifier"], [".*mlp.*"]),
    ],
)
def test_an_import_applies_strictly_and_says_what_it_left_out(model, patterns, dropped) -> None:  # type: ignore[no-untyped-def]
    want = axolotl_reference(model(), patterns)
    result = import_axolotl(_config(patterns), build_tree(model()))
    assert result.dropped == dropped
    m = model()
    apply_rules(m, result.rules)  # raised RuleError before: a rule that matches nothing
    assert _trains(m) == want


def test_empty_pattern_trains_everything() -> None:
    model = AxolotlTestModel()
    assert axolotl_reference(AxolotlTestModel(), [""]) == _trains(model)
    assert _applied(model, _config([""])) == {n for n, _ in model.named_parameters()}
    assert from_axolotl(_config([""])).evaluate(build_tree(model))[0].all()


def test_cli_without_a_model_says_the_patterns_are_unchecked(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from freezegui.cli.main import main

    cfg = tmp_path / "axolotl.yml"
    cfg.write_text(_config(["^fc1."]))
    assert main(["import", str(cfg), "--from", "axolotl", "-o", str(tmp_path / "r.yaml")]) == 0
    assert "not checked against a model" in capsys.readouterr().err
