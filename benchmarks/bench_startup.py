"""Startup: how soon the window shows, how soon the tree is filled, and what the UI feels meanwhile.

In fresh processes, alternated round by round (medians printed):

* ``app``: the real startup path (``MainWindow`` + ``open_model_when_painted``) on SPEC: time to the
  first painted window, time to the filled tree with its totals, and the worst gap of a 5 ms QTimer
  on the UI thread while torch, the model library and the model load in the background;
* ``bare-window``: a bare PySide6 ``QMainWindow`` shown by the same interpreter (first paint);
* ``bare-build``: ``import torch, torchvision`` and the model build, nothing else.

Goals: first window <= 2x the bare window; filled tree <= 1.25x the bare import-and-build.

Bytecode is cached as an installed package has it (PYTHONDONTWRITEBYTECODE is dropped and one
uncounted warm-up round writes the caches): otherwise every start of the app would compile its own
modules again while torch's come precompiled, which no user's machine does.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_startup.py [--rounds 5] [--spec torchvision:resnet18]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMON = """
import json, sys, time
T0 = float(sys.argv[1])
def since():
    return time.time() - T0
"""

BARE_WINDOW = (
    COMMON
    + """
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
window = QMainWindow()
window.resize(1280, 800)
out = {}
class Paint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and "first_paint" not in out:
            out["first_paint"] = since()
            QTimer.singleShot(0, app.quit)
        return False
f = Paint()
window.installEventFilter(f)
window.show()
app.exec()
print(json.dumps(out))
"""
)

BARE_BUILD = (
    COMMON
    + """
import torch, torchvision
spec = sys.argv[2]
if spec.startswith("torchvision:"):
    torchvision.models.get_model(spec.split(":", 1)[1], weights=None)
else:
    from freezegui.core.models.loading import load_model
    load_model(spec)
print(json.dumps({"built": since()}))
"""
)

APP = (
    COMMON
    + """
import tempfile
from PySide6.QtCore import QElapsedTimer, QEvent, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication([])
from freezegui.app.main import configure_interpreter
configure_interpreter()  # where run_app calls it: before the window's modules
from freezegui.app.commands.loader import Stage
from freezegui.app.main_window import MainWindow
from freezegui.core.models.options import LoadOptions
settings = QSettings(tempfile.mkdtemp() + "/s.ini", QSettings.Format.IniFormat)
window = MainWindow(settings=settings)
out = {"gaps_import": [], "gaps_all": []}
phase = ["import"]
class Paint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and "first_paint" not in out:
            out["first_paint"] = since()
            out["torch_at_paint"] = "torch" in sys.modules
            clock.start()
            ticker.start()
        return False
f = Paint()
window.installEventFilter(f)
clock = QElapsedTimer()
ticker = QTimer()
ticker.setInterval(5)
def tick():
    gap = clock.restart()
    out["gaps_all"].append(gap)
    if phase[0] == "import":
        out["gaps_import"].append(gap)
ticker.timeout.connect(tick)
def on_progress(p):
    if p.stage is Stage.CORE_READY:
        phase[0] = "build"
        out["core_ready"] = since()
window.controller.progress.connect(on_progress)
def done(ok):
    out["filled"] = since()
    out["ok"] = ok
    out["total"] = window.findChild(QLabel, "totalCount").text()
    ticker.stop()
    QTimer.singleShot(0, app.quit)
window.loadFinished.connect(done)
window.show()
window.open_model_when_painted(LoadOptions(sys.argv[2]))
app.exec()
out["max_gap_import"] = max(out.pop("gaps_import"), default=0)
gaps = out.pop("gaps_all")
out["max_gap"] = max(gaps, default=0)
out["gaps_over_50ms"] = sum(g > 50 for g in gaps)
print(json.dumps(out))
"""
)


def run(code: str, *args: str) -> dict[str, float]:
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "PYTHONPATH": str(ROOT),
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
    }
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code, repr(start), *args], capture_output=True, text=True, env=env, timeout=600
    )
    if out.returncode != 0:
        raise SystemExit(f"benchmark process failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--spec", default="torchvision:resnet18")
    args = parser.parse_args()
    rows: dict[str, list[dict[str, float]]] = {"app": [], "bare-window": [], "bare-build": []}
    for code in (BARE_WINDOW, APP, BARE_BUILD):  # warm-up: bytecode caches written, files in the page cache
        run(code, args.spec)
    for i in range(args.rounds):
        rows["bare-window"].append(run(BARE_WINDOW))
        rows["app"].append(run(APP, args.spec))
        rows["bare-build"].append(run(BARE_BUILD, args.spec))
        app = rows["app"][-1]
        print(
            f"round {i + 1}: window {app['first_paint']:.2f} s (bare {rows['bare-window'][-1]['first_paint']:.2f}),"
            f" filled {app['filled']:.2f} s (bare build {rows['bare-build'][-1]['built']:.2f}),"
            f" worst UI gap {app['max_gap']:.0f} ms ({app['max_gap_import']:.0f} ms while importing)",
            flush=True,
        )

    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in rows[kind])

    assert all(not r["torch_at_paint"] and r["ok"] for r in rows["app"])
    first, bare_window = med("app", "first_paint"), med("bare-window", "first_paint")
    filled, bare_build = med("app", "filled"), med("bare-build", "built")
    print(f"\n{os.cpu_count()} cores, {args.rounds} rounds, {args.spec}, medians:")
    print(f"  first painted window   {first:6.2f} s   bare QMainWindow {bare_window:6.2f} s")
    print(
        f"  filled tree + totals   {filled:6.2f} s   bare import torch, torchvision + build {bare_build:6.2f} s"
    )
    print(f"  core ready (imports)   {med('app', 'core_ready'):6.2f} s")
    print(
        f"  worst UI stall         {med('app', 'max_gap'):6.0f} ms  "
        f"(while importing: {med('app', 'max_gap_import'):.0f} ms; 5 ms timer;"
        f" gaps > 50 ms per start: {med('app', 'gaps_over_50ms'):.0f})"
    )
    print(f"  ratio first window / bare window   {first / bare_window:5.2f}x  (goal <= 2x)")
    print(f"  ratio filled tree / bare build     {filled / bare_build:5.2f}x  (goal <= 1.25x)")


if __name__ == "__main__":
    main()
