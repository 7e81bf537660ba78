"""A short training script that freezes by a rule file: the whole integration is one call.

    python examples/train_head_only.py                      # synthetic data, CPU, a few seconds
    python examples/train_head_only.py --rules my_rules.yaml

With real data you would use `pretrained=True` (weights from the torch cache) and your DataLoader.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import freezegui


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default=str(Path(__file__).with_name("resnet18_head.yaml")))
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = freezegui.load_model("torchvision:resnet18", num_classes=10)
    report = freezegui.apply_rules(model, args.rules)  # sets requires_grad, keeps frozen BatchNorm stats
    print(report)

    # Give the optimizer only what trains (method 1 skips gradients and state for frozen layers).
    optimizer = torch.optim.AdamW((p for p in model.parameters() if p.requires_grad), lr=1e-3)
    images, labels = torch.randn(16, 3, 64, 64), torch.randint(0, 10, (16,))
    model.train()
    for step in range(1, args.steps + 1):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        if step == 1 or step % 5 == 0:
            print(f"step {step:3d}  loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
