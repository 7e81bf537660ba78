"""Startup and shutdown in fresh interpreters: the window is painted before torch is imported, the tree
fills afterwards, quitting never waits for a load, and a factory that kills its thread is an error."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from tests.app.conftest import load

FRESH_APP = textwrap.dedent(
    """
    import os, sys, time
    from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from freezegui.app.main_window import MainWindow

    settings = QSettings(sys.argv[1], QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    seen = []

    class Paints(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint and not seen:
                seen.append(("torch" in sys.modules, window.tree_pane.is_busy,
                             window.tree_pane.busy_page.label.text()))
            return False

    paints = Paints()
    window.tree_pane.busy_page.installEventFilter(paints)
    window.show()
    from freezegui.core.models.options import LoadOptions
    window.open_model_when_painted(LoadOptions(sys.argv[2]))  # what `freezegui SPEC` does
    """
)

CHECK_FILLED = textwrap.dedent(
    """
    def done(ok):
        model = window.tree_model
        print("PAINTED", seen)
        print("FILLED", ok, model.rowCount(), window.findChild(QLabel, "totalCount").text())
        print("MODULES", "torch" in sys.modules, "torchvision" in sys.modules, "transformers" in sys.modules)
        app.quit()

    from PySide6.QtWidgets import QLabel
    window.loadFinished.connect(done)
    app.exec()
    """
)


def run_fresh(code: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout
    )


def test_window_is_painted_busy_before_torch_then_the_tree_fills(tmp_path) -> None:
    out = run_fresh(FRESH_APP + CHECK_FILLED, str(tmp_path / "s.ini"), "torchvision:resnet18")
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert lines["PAINTED"] == "[(False, True, 'Loading PyTorch…')]"  # painted busy, torch not imported
    assert lines["FILLED"] == "True 1 11,689,512"
    assert lines["MODULES"] == "True True False"  # a torchvision spec never imports transformers


def test_the_training_dock_comes_after_the_filled_tree(tmp_path) -> None:
    """QtCharts and the training engine (~0.3 s of imports) wait until the tree is on screen."""
    code = FRESH_APP + textwrap.dedent(
        """
        from PySide6.QtWidgets import QDockWidget

        def dock_names():
            return sorted(d.objectName() for d in window.findChildren(QDockWidget))

        def done(ok):
            print("AT_FILL", "freezegui.app.docks.training_panel" in sys.modules, dock_names())
            deadline = time.monotonic() + 60

            def poll():
                if "trainingPanel" in dock_names() or time.monotonic() > deadline:
                    print("LATER", dock_names())
                    app.quit()
                else:
                    QTimer.singleShot(20, poll)

            poll()

        window.loadFinished.connect(done)
        app.exec()
        """
    )
    out = run_fresh(code, str(tmp_path / "s.ini"), "torchvision:resnet18")
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert lines["AT_FILL"] == "False ['costPanel', 'detailsDock']"
    assert lines["LATER"] == "['costPanel', 'detailsDock', 'trainingPanel']"


def test_closing_while_a_factory_never_returns_exits_promptly(tmp_path) -> None:
    code = FRESH_APP + textwrap.dedent(
        """
        from freezegui.app.commands.loader import Stage
        from freezegui.app.main import finish

        def close_when_building(progress):  # the factory is being called, and it sleeps forever
            if progress.stage is Stage.BUILDING:
                QTimer.singleShot(300, window.close)

        window.controller.progress.connect(close_when_building)
        app.exec()
        print("EVENT LOOP ENDED", flush=True)
        finish(0)
        """
    )
    started = time.monotonic()
    out = run_fresh(code, str(tmp_path / "s.ini"), "py:tests.app.factories:sleeps_forever", timeout=120)
    assert out.returncode == 0, out.stderr
    assert "EVENT LOOP ENDED" in out.stdout
    assert "Signal source has been deleted" not in out.stderr and "Traceback" not in out.stderr
    assert time.monotonic() - started < 60  # without os._exit the process would hang forever


@pytest.mark.parametrize(
    ("factory", "message"),
    # The core's loader turns user code's BaseException into a LoadError naming the factory.
    [("exits", "raised SystemExit(3)"), ("interrupted", "raised KeyboardInterrupt")],
)
def test_a_factory_raising_base_exception_is_a_load_error(qtbot, window, dialogs, factory, message) -> None:
    assert not load(qtbot, window, f"py:tests.app.factories:{factory}")
    assert message in dialogs.texts("critical")[-1]
    assert not window.tree_pane.is_busy and window.busy.isHidden() and window.document is None
    assert load(qtbot, window, "py:tests.models:MLP")  # the app still works


LOAD_GC = textwrap.dedent(
    """
    import gc, json, sys
    if sys.argv[2] == "missing":
        sys.modules[sys.argv[1].split(":")[0]] = None  # the library is not installed
    from freezegui.app.commands.loader import load_steps
    from freezegui.core.models.options import LoadOptions

    steps, seen = load_steps(LoadOptions(sys.argv[1])), []
    try:
        while True:
            seen.append((next(steps).stage.value, gc.isenabled(), gc.get_freeze_count()))
    except StopIteration:
        end = "loaded"
    except Exception as exc:
        end = type(exc).__name__
    print(json.dumps({"seen": seen, "end": end, "after": gc.isenabled()}))
    """
)


def test_the_loader_imports_with_the_collector_paused_and_keeps_what_they_made() -> None:
    """No collection walks torch while it imports, nor right after (its objects are frozen); the
    collector is on again at every step the UI sees."""
    out = run_fresh(LOAD_GC, "torchvision:resnet18", "installed")
    assert out.returncode == 0, out.stderr
    run = json.loads(out.stdout)
    stages = [stage for stage, _, _ in run["seen"]]
    assert stages == ["importing", "importing", "core-ready", "building"] and run["end"] == "loaded"
    assert all(enabled for _, enabled, _ in run["seen"]) and run["after"]
    frozen = [count for _, _, count in run["seen"]]
    assert frozen[0] == 0 and frozen[1] > 100_000 and frozen[2] > frozen[1]  # torch, then torchvision


def test_a_missing_library_leaves_the_collector_on() -> None:
    out = run_fresh(LOAD_GC, "timm:resnet18", "missing")
    assert out.returncode == 0, out.stderr
    run = json.loads(out.stdout)
    assert (
        run["end"] == "MissingDependencyError"
        and run["after"]
        and all(enabled for _, enabled, _ in run["seen"])
    )
