"""User regexes: the bounded engine against Python's ``re`` on ordinary patterns, and on ReDoS shapes.

For each ordinary pattern, the time to full-match 100,000 Llama-style parameter names with ``re`` and
with :func:`freezegui.core.rules.regex.compile_bounded` (RE2), measured alternately in one run (median
of three), and their ratio; then the bounded engine alone on the shapes that make ``re`` backtrack for
minutes (``re`` is not run on them). Run: ``python benchmarks/bench_regex.py``.
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from freezegui.core.rules.regex import compile_bounded

NAMES = [
    f"model.layers.{i % 80}.{part}.weight"
    for i in range(100_000 // 7 + 1)
    for part in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
][:100_000]  # fmt: skip
ORDINARY = [
    r"(?:model\.layers\.1\d\..*)(?:\..*)?",
    r".*\.(q_proj|v_proj)\.weight",
    r"(?:[^.]+\.)*mlp\.[^.]*\..*",
]
REDOS = [r"(.*.*)*X", r"([a-z0-9_.]+)+X", r"(\w+\.?)*q_proj", r"(?:(?:[^.]+\.)*)*(?:[^.]*)*Z"]


def timed(test, names: list[str]) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for name in names:
        test(name)
    return time.perf_counter() - start


def main() -> None:
    print(f"{'pattern':44} {'re':>9} {'bounded':>9} {'ratio':>7}")
    for pattern in ORDINARY:
        plain, bounded = re.compile(pattern), compile_bounded(pattern)
        assert all((plain.fullmatch(n) is not None) == bounded.fullmatch(n) for n in NAMES[:5000])
        a, b = [], []
        for _ in range(3):
            a.append(timed(plain.fullmatch, NAMES))
            b.append(timed(bounded.fullmatch, NAMES))
        ra, rb = statistics.median(a), statistics.median(b)
        print(f"{pattern[:44]:44} {ra:8.3f}s {rb:8.3f}s {rb / ra:6.1f}x")
    for pattern in REDOS:
        bounded = compile_bounded(pattern)
        print(f"{pattern[:44]:44} {'(hangs)':>9} {timed(bounded.fullmatch, NAMES):8.3f}s  ({bounded.engine})")


if __name__ == "__main__":
    main()
