"""Layers as a contract: the core imports neither app, CLI nor Qt; the app and the CLI never import each
other; the window paints without torch; the CLI runs without Qt. Checked on the source and in fresh
interpreters."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

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
        "import sys, freezegui, freezegui.core.runtime.apply, freezegui.core.models.loading, freezegui.cli.main;"
        "import pkgutil, importlib, freezegui.core as c;"
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(c.__path__, 'freezegui.core.')];"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','PyQt5','PyQt6','shiboken6','qtpy','superqt')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_import_contracts() -> None:
    """pyproject's [tool.importlinter] contracts: the core imports neither app nor CLI (nor Qt), and
    the app and the CLI never import each other; only freezegui.launcher dispatches to both."""
    lint = Path(sys.executable).parent / "lint-imports"
    if not lint.exists():
        pytest.skip("import-linter not installed")
    out = subprocess.run([str(lint)], cwd=CORE.parents[1], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "broken" in out.stdout and " 0 broken" in out.stdout


def test_the_window_modules_import_no_torch() -> None:
    """What the window needs to paint imports neither torch nor the CLI: torch loads after the paint."""
    out = _run(
        "import sys, freezegui.app.main, freezegui.app.main_window, freezegui.launcher;"
        "bad=[m for m in ('torch', 'torchvision', 'transformers', 'freezegui.cli') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_cli_commands_import_no_qt(tmp_path: Path) -> None:
    """summary / rules / check run without Qt; a torchvision spec never imports transformers."""
    rules = tmp_path / "head.yaml"
    rules.write_text("default: freeze\nrules: [{train: fc}]\n")
    spec = "'torchvision:resnet18', '--structure-only'"
    out = _run(
        "import sys; from freezegui.cli.main import main;"
        f"codes=[main(['summary', {spec}]), main(['rules', {spec}, '--train', 'fc']),"
        f" main(['check', {spec}, {str(rules)!r}])];"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','shiboken6','superqt','transformers')];"
        "print(codes, bad); sys.exit(1 if bad or any(codes) else 0)"
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
