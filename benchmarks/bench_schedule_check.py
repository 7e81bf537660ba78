"""``freezegui check`` of a schedule: time per stage count, to show the work grows linearly.

Runs the check in this process (imports and the model build excluded) for 1,000 ... 60,000 stages on
ResNet-18 and prints CPU seconds, wall seconds and seconds per 1,000 stages; a linear check keeps the
last column flat (the quadratic one took 24 s for 1,000 stages and never finished 60,000).

    python benchmarks/bench_schedule_check.py [--stages 1000 4000 15000 60000] [--spec torchvision:resnet18]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

from freezegui.cli.main import main as cli

LAYERS = [f"layer{a}.{b}" for a in range(1, 5) for b in range(2)]


def schedule(stages: int) -> str:
    body = "".join(
        f"- at: {{step: {i + 1}}}\n  rules:\n  - train: {LAYERS[i % 8]}.conv{1 + i % 2}\n"
        for i in range(stages)
    )
    return "default: freeze\nrules:\n- train: fc\nschedule:\n" + body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", type=int, nargs="+", default=[1000, 4000, 15000, 60000])
    ap.add_argument("--spec", default="torchvision:resnet18")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm.yaml"
        warm.write_text(schedule(10))
        with contextlib.redirect_stdout(io.StringIO()):
            cli(["check", args.spec, str(warm)])  # imports and caches out of the timings
        print(f"{'stages':>8} {'MB':>6} {'cpu s':>8} {'wall s':>8} {'cpu s / 1,000':>14}")
        for n in args.stages:
            path = Path(tmp) / f"s{n}.yaml"
            path.write_text(schedule(n))
            cpu, wall = time.process_time(), time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                rc = cli(["check", args.spec, str(path)])
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            assert rc == 0, rc
            mb = path.stat().st_size / 2**20
            print(f"{n:>8,} {mb:>6.1f} {cpu:>8.2f} {wall:>8.2f} {cpu / n * 1000:>14.3f}")


if __name__ == "__main__":
    main()
