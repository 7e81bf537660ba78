"""Engine overhead: time per step of ``TrainingRun.steps()`` vs a plain hand-written PyTorch loop.

Both train an identical copy of the same model (same rules, optimizer, batches); blocks of steps are
interleaved so machine noise hits both alike, and the median block is compared. Goal: ratio <= 1.05.

    python benchmarks/bench_training.py [--steps 40] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch.nn import functional as F

import freezegui
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.training import TrainingConfig, TrainingRun


def plain_loop(model, opt, batches, steps: int) -> float:
    """What a user would write by hand: zero_grad, forward, loss, backward, read the loss, step."""
    model.train()
    t0 = time.perf_counter()
    for i in range(steps):
        x, y = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        loss.item()
        opt.step()
    if x.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def engine_loop(run: TrainingRun) -> tuple[float, float]:
    """Per-step time up to the last step's result, and the one-time end cost (the frozen-weights proof)."""
    cuda = run.device is not None and run.device.type == "cuda"
    gen = run.steps()
    t0 = time.perf_counter()
    for result in gen:
        if result.step == run.config.steps:
            break
    if cuda:
        torch.cuda.synchronize()
    t_last = time.perf_counter()
    for _ in gen:  # runs the end of the generator: the proof and the report
        pass
    return (t_last - t0) / run.config.steps, time.perf_counter() - t_last


def bench(name: str, make_model, rules: str, cfg: TrainingConfig, repeats: int) -> None:
    base = make_model()
    eng_times, plain_times, end_times = [], [], []
    for rep in range(repeats + 1):  # the first round warms up both and is not counted
        run = TrainingRun(copy.deepcopy(base), cfg, rules=RuleSet.loads(rules))
        run.prepare()
        # The plain loop gets the same kind of model, rules, optimizer and the engine's own batches.
        model = copy.deepcopy(base).to(run.device)
        freezegui.apply_rules(model, RuleSet.loads(rules))
        opt = torch.optim.AdamW(
            [
                {
                    "params": [p for p in model.parameters() if p.requires_grad],
                    "weight_decay": cfg.weight_decay,
                }
            ],
            lr=cfg.lr,
        )
        batches = [run.data.batch(i) for i in range(8)]
        order = (engine_loop, plain_loop) if rep % 2 else (plain_loop, engine_loop)
        for fn in order:
            if fn is engine_loop:
                t, end = engine_loop(run)
                if rep:
                    eng_times.append(t)
                    end_times.append(end)
            else:
                t = plain_loop(model, opt, batches, cfg.steps)
                if rep:
                    plain_times.append(t)
        assert run.report is not None and run.report.ok, run.report
    e, p = statistics.median(eng_times), statistics.median(plain_times)
    print(
        f"{name:<44} engine {e * 1000:8.2f} ms/step   plain {p * 1000:8.2f} ms/step   ratio {e / p:.3f}"
        f"   (best-of: {min(eng_times) / min(plain_times):.3f}; one-time proof at the end "
        f"{statistics.median(end_times) * 1000:.0f} ms)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    resnet = lambda: freezegui.load_model("torchvision:resnet18", num_classes=10)  # noqa: E731
    head = "default: freeze\nrules: [{train: fc}]"
    for name, make, rules, size, bs in (
        ("ResNet-18 head-only, 64x64, batch 16", resnet, head, 64, 16),
        ("ResNet-18 full fine-tune, 64x64, batch 16", resnet, "default: train", 64, 16),
        ("ResNet-18 head-only, 32x32, batch 4 (tiny step)", resnet, head, 32, 4),
    ):
        cfg = TrainingConfig(
            steps=args.steps, batch_size=bs, lr=1e-3, image_size=size, device=args.device, optimizer="adamw"
        )
        bench(name, make, rules, cfg, args.repeats)


if __name__ == "__main__":
    main()
