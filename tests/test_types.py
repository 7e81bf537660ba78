"""The core's strict type check: ``mypy`` as configured in pyproject.toml (strict, freezegui/core) passes.

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


def test_the_check_is_strict_over_the_whole_core() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert config["strict"] is True and config["files"] == ["freezegui/core"]
    for override in config.get("overrides", []):  # only missing third-party types may be ignored
        assert set(override) <= {"module", "ignore_missing_imports"}
        assert not any(m.startswith("freezegui") for m in override["module"])


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy not installed")
def test_core_passes_mypy_strict() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
