"""Project hygiene: the README's commands are what CI runs, the code is ruff clean, examples run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```(?:bash|sh)\n([^\n]+)\n```", text)


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    test_command = ci[-1]
    assert test_command in _readme_commands()
    assert "pytest" in test_command


def test_readme_launch_command_starts_the_app() -> None:
    commands = _readme_commands()
    assert any(c.endswith("freezegui") for c in commands)


@pytest.mark.skipif(
    shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
    reason="ruff not installed",
)
def test_ruff_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    paths = [p for p in ("freezegui", "tests", "examples", "benchmarks", "scripts") if (ROOT / p).is_dir()]
    proc = subprocess.run([ruff, "check", *paths], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([ruff, "format", "--check", *paths], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_example_training_script_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "examples/train_head_only.py", "--steps", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "trainable 5,130 | frozen 11,176,512 | total 11,181,642 (0.05 %)" in proc.stdout
