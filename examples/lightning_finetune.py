"""Fine-tune with a rule file under PyTorch Lightning: the FreezeRules callback applies it at fit start.

    pip install "freezegui[lightning]"
    python examples/lightning_finetune.py --rules examples/resnet18_head.yaml --steps 20

The network lives in ``self.model`` of the LightningModule, so the callback is told ``submodule="model"``
and the rule patterns stay the ones the app exported for the bare torchvision model. The callback
applies the rules before Lightning calls ``configure_optimizers`` (so the optimizer below sees only the
trainable tensors) and puts frozen BatchNorm layers back in eval mode every epoch. Synthetic 32x32
images keep it runnable anywhere; swap in a real DataLoader for a real run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

import freezegui
from freezegui.integrations.lightning import FreezeRules


class Classifier(L.LightningModule):
    def __init__(self, spec: str, num_classes: int, lr: float) -> None:
        super().__init__()
        self.model = freezegui.load_model(spec, num_classes=num_classes)
        self.lr = lr

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        loss = torch.nn.functional.cross_entropy(self.model(images), labels)
        self.log("loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # Runs after FreezeRules.setup: only what the rule file trains is handed to the optimizer.
        # (With `method: lr_zero`, use freezegui.param_groups(self.model, rules, lr=self.lr) instead.)
        return torch.optim.AdamW((p for p in self.parameters() if p.requires_grad), lr=self.lr)


def synthetic_images(n: int, num_classes: int, size: int, seed: int = 0) -> DataLoader:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 3, size, size, generator=gen)
    labels = torch.randint(0, num_classes, (n,), generator=gen)
    return DataLoader(TensorDataset(images, labels), batch_size=8, shuffle=True, generator=gen)


def main(argv: list[str] | None = None) -> tuple[L.Trainer, Classifier, FreezeRules]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default=str(Path(__file__).with_name("resnet18_head.yaml")))
    parser.add_argument("--model", default="torchvision:resnet18")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    module = Classifier(args.model, args.num_classes, args.lr)
    freeze = FreezeRules(args.rules, submodule="model")
    trainer = L.Trainer(
        max_steps=args.steps,
        accelerator="auto",
        callbacks=[freeze],
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(module, synthetic_images(8 * args.steps, args.num_classes, args.image_size))
    print(freeze.report)
    return trainer, module, freeze


if __name__ == "__main__":
    main()
