"""`freezegui fit` on a Llama-3-70B-shaped config (structure only) and `freezegui probe` seconds per batch.

Fit: wall time and plans of one search beside one plan of the chosen selection (the ratio says what
the bisection costs in plans). Probe: seconds per forward/backward batch for ResNet-18 (224 px) and
BERT-base (128 tokens), batch 8, on the device given.

    python benchmarks/bench_fit_probe.py [--budget 200] [--device cpu] [--batches 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import freezegui
from freezegui.core.decide.fit import GIB, fit
from freezegui.core.decide.probe import probe
from freezegui.core.plan import PlanOptions, plan
from tests.models import LLAMA_70B_CONFIG


def bench_fit(budget_gib: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps(LLAMA_70B_CONFIG))
        model = freezegui.load_model(f"hf-config:{tmp}", structure_only=True)
    options = PlanOptions(batch_size=1, seq_len=2048, dtype="bf16")
    t0 = time.perf_counter()
    result = fit(model, budget_gib * GIB, options=options)
    search = time.perf_counter() - t0
    t0 = time.perf_counter()
    plan(
        model, result.rules, batch_size=1, seq_len=2048, dtype="bf16", full_finetune=result.plan.full_finetune
    )
    one = time.perf_counter() - t0
    print("\n".join(result.lines()))
    print(
        f"fit 70B at {budget_gib} GiB: {search:.2f} s for {result.plans} plans; one plan {one:.2f} s "
        f"(search / one plan = {search / one:.1f}x)"
    )


def bench_probe(device: str, batches: int) -> None:
    from transformers import BertConfig, BertForSequenceClassification

    for name, model, kwargs in (
        ("ResNet-18", freezegui.load_model("torchvision:resnet18", num_classes=10), {"image_size": 224}),
        ("BERT-base", BertForSequenceClassification(BertConfig()), {"seq_len": 128}),
    ):
        t0 = time.perf_counter()
        probe(model, batches=batches, batch_size=8, device=device, **kwargs)
        print(f"probe {name}: {(time.perf_counter() - t0) / batches:.2f} s per batch of 8 on {device}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=200.0, help="GiB")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", type=int, default=2)
    args = ap.parse_args()
    bench_fit(args.budget)
    bench_probe(args.device, args.batches)


if __name__ == "__main__":
    main()
