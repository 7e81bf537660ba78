"""The app installs like a desktop app: a wheel with both entry points and the icon, a .desktop file,
a clear message instead of SIGABRT when there is no display."""

from __future__ import annotations

import configparser
import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from freezegui.app.main import NO_DISPLAY, display_problem, icon_path

ROOT = Path(__file__).resolve().parents[1]


def test_no_display_is_detected_only_where_qt_needs_one() -> None:
    assert display_problem({}, "linux") == NO_DISPLAY
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({}, "darwin") is None and display_problem({}, "win32") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check is for Linux")
def test_app_without_display_says_how_to_run_it() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run(
        [sys.executable, "-m", "freezegui"], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 2, proc.stderr  # not -6 (SIGABRT)
    assert "no display" in proc.stderr and "freezegui summary" in proc.stderr and "offscreen" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("entry", ["freezegui.launcher", "freezegui.app.main"])  # freezegui, freezegui-gui
def test_app_without_qt_says_what_to_install(entry: str) -> None:
    code = (
        "import sys; sys.modules['PySide6'] = None; "  # as if PySide6 were not installed
        f"from {entry} import main; sys.argv = ['freezegui']; raise SystemExit(main())"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 2, proc.stderr
    assert "cannot start" in proc.stderr and "pip install 'PySide6" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_desktop_file_and_icon() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(ROOT / "freezegui" / "resources" / "freezegui.desktop", encoding="utf-8")
    desk = entry["Desktop Entry"]
    assert (desk["Type"], desk["Exec"], desk["Icon"], desk["Terminal"]) == (
        "Application",
        "freezegui-gui",
        "freezegui",
        "false",
    )
    assert desk["Categories"].endswith(";")
    assert Path(icon_path()).read_text(encoding="utf-8").startswith("<svg")


def test_window_icon_is_set(qtbot) -> None:
    from PySide6.QtGui import QIcon

    icon = QIcon(icon_path())
    assert not icon.isNull() and not icon.pixmap(64, 64).isNull()


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    """``pip wheel .``, installed into a new virtual environment: both scripts, a summary, the window.

    The venv borrows torch & co. from this one through a .pth path line (installing torch takes
    minutes); freezegui itself comes only from the wheel."""
    dist, venv = tmp_path / "dist", tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing from a checkout
    env["QT_QPA_PLATFORM"] = "offscreen"
    run = {"capture_output": True, "text": True, "timeout": 600, "env": env, "cwd": str(tmp_path)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
        ],
        **run,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = dist.glob("freezegui-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, **run)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            str(wheel),
        ],
        **run,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # After the install: pip would otherwise see the shared freezegui and skip the wheel.
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    shared = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (purelib / "_shared_deps.pth").write_text("\n".join(shared) + "\n")
    bindir = venv / "bin"
    assert (bindir / "freezegui-gui").exists()
    where = subprocess.run(
        [str(bindir / "python"), "-c", "import freezegui, sys; print(freezegui.__file__)"], **run
    )
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr  # the wheel, not a checkout
    version = subprocess.run([str(bindir / "freezegui"), "--version"], **run)
    assert version.returncode == 0 and version.stdout.startswith("freezegui "), version.stderr
    summary = subprocess.run([str(bindir / "freezegui"), "summary", "torchvision:resnet18", "--json"], **run)
    assert summary.returncode == 0, summary.stderr
    assert json.loads(summary.stdout)["total"] == 11_689_512
    window = subprocess.run([str(bindir / "python"), "-c", _OPEN_WINDOW], **run)
    assert window.returncode == 0, window.stdout + window.stderr
    assert window.stdout.split() == ["shown", "icon", "resnet18"], window.stdout + window.stderr


# Opens the installed app offscreen, waits for the model to load, prints what it saw, quits.
_OPEN_WINDOW = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from freezegui.app import main

app = QApplication(sys.argv[:1])
def check(tries=[0]):
    windows = [w for w in app.topLevelWidgets() if w.isVisible() and w.windowTitle()]
    if windows and "resnet18" in windows[0].windowTitle() or tries[0] > 600:
        print("shown" if windows else "none", "icon" if not app.windowIcon().isNull() else "noicon")
        print("resnet18" if windows and "resnet18" in windows[0].windowTitle() else windows[0].windowTitle())
        app.quit()
        return
    tries[0] += 1
    QTimer.singleShot(100, check)
QTimer.singleShot(100, check)
sys.exit(main.run_app(["torchvision:resnet18", "--structure-only"]))
"""


def test_every_script_entry_point_names_a_function() -> None:
    """pyproject's console and GUI scripts point at functions that exist (the app moved modules)."""
    import importlib

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    targets = {**project["scripts"], **project["gui-scripts"]}
    assert set(targets) == {"freezegui", "freezegui-gui"}
    for target in targets.values():
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), target
