"""Compare-methods table for ResNet-18 head-only: full fine-tune vs method 1 vs method 2.

Same data (synthetic, fixed seed), same steps, each from a copy of the same weights. Memory columns are
exact tensor bytes of the training state (weights + gradients + optimizer state; activations are not
counted on CPU); on CUDA the peak allocated memory is added.

    python benchmarks/bench_compare_methods.py [--steps 30] [--batch-size 16] [--image-size 64] [--device cpu]
"""

from __future__ import annotations

import argparse

import torch

import freezegui
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.training import TrainingConfig, compare_methods, format_comparison


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--optimizer", default="adamw", choices=("adamw", "sgd"))
    args = ap.parse_args()
    model = freezegui.load_model("torchvision:resnet18", num_classes=10)
    rules = RuleSet.loads("default: freeze\nrules: [{train: fc}]")
    cfg = TrainingConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        image_size=args.image_size,
        device=args.device,
        optimizer=args.optimizer,
        lr=1e-3,
    )
    print(
        f"ResNet-18, 10 classes, head only; {args.steps} steps, batch {args.batch_size}, "
        f"{args.image_size}x{args.image_size}, {args.optimizer}, device {args.device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    results = compare_methods(model, cfg, rules=rules)
    print(format_comparison(results))


if __name__ == "__main__":
    main()
