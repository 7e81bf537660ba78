"""Issue 26, case 2: a FIFO (or a device) where a file is read is refused before anything opens it.

Each case: exit code 2, one error line without a traceback, in bounded time, the FIFO never opened
(:class:`tests.fifo_guard.FifoGuard` sees any reader, and unblocks it so a regression fails, not hangs).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from freezegui.core.errors import FreezeguiError, RuleError
from freezegui.core.file_kinds import refuse_special_file
from tests.fifo_guard import FifoGuard
from tests.test_robustness import error_line, run_cli

MLP = "py:tests.models:MLP"
LLAMA = "py:tests.models:tiny_llama"


def _case(tmp_path: Path, kind: str) -> tuple[Path, list[str]]:
    """The FIFO to create and the command line that reads it."""
    if kind == "rule file":
        return tmp_path / "f.yaml", ["check", MLP, str(tmp_path / "f.yaml")]
    if kind == "import file":
        out = tmp_path / "out.yaml"
        return tmp_path / "names.txt", [
            "import",
            str(tmp_path / "names.txt"),
            "--from",
            "names",
            "-o",
            str(out),
        ]
    if kind == "weights":
        return tmp_path / "w.safetensors", ["summary", MLP, "--weights", str(tmp_path / "w.safetensors")]
    if kind == "hf-config file":
        return tmp_path / "config.json", ["summary", f"hf-config:{tmp_path / 'config.json'}"]
    if kind == "hf-config folder":
        (tmp_path / "m").mkdir()
        return tmp_path / "m" / "config.json", ["summary", f"hf-config:{tmp_path / 'm'}", "--structure-only"]
    if kind == "hf folder weights":
        (tmp_path / "m").mkdir()
        (tmp_path / "m" / "config.json").write_text(
            json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]})
        )
        return tmp_path / "m" / "model.safetensors", ["summary", f"hf:{tmp_path / 'm'}"]
    if kind == "adapter config":
        (tmp_path / "ad").mkdir()
        return tmp_path / "ad" / "adapter_config.json", ["summary", LLAMA, "--adapter", str(tmp_path / "ad")]
    assert kind == "data"
    return tmp_path / "d.txt", ["train", MLP, "--data", str(tmp_path / "d.txt"), "--steps", "1", "--no-plan"]


KINDS = [
    "rule file",
    "import file",
    "weights",
    "hf-config file",
    "hf-config folder",
    "hf folder weights",
    "adapter config",
    "data",
]


@pytest.mark.parametrize("kind", KINDS)
def test_a_fifo_input_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    fifo, argv = _case(tmp_path, kind)
    guard = FifoGuard(fifo)
    start = time.monotonic()
    rc, _, err = run_cli(capsys, *argv)
    elapsed = time.monotonic() - start
    assert guard.close(), "the FIFO was opened"
    assert rc == 2
    assert "named pipe (FIFO), not a regular file" in error_line(err)
    assert elapsed < 60


def test_a_fifo_image_in_an_image_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / cls / "ok.png")
    guard = FifoGuard(tmp_path / "b" / "pipe.png")
    rc, _, err = run_cli(
        capsys, "train", "py:tests.models:SmallConvNet", "--data", str(tmp_path), "--steps", "1"
    )
    assert guard.close() and rc == 2
    assert "pipe.png is a named pipe (FIFO)" in error_line(err)


def test_devices_and_folders_are_named(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="is a character device, not a regular file"):
        refuse_special_file("/dev/null", "rule file", RuleError)
    with pytest.raises(FreezeguiError, match="is a folder, not a weights file"):
        refuse_special_file(tmp_path, "weights file")
    refuse_special_file(tmp_path, "data folder", folder_ok=True)
    refuse_special_file(tmp_path / "missing", "rule file")  # the caller's own open says it is missing
    (tmp_path / "ok.json").write_text(json.dumps({}))
    refuse_special_file(tmp_path / "ok.json", "config file")
