"""The strict type check: ``mypy`` as configured in pyproject.toml (strict, freezegui/core and freezegui/app) passes.

mypy keeps its cache in .mypy_cache, so a repeated run re-reads torch's stubs from there (seconds);
the first run on a fresh checkout analyses them (minutes on a slow machine).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_check_is_strict_over_the_core_and_the_app() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert config["strict"] is True and config["files"] == ["freezegui/core", "freezegui/app"]
    for override in config.get("overrides", []):  # only missing third-party types may be ignored
        assert set(override) <= {"module", "ignore_missing_imports"}
        assert not any(m.startswith("freezegui") for m in override["module"])


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy not installed")
def test_core_and_app_pass_mypy_strict() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_window_types_its_collaborators() -> None:
    """The docks and dialogs name the window's type, not ``Any``: mypy then checks every use of it."""
    app = ROOT / "freezegui" / "app"
    bare = [
        f"{path.relative_to(app)}:{n}"
        for path in app.rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "window: Any" in line or "(w: Any)" in line
    ]
    assert not bare, bare
