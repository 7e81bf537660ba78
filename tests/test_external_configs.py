"""Issue 20: external configs are validated before use, LoRA settings are refused where read, and
every JSON written is standard. Through the CLI: exit code 2, one line, no traceback, inputs
unchanged, no output written."""

from __future__ import annotations

import json
import shutil
import struct
import time
from pathlib import Path

import pytest

from freezegui.cli.main import main
from freezegui.core.errors import FreezeguiError
from freezegui.core.interop.peft_files import read_safetensors_header
from freezegui.core.rules.lora import LoraSettings
from freezegui.core.standard_json import dumps

peft = pytest.importorskip("peft")

LLAMA = "py:tests.models:tiny_llama"
GOOD = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]}


def refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> str:
    """Run the CLI expecting one clear error line; the folder's files stay as they were."""
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    cpu = time.process_time()
    try:
        rc = main(list(args))
    except SystemExit as exc:
        rc = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert time.process_time() - cpu < 10
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert rc == 2 and len(errors) == 1, (rc, err)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # nothing changed, nothing written
    return errors[0]


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real PEFT adapter folder on the tiny Llama (r=4 on q/v)."""
    from tests import models

    folder = tmp_path_factory.mktemp("adapter")
    kwargs = {k: v for k, v in GOOD.items() if k != "peft_type"}
    pm = peft.get_peft_model(models.tiny_llama(), peft.LoraConfig(**kwargs))
    pm.save_pretrained(folder)
    return folder


BAD_CONFIGS = {
    'r: "abc"': ({"r": "abc"}, "`r` must be a positive integer"),
    "r: null": ({"r": None}, "`r` must be a positive integer"),
    "r: Infinity": ({"r": float("inf")}, "`r` must be a positive integer"),
    "r: 1e9": ({"r": 10**9}, "positive integer up to 65,536"),
    'bias: "weird"': ({"bias": "weird"}, "`bias` must be one of"),
    'lora_dropout: "x"': ({"lora_dropout": "x"}, "`lora_dropout` must be a number"),
    "lora_alpha: NaN": ({"lora_alpha": float("nan")}, "`lora_alpha` must be a finite number"),
    "target_modules: 3": ({"target_modules": 3}, "`target_modules` must be a string or a list"),
    "modules_to_save: [3]": ({"modules_to_save": [3]}, "`modules_to_save` must be a list of strings"),
    'layers_to_transform: "1"': ({"layers_to_transform": "1"}, "`layers_to_transform` must be"),
    "target_modules not a regex": ({"target_modules": "(q_proj"}, "not a valid regex"),
}


def _config_text(update: dict) -> str:  # type: ignore[type-arg]
    return json.dumps({**GOOD, **update})  # Python's json writes NaN/Infinity, as a careless tool would


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_adapter_config_import(case: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    update, message = BAD_CONFIGS[case]
    config = tmp_path / "adapter_config.json"
    config.write_text(_config_text(update))
    line = refused(
        capsys,
        tmp_path,
        "import",
        str(config),
        "--from",
        "peft",
        "--model",
        LLAMA,
        "-o",
        str(tmp_path / "o.yaml"),
    )
    assert message in line and str(config) in line


@pytest.mark.parametrize("case", ['r: "abc"', "target_modules: 3", "target_modules not a regex"])
def test_bad_adapter_config_summary(case: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    update, message = BAD_CONFIGS[case]
    (tmp_path / "adapter_config.json").write_text(_config_text(update))
    assert message in refused(capsys, tmp_path, "summary", LLAMA, "--adapter", str(tmp_path))


def _header(path: Path) -> tuple[dict, bytes]:  # type: ignore[type-arg]
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def _write(path: Path, header: object, body: bytes) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)


def _corrupt(folder: Path, how: str) -> None:
    weights = folder / "adapter_model.safetensors"
    header, body = _header(weights)
    name = next(k for k in header if "lora_A" in k)
    if how == "length 2^63":
        weights.write_bytes(struct.pack("<Q", 2**63) + weights.read_bytes()[8:])
    elif how == "a JSON list":
        _write(weights, [1, 2], body)
    elif how == "__metadata__ an int":
        _write(weights, {**header, "__metadata__": 3}, body)
    elif how == "string shapes":
        header[name]["shape"] = ["4", "16"]
        _write(weights, header, body)
    elif how == "unknown dtype":
        header[name]["dtype"] = "F128"
        _write(weights, header, body)
    elif how == "truncated":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif how == "mismatching":  # the config says r=8; the weights hold r=4
        config = json.loads((folder / "adapter_config.json").read_text())
        (folder / "adapter_config.json").write_text(json.dumps({**config, "r": 8}))


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("length 2^63", "claims 9,223,372,036,854,775,808 bytes"),
        ("a JSON list", "not a JSON object"),
        ("__metadata__ an int", "`__metadata__` is not a string mapping"),
        ("string shapes", "shape that is not a list of sizes"),
        ("unknown dtype", "unknown dtype"),
        ("truncated", "truncated weights"),
        ("mismatching", "LoRA parameters"),
    ],
)
def test_bad_adapter_weights(how: str, message: str, adapter: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "adapter"
    shutil.copytree(adapter, folder)
    _corrupt(folder, how)
    line = refused(capsys, tmp_path, "summary", LLAMA, "--adapter", str(folder))
    assert message in line and "adapter_model.safetensors" in line


def test_good_adapter_still_opens(adapter: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["summary", LLAMA, "--adapter", str(adapter)]) == 0
    header = read_safetensors_header(adapter / "adapter_model.safetensors")
    assert header and all("lora_" in k for k in header)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lora-r", "1000000000"], "positive integer up to 65,536"),
        (["--lora-alpha", "inf"], "lora_alpha must be a number"),
        (["--lora-alpha", "nan"], "lora_alpha must be a number"),
        (["--lora-dropout", "nan"], "dropout must be a number"),
    ],
)
def test_cli_lora_settings_refused(args: list[str], message: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    line = refused(
        capsys, tmp_path, "rules", LLAMA, "--lora", "**.q_proj", *args, "-o", str(tmp_path / "o.yaml")
    )
    assert message in line


LORA_SECTIONS = {
    "lora_alpha: .inf": ("lora_alpha: .inf", "lora_alpha must be a number"),
    "r: 1e9": ("r: 1000000000", "positive integer up to 65,536"),
    "a tag on r": ("r: !!python/name:os.system", "could not determine a constructor"),
    "an unhashable key": ("? [a, b]\n  : 1", "expected a single value here"),
    "r: !!float 8": ("r: !!float 8", "LoRA rank r must be a positive integer"),
}


@pytest.mark.parametrize("case", list(LORA_SECTIONS))
def test_rule_file_lora_settings_refused(case: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    entry, message = LORA_SECTIONS[case]
    rules = tmp_path / "r.yaml"
    rules.write_text(f"default: freeze\nrules: []\nlora:\n  {entry}\n  targets: ['**.q_proj']\n")
    for command in (
        ["summary", LLAMA, "--rules", str(rules)],
        ["export", LLAMA, str(rules), "--to", "peft", "-o", str(tmp_path / "a.json")],
    ):
        line = refused(capsys, tmp_path, *command)
        assert message in line and f"{rules}:4:" in line


def test_settings_refused_in_the_core() -> None:
    for bad in (
        {"r": 0},
        {"r": True},
        {"r": 10**9},
        {"lora_alpha": float("inf")},
        {"lora_alpha": "8"},
        {"dropout": float("nan")},
    ):
        with pytest.raises(FreezeguiError):
            LoraSettings(**bad)  # type: ignore[arg-type]
    assert LoraSettings(r=65_536, lora_alpha=0).r == 65_536


def test_json_written_is_standard() -> None:
    text = dumps({"loss": float("nan"), "ratio": [1.0, float("inf")], "ok": 1})
    assert json.loads(text) == {"loss": None, "ratio": [1.0, None], "ok": 1}
    assert "NaN" not in text and "Infinity" not in text
