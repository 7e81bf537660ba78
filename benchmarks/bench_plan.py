"""The cost planner, measured in one run: 70B plan time and memory, FLOPs ratio vs time ratio, peak agreement.

    python benchmarks/bench_plan.py [--quick] [--ui]   (--ui: only part 4)

1. ``freezegui.plan`` on the Llama-3-70B-shaped config (structure only, bf16, batch 1 x 2,048 tokens)
   next to the bare meta forward of the same model (goal: plan <= 2x), rounds alternated, medians;
   and the process's own peak memory (no weights are allocated).
2. Head-only ResNet-18 and last-2 BERT-base: the plan's step-FLOPs ratio to full fine-tuning next to
   the measured time-per-step ratio on this CPU (goal: within 25 %), steps alternated, medians.
3. The planned peak next to torch.profiler's memory timeline of a steady CPU step.
4. A layer toggle on the 70B tree in the window, Cost dock hidden vs planning in the background.
5. The per-module plan (``per_module=True``: every module's shape, FLOPs, saved bytes) against the
   plain plan of the same model and options (goal: <= 1.2x), rounds alternated, medians.

    python benchmarks/bench_plan.py --modules   (only part 5)
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import freezegui
from freezegui.core.training.config import TrainingConfig
from freezegui.core.training.data import synthetic_data
from tests.models import LLAMA_70B_CONFIG

LAST_TWO = {
    "default": "freeze",
    "rules": [{"train": ["model.layers.78", "model.layers.79", "model.norm", "lm_head"]}],
}


def bench_70b(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "config.json").write_text(json.dumps(LLAMA_70B_CONFIG))
        model = freezegui.load_model(f"hf-config:{tmp}", structure_only=True)
    ids = torch.zeros(1, 2048, dtype=torch.long, device="meta")
    times: dict[str, list[float]] = {
        k: [] for k in ("forward", "forward+backward", "plan full", "plan last 2")
    }
    full = part = None
    for _ in range(rounds):  # alternated, so machine load hits all alike
        t = time.perf_counter()
        model(input_ids=ids)
        times["forward"].append(time.perf_counter() - t)
        t = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        times["forward+backward"].append(time.perf_counter() - t)
        for p in model.parameters():
            p.grad = None
        t = time.perf_counter()
        full = freezegui.plan(model, batch_size=1, seq_len=2048, dtype="bf16")
        times["plan full"].append(time.perf_counter() - t)
        t = time.perf_counter()
        part = freezegui.plan(model, LAST_TWO, batch_size=1, seq_len=2048, dtype="bf16", full_finetune=full)
        times["plan last 2"].append(time.perf_counter() - t)
    assert full is not None and part is not None
    med = {k: statistics.median(v) for k, v in times.items()}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"1. Llama-3-70B-shaped, structure only, bf16, batch 1 x 2,048 (medians of {rounds}, alternated)")
    print(f"   bare meta forward           {med['forward']:6.2f} s")
    print(f"   bare meta forward+backward  {med['forward+backward']:6.2f} s")
    for key, result in (("plan full", full), ("plan last 2", part)):
        print(
            f"   freezegui.{key:<17} {med[key]:6.2f} s = {med[key] / med['forward']:.2f}x the bare forward "
            f"(goal <= 2x), {med[key] / med['forward+backward']:.2f}x forward+backward; peak "
            f"{result.peak_bytes / 2**30:.1f} GiB, activations {result.activations_bytes / 2**30:.1f} GiB, "
            f"step {result.step_flops / 1e12:.0f} TFLOPs"
        )
    print(
        f"   process peak RSS            {rss:6.0f} MB (the weights alone would be {full.weights_bytes / 2**30:.0f} GiB)"
    )


def _step_time(model: torch.nn.Module, rules: dict, cfg: TrainingConfig, steps: int):
    freezegui.apply_rules(model, rules)
    data = synthetic_data(model, cfg, torch.device("cpu"))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()

    def step(i: int) -> float:
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        data.loss(model, data.batch(i)).backward()
        opt.step()
        return time.perf_counter() - t

    return step


def bench_ratio(name: str, make, rules: dict, cfg: TrainingConfig, steps: int) -> None:
    size = {"seq_len": cfg.seq_len, "image_size": cfg.image_size}
    p = freezegui.plan(make(), rules, batch_size=cfg.batch_size, **size)
    flops_ratio = p.ratio("step_flops")
    full = _step_time(make(), {"default": "train"}, cfg, steps)
    part = _step_time(make(), rules, cfg, steps)
    full(0), part(0)
    tf, tp = [], []
    for i in range(1, steps + 1):  # alternated so load on the machine hits both alike
        tf.append(full(i))
        tp.append(part(i))
    time_ratio = statistics.median(tp) / statistics.median(tf)
    off = abs(flops_ratio - time_ratio) / time_ratio
    print(
        f"   {name:<22} step-FLOPs ratio {flops_ratio:.3f}   time ratio {time_ratio:.3f} "
        f"({statistics.median(tp) * 1e3:.0f} / {statistics.median(tf) * 1e3:.0f} ms)   off by {off:.0%} (goal <= 25 %)"
    )


def bench_peak() -> None:
    from tests.test_plan_peak import planned_and_measured

    print("3. planned peak vs torch.profiler memory timeline (steady CPU step, batch 4)")
    for name, selection in (("resnet18", "full"), ("resnet18", "head"), ("bert", "full"), ("bert", "head")):
        planned, measured = planned_and_measured(name, selection)
        print(
            f"   {name:<9} {selection:<5} planned {planned / 2**20:7.1f} MiB   measured {measured / 2**20:7.1f} MiB"
            f"   planned/measured {planned / measured:.2f}"
        )


def bench_ui_toggle(count: int) -> None:
    """A layer toggle on the 70B tree with the Cost dock hidden, then shown while its plan runs."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from freezegui.app.main import configure_interpreter
    from freezegui.app.main_window import MainWindow
    from freezegui.core.editing.document import Document

    configure_interpreter()  # as the app runs
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "config.json").write_text(json.dumps(LLAMA_70B_CONFIG))
        model = freezegui.load_model(f"hf-config:{tmp}", structure_only=True)
        window = MainWindow(settings=QSettings(str(Path(tmp, "s.ini")), QSettings.Format.IniFormat))
    window.show()
    window.set_document(Document.from_model(model))
    app.processEvents()
    doc = window.document
    layer = doc.tree.node("model.layers.40")

    def toggles() -> list[float]:
        out = []
        for i in range(count):
            t = time.perf_counter()
            doc.selection.set_subtree(layer, i % 2 == 1)
            app.processEvents()
            out.append(time.perf_counter() - t)
            time.sleep(0.05)
            app.processEvents()
        return out

    hidden = toggles()
    window.cost_panel.raise_()
    app.processEvents()
    deadline = time.perf_counter() + 5
    while not window.cost_panel._running and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.01)
    running = toggles()
    busy = window.cost_panel._running
    print(f"4. toggling model.layers.40 on the 70B tree in the window ({count} toggles each)")
    print(
        f"   Cost dock hidden            median {statistics.median(hidden) * 1e3:6.1f} ms, max {max(hidden) * 1e3:6.1f} ms"
    )
    print(
        f"   Cost dock planning          median {statistics.median(running) * 1e3:6.1f} ms, max {max(running) * 1e3:6.1f} ms"
        f" (plan still running at the end: {busy}; goal: one frame, 16 ms)"
    )
    window.cost_panel.shutdown()
    doc.selection.mark_saved()
    window.close()


def bench_per_module(rounds: int) -> None:
    """Part 5: the per-module plan's time over the plain plan's, same model and options."""
    from torchvision.models import resnet18

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "config.json").write_text(json.dumps(LLAMA_70B_CONFIG))
        llama = freezegui.load_model(f"hf-config:{tmp}", structure_only=True)
    cases = [
        ("Llama-3-70B full, 1 x 2,048", llama, None, {"batch_size": 1, "seq_len": 2048, "dtype": "bf16"}),
        ("ResNet-18 full, 8 x 224 px", resnet18(), None, {"batch_size": 8, "image_size": 224}),
    ]
    print(f"5. per-module plan vs plain plan (medians of {rounds}, alternated)")
    for name, model, rules, kwargs in cases:
        plain, per = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            freezegui.plan(model, rules, **kwargs)
            plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            p = freezegui.plan(model, rules, per_module=True, **kwargs)
            per.append(time.perf_counter() - t)
        a, b = statistics.median(plain), statistics.median(per)
        print(
            f"   {name:<28} plain {a:6.2f} s   per-module {b:6.2f} s   = {b / a:.2f}x (goal <= 1.2x), "
            f"{len(p.modules or {})} modules"
        )


def main() -> None:
    quick = "--quick" in sys.argv
    if "--modules" in sys.argv:
        bench_per_module(1 if quick else 3)
        return
    if "--ui" in sys.argv:
        bench_ui_toggle(10 if quick else 20)
        return
    bench_70b(1 if quick else 3)
    print("2. step-FLOPs ratio vs measured time-per-step ratio (this selection / full fine-tuning)")
    from torchvision.models import resnet18
    from transformers import BertConfig, BertForSequenceClassification

    steps = 3 if quick else 9
    bench_ratio(
        "ResNet-18 head only",
        lambda: resnet18(num_classes=10),
        {"default": "freeze", "rules": [{"train": "fc"}]},
        TrainingConfig(batch_size=16, image_size=112),
        steps,
    )
    bench_ratio(
        "BERT-base last 2",
        lambda: BertForSequenceClassification(BertConfig()),
        {
            "default": "freeze",
            "rules": [{"train": ["bert.encoder.layer.10", "bert.encoder.layer.11", "classifier"]}],
        },
        TrainingConfig(batch_size=4, seq_len=128),
        steps,
    )
    bench_peak()
    bench_per_module(1 if quick else 3)
    bench_ui_toggle(10 if quick else 20)


if __name__ == "__main__":
    main()
