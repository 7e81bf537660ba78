"""The core never imports Qt: checked on the source and on a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "freezegui" / "core"
QT = ("PySide6", "PyQt5", "PyQt6", "qtpy", "superqt", "shiboken6", "freezegui.app")


def test_core_sources_import_no_qt() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(QT)]
    assert not offenders, offenders


def test_importing_library_loads_no_qt() -> None:
    code = (
        "import sys, freezegui, freezegui.core.apply, freezegui.core.loading, freezegui.cli.main;"
        "import pkgutil, importlib, freezegui.core as c;"
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(c.__path__, 'freezegui.core.')];"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','PyQt5','PyQt6','shiboken6','qtpy','superqt')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
