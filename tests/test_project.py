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


def test_readme_launch_command_starts_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Quick start's ``pip install -e . && freezegui``: the last step is this project's console
    script, and run as the README runs it (no arguments) it opens the app on the default model."""
    import importlib
    import shlex

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    launch = [c for c in _readme_commands() if c.startswith("pip install -e .") and "&&" in c]
    assert launch, "the Quick start launch command is gone"
    argv = shlex.split(launch[0].split("&&")[-1])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert argv[0] in scripts, f"{argv[0]!r} is not a console script of this project"
    module, _, name = scripts[argv[0]].partition(":")
    opened: list[list[str]] = []
    import freezegui.app.main as app_main

    monkeypatch.setattr(app_main, "run_app", lambda args: opened.append(list(args)) or 0)
    assert getattr(importlib.import_module(module), name)(argv[1:]) == 0
    assert opened == [argv[1:]] == [[]]  # the app, on its default model (no subcommand ran)


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
