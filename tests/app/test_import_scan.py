"""PySide6's check of each new module: our cheap version gives shiboken its own answer, is what the
app installs, and leaves the imported sources out of ``linecache`` (40 MB for torch otherwise)."""

from __future__ import annotations

import importlib
import inspect
import linecache
import subprocess
import sys
import textwrap
from types import ModuleType

import PySide6.QtCore  # noqa: F401  (shiboken's feature module exists once PySide6 is imported)
import pytest

from freezegui.app import import_scan


def shiboken_answer(module: ModuleType) -> bool:
    """What shiboken's own check (``shibokensupport.feature._mod_uses_pyside``) returns."""
    try:
        source = inspect.getsource(module)
    except (TypeError, OSError, SyntaxError):
        return False
    return "PySide6" in source


@pytest.fixture
def fresh_modules(tmp_path, monkeypatch):
    """Two modules never imported before: one that uses PySide6, one that does not."""
    (tmp_path / "scan_uses_qt.py").write_text("from PySide6.QtCore import QObject\n\nBASE = QObject\n")
    (tmp_path / "scan_plain.py").write_text("import math\n\nVALUE = math.pi  # no Qt here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("scan_uses_qt", "scan_plain"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize(
    "name",
    [
        "freezegui.app.main_window",  # says PySide6
        "freezegui.app.tree.model",
        "freezegui.core.rules.matching",  # does not
        "torch.nn.modules.linear",
        "json",
        "sys",  # built in
        "PySide6.QtCore",  # an extension module
        "math",
    ],
)
def test_same_answer_as_shiboken(name):
    module = importlib.import_module(name)
    assert import_scan.mentions_pyside(module) is shiboken_answer(module)


def test_same_answer_on_fresh_modules(fresh_modules):
    uses, plain = importlib.import_module("scan_uses_qt"), importlib.import_module("scan_plain")
    assert import_scan.mentions_pyside(uses) is shiboken_answer(uses) is True
    assert import_scan.mentions_pyside(plain) is shiboken_answer(plain) is False


def test_installed_check_flags_modules_without_filling_linecache(fresh_modules):
    assert import_scan.cheapen(), "shiboken's check moved: the app pays ~0.9 s per start again"
    feature = sys.modules["shibokensupport.feature"]
    assert feature._mod_uses_pyside is import_scan.mentions_pyside
    linecache.clearcache()
    exec("import scan_uses_qt, scan_plain", {})  # an import statement: through shiboken's hook
    assert feature.pyside_feature_dict["scan_uses_qt"] == 0  # uses PySide: default features
    assert feature.pyside_feature_dict["scan_plain"] == -1  # ignored, as shiboken decides itself
    assert not any(str(fresh_modules) in path for path in linecache.cache)


def test_the_app_installs_it_before_the_window_modules():
    code = textwrap.dedent(
        """
        import sys
        from freezegui.app.main import run_app
        import freezegui.app.main as main
        from PySide6.QtWidgets import QApplication
        seen = []
        class Stop(Exception):
            pass
        def record():
            check = sys.modules["shibokensupport.feature"]._mod_uses_pyside
            seen.append((check.__module__, "freezegui.app.main_window" in sys.modules))
            raise Stop
        main.configure_interpreter, real = (lambda: (real(), record())), main.configure_interpreter
        try:
            run_app([])
        except Stop:
            pass
        print(seen)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[('freezegui.app.import_scan', False)]", out.stderr[-2000:]
