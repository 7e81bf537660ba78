"""Issue 26, case 4: work that grew quadratically (or without bound) is linear, or one clear line.

A schedule of 60,000 stages checks in linear time (the time bound here is a generous hang check;
``benchmarks/bench_schedule_check.py`` measures the growth), 30,000 nested brackets in ``--arg`` and
a PNG header claiming 50,000 x 50,000 pixels are one line each, and ``-o -`` writes to standard output.
"""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import pytest
import yaml

from tests.test_robustness import error_line, run_cli

HEAD = "default: freeze\nrules:\n- train: fc2\n"


def schedule_text(stages: int) -> str:
    """``stages`` stages, each training one of the MLP's layers: about 50 bytes a stage."""
    body = "".join(f"- at: {{step: {i + 1}}}\n  rules:\n  - train: fc{1 + i % 2}\n" for i in range(stages))
    return HEAD + "schedule:\n" + body


def test_check_of_60000_stages_finishes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "stages.yaml"
    rules.write_text(schedule_text(60_000))
    assert rules.stat().st_size < 4 * 1024 * 1024
    start = time.monotonic()
    rc, out, _ = run_cli(capsys, "check", "py:tests.models:MLP", str(rules))
    elapsed = time.monotonic() - start
    assert rc == 0 and out.rstrip().endswith(": OK")
    assert "stage 60000: trainable 212 parameters" in out
    assert elapsed < 120  # was quadratic: 1,000 stages took 24 s, 60,000 never finished


@pytest.mark.parametrize("was_on", [True, False])
def test_reading_rules_gives_the_collector_back_however_it_ends(was_on: bool) -> None:
    """The reader pauses the cyclic collector (half the time of a large file); it is back as it was
    after a read, a refused file and a read dropped half-way, and never off while none reads."""
    import gc

    from freezegui.core.errors import RuleError
    from freezegui.core.rules.ruleset import RuleSet

    (gc.enable if was_on else gc.disable)()
    try:
        seen: list[bool] = []
        steps = RuleSet.loads_steps(schedule_text(9_000))
        next(steps)
        seen.append(gc.isenabled())  # suspended mid-read: paused
        steps.close()  # the Cancel button
        assert gc.isenabled() is was_on
        assert len(RuleSet.loads(schedule_text(3)).schedule) == 3 and gc.isenabled() is was_on
        with pytest.raises(RuleError):
            RuleSet.loads(HEAD + "schedule:\n- at: {step: 1}\n  rules: [" + "[" * 100)
        assert gc.isenabled() is was_on and seen == [False]
    finally:
        gc.enable()


def test_arg_with_30000_nested_brackets_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    start = time.monotonic()
    rc, _, err = run_cli(capsys, "summary", "py:tests.models:MLP", "--arg", "x=" + "[" * 30_000)
    assert rc == 2 and time.monotonic() - start < 30
    line = error_line(err)
    assert "nesting depth" in line and "RecursionError" not in err and len(line) < 400


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` (no real pixel data behind it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_in_an_image_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / cls / "ok.png")
    bomb = tmp_path / "b" / "bomb.png"
    bomb.write_bytes(_png_header(50_000, 50_000))
    before = bomb.read_bytes()
    rc, _, err = run_cli(
        capsys, "train", "py:tests.models:SmallConvNet", "--data", str(tmp_path), "--steps", "1"
    )
    assert rc == 2
    line = error_line(err)
    assert "bomb.png claims more than" in line and "DecompressionBombError" not in err
    assert bomb.read_bytes() == before


@pytest.mark.parametrize("command", ["rules", "export", "import"])
def test_dash_output_is_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.chdir(tmp_path)
    rules = tmp_path / "r.yaml"
    rules.write_text(HEAD)
    names = tmp_path / "names.txt"
    names.write_text("fc2.weight\nfc2.bias\n")
    argv = {
        "rules": ["rules", "py:tests.models:MLP", "--train", "fc2", "-o", "-"],
        "export": ["export", "py:tests.models:MLP", str(rules), "--to", "axolotl", "-o", "-"],
        "import": ["import", str(names), "--from", "names", "-o", "-"],
    }[command]
    rc, out, _ = run_cli(capsys, *argv)
    assert rc == 0 and not (tmp_path / "-").exists()
    data = yaml.safe_load(out)
    assert data.get("unfrozen_parameters") or data.get("rules")
