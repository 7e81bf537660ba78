"""Rule files at scale: parsing and applying 10,000 rules on a 1,000-module model, and hostile files.

Prints, for each case, the median of three runs of the one-pass evaluation
(:mod:`freezegui.core.rules.matching`) and of the rule-by-rule tree walk it replaced
(:func:`freezegui.core.rules.matching.match_params` per rule; timed on 1,000 of the rules and scaled, as it
is linear in their number), measured alternately in one run, and the time
to parse and to refuse rule files near and past the limits. Run: ``python benchmarks/bench_rules.py``.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from freezegui.core.errors import RuleError
from freezegui.core.rules.matching import match_params
from freezegui.core.rules.ruleset import Rule, RuleSet
from freezegui.core.structure.tree import build_tree
from tests.models import wide_model


def walk_each_rule(rs: RuleSet, tree) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The old evaluation: one preorder walk of the tree per rule."""
    trainable = np.full(len(tree.params), rs.default == "train", dtype=bool)
    for rule in rs.rules:
        trainable[match_params(tree, rule.pattern)] = rule.trainable
    return trainable


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def rule_sets(tree) -> dict[str, RuleSet]:  # type: ignore[no-untyped-def]
    rng = random.Random(0)
    modules = [p for p in tree.paths if p]
    names = tree.occurrence_paths
    literal = [Rule.make(rng.choice(("train", "freeze")), rng.choice(modules + names)) for _ in range(10_000)]
    globs = []
    for _ in range(10_000):
        parts = rng.choice(modules).split(".")
        k = rng.randrange(len(parts))
        parts[k] = parts[k][:1] + "*"
        globs.append(Rule.make(rng.choice(("train", "freeze")), ".".join(parts)))
    mixed = literal[:7_000] + globs[:2_000] + [Rule.make("freeze", "**.weight")] * 1_000
    return {
        "10,000 literal paths": RuleSet(rules=literal),
        "10,000 globs": RuleSet(rules=globs),
        "7k literal + 2k glob + 1k **": RuleSet(rules=mixed),
    }


def bench_evaluate() -> None:
    model = wide_model(n_modules=1_000)
    tree = build_tree(model)
    print(f"model: {len(tree.paths):,} modules, {len(tree.params):,} tensors")
    for label, rs in rule_sets(tree).items():
        part = RuleSet(rules=rs.rules[:1_000], default=rs.default)
        assert np.array_equal(part.evaluate(tree)[0], walk_each_rule(part, tree)), label
        new, old = [], []
        for _ in range(3):  # alternate the two so load on the machine hits both alike
            new.append(median_time(lambda rs=rs: rs.evaluate(tree), 1))
            # The walk costs the same for every rule: time 1,000 of them and scale to 10,000.
            old.append(10 * median_time(lambda part=part: walk_each_rule(part, tree), 1))
        n, o = statistics.median(new), statistics.median(old)
        print(f"  {label:30s} one pass {n * 1e3:8.1f} ms   rule by rule {o * 1e3:9.1f} ms   ({o / n:,.0f}x)")


def bench_files() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cases = {
            "10,000 rules (130 KB)": "default: freeze\nrules:\n"
            + "".join(f"  - train: layer.{i}\n" for i in range(10_000)),
            "just under 4 MB of rules": "rules:\n" + "  - train: fc\n" * (4_000_000 // 14),
            "billion laughs in rules:": _laughs(),
            "deeply nested [": "rules: " + "[" * 100_000,
            "5 MB of comments": "# x\n" * (5 * 1024 * 1024 // 4),
        }
        for label, text in cases.items():
            path = d / "r.yaml"
            path.write_text(text)
            t0 = time.perf_counter()
            try:
                rs = RuleSet.load(path)
                outcome = f"{len(rs.rules):,} rules"
            except RuleError as exc:
                outcome = "refused: " + str(exc).split(": ", 1)[1][:70]
            print(f"  {label:28s} {time.perf_counter() - t0:6.2f} s  {outcome}")
        t0 = time.perf_counter()
        try:
            RuleSet.load("/dev/zero")
        except RuleError as exc:
            print(f"  {'/dev/zero':28s} {time.perf_counter() - t0:6.2f} s  refused: {str(exc)[:70]}")


def _laughs() -> str:
    lines = ["rules:", "  - train: &a0 [fc, fc, fc, fc, fc, fc, fc, fc, fc, fc]"]
    for i in range(1, 9):
        lines.append(f"  - train: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print("evaluate (median of 3, alternated):")
    bench_evaluate()
    print("parse:")
    bench_files()
