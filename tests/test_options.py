"""LoadOptions: one options type from the command line, the dialog and Document to load_model."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from freezegui.core.editing.document import Document
from freezegui.core.errors import SpecError
from freezegui.core.models.options import DEFAULT_SPEC, LoadOptions, add_load_arguments


def parse(argv: list[str]) -> LoadOptions:
    parser = argparse.ArgumentParser()
    parser.add_argument("spec", nargs="?", default=DEFAULT_SPEC)
    add_load_arguments(parser)
    return LoadOptions.from_args(parser.parse_args(argv))


def test_command_line_to_options() -> None:
    assert parse([]) == LoadOptions()
    opts = parse(["py:tests.models:MLP", "--num-classes", "3", "--structure-only", "--trust-pickle"])
    assert opts == LoadOptions("py:tests.models:MLP", structure_only=True, num_classes=3, trust_pickle=True)
    assert opts.describe() == "py:tests.models:MLP (3 classes, structure only, trusting pickled code)"


def test_num_classes_zero_reaches_the_loader() -> None:
    """`--num-classes 0` used to be dropped (as falsy) and the original head kept."""
    opts = parse(["py:tests.models:MLP", "--num-classes", "0"])
    assert opts.num_classes == 0 and opts.load_kwargs()["num_classes"] == 0
    with pytest.raises(SpecError, match="num_classes must be at least 1, got 0"):
        Document.load(opts)


def test_document_keeps_its_options() -> None:
    opts = LoadOptions("py:tests.models:MLP", kwargs={})
    doc = Document.load(opts)
    assert doc.options is opts and doc.spec == opts.spec and doc.num_classes is None
    assert doc.to_ruleset().model.spec == "py:tests.models:MLP"
    with pytest.raises(AttributeError):
        opts.spec = "x"  # type: ignore[misc]  # frozen


def test_options_module_imports_no_torch() -> None:
    code = "import sys, freezegui.core.models.options, freezegui.cli.common; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_factory_arguments_reach_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    opts = parse(["py:tests.models:MLP", "--arg", "hidden=8", "--arg", "name='a b'", "--arg", "x=true"])
    assert opts.kwargs == {"hidden": 8, "name": "a b", "x": True}
    assert opts.load_kwargs()["hidden"] == 8 and "hidden=8" in opts.describe()
    for bad, message in (("num_classes=3", "use --num-classes N"), ("oops", "write --arg KEY=VALUE")):
        with pytest.raises(SystemExit) as exited:  # a usage error, before anything loads
            parse(["--arg", bad])
        assert exited.value.code == 2 and message in capsys.readouterr().err
