"""Regression guard: PySide6 6.12.0 on CPython < 3.12 leaks a reference to True/None per Python-side emit.

After ~1000 emits the interpreter aborts (``Fatal Python error: bool_dealloc``), which would take the
whole app down mid-session. The emits run in a subprocess so such an abort fails this test instead of
killing pytest. CPython 3.12+ has immortal singletons, so only the refcount check is version-bound.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

N = 100_000
REFCOUNT_TOLERANCE = 100  # a few stray references from the loop itself are fine; a leak is ~N

SCRIPT = textwrap.dedent(
    f"""
    import json, sys
    from PySide6.QtCore import QCoreApplication, QObject, Signal

    class Emitter(QObject):
        flag = Signal(bool)
        ping = Signal()

    class Counter:
        def __init__(self):
            self.flags = 0
            self.pings = 0

        def on_flag(self, value):
            self.flags += 1

        def on_ping(self):
            self.pings += 1

    app = QCoreApplication.instance() or QCoreApplication([])
    emitter, counter = Emitter(), Counter()
    emitter.flag.connect(counter.on_flag)
    emitter.ping.connect(counter.on_ping)
    for _ in range(10):  # warm up caches so they do not count as growth
        emitter.flag.emit(True)
        emitter.ping.emit()
        emitter.setObjectName("warm")
    counter.flags = counter.pings = 0
    true_before, none_before = sys.getrefcount(True), sys.getrefcount(None)
    for i in range({N}):
        emitter.flag.emit(True)
        emitter.ping.emit()
        emitter.setObjectName("e")  # a void C++ call, returning None
        emitter.blockSignals(False)  # returns a bool
    true_after, none_after = sys.getrefcount(True), sys.getrefcount(None)
    print(json.dumps({{
        "flags": counter.flags,
        "pings": counter.pings,
        "true_growth": true_after - true_before,
        "none_growth": none_after - none_before,
    }}))
    """
)


@pytest.fixture(scope="module")
def emit_result() -> tuple[subprocess.CompletedProcess[str], dict[str, int] | None]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=300,
    )
    lines = proc.stdout.strip().splitlines()
    return proc, (json.loads(lines[-1]) if proc.returncode == 0 and lines else None)


def test_many_python_emits_do_not_abort(emit_result):
    proc, result = emit_result
    assert proc.returncode == 0, f"the emit loop died (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
    assert result is not None
    assert result["flags"] == N
    assert result["pings"] == N


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="True/None are immortal on CPython 3.12+")
def test_emits_do_not_leak_true_or_none(emit_result):
    proc, result = emit_result
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert result is not None
    assert abs(result["true_growth"]) <= REFCOUNT_TOLERANCE, result
    assert abs(result["none_growth"]) <= REFCOUNT_TOLERANCE, result


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="PySide6 6.12.0 is only broken on CPython < 3.12")
def test_installed_pyside_is_not_the_leaking_release():
    import PySide6

    assert PySide6.__version__ != "6.12.0", "PySide6 6.12.0 aborts CPython < 3.12 after ~1000 signal emits"


def test_pyproject_excludes_the_leaking_release():
    tomllib = pytest.importorskip("tomllib")
    requirements = pytest.importorskip("packaging.requirements")
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    pyside = [requirements.Requirement(d) for d in deps if d.lower().startswith("pyside6")]
    assert pyside, "PySide6 is no longer a dependency?"
    for python in ("3.10", "3.11"):
        active = [r for r in pyside if r.marker is None or r.marker.evaluate({"python_version": python})]
        assert active, f"no PySide6 requirement applies to Python {python}"
        assert all(not r.specifier.contains("6.12.0") for r in active), f"6.12.0 allowed on Python {python}"
        assert all(r.specifier.contains("6.11.2") for r in active)
