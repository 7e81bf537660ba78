"""The public API: the types the library returns and raises are importable from ``freezegui``."""

from __future__ import annotations

import pytest

import freezegui

PUBLIC_TYPES = ("Spec", "SpecKind", "StepResult", "MethodResult", "TrainingReport", "TrainingStatus")
ERRORS = ("SpecError", "LoadError", "TrainingError", "RuleError")


@pytest.mark.parametrize("name", PUBLIC_TYPES + ERRORS)
def test_public_names_are_exported(name: str) -> None:
    assert name in freezegui.__all__
    assert isinstance(getattr(freezegui, name), type)


def test_every_error_is_a_freezegui_error() -> None:
    for name in ERRORS:
        assert issubclass(getattr(freezegui, name), freezegui.FreezeguiError)


def test_spec_and_load_errors_are_raised(tmp_path) -> None:
    with pytest.raises(freezegui.SpecError, match="cannot understand model spec"):
        freezegui.load_model("no-such-kind-of-spec")
    with pytest.raises(freezegui.SpecError, match="no model named"):
        freezegui.load_model("torchvision:resnet-not-a-model")
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(freezegui.LoadError, match="not a readable PyTorch checkpoint"):
        freezegui.load_model(str(bad))


def test_one_way_to_train() -> None:
    """The generator (``steps``) and its drain (``run``); the old duplicates are gone."""
    assert not hasattr(freezegui, "run_training")
    assert not hasattr(freezegui.TrainingRun, "__iter__")
    assert not hasattr(freezegui.TrainingRun, "stop_requested")
    assert {"steps", "run", "stop"} <= set(vars(freezegui.TrainingRun))
