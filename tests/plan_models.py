"""Six real architectures, tiny, with the three selections the planner tests use (full, head, last two blocks)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn


@dataclass(frozen=True)
class Arch:
    name: str
    make: Callable[[], nn.Module]
    head: list[str]
    last_two: list[str]
    size: dict[str, Any]  # seq_len / image_size for the step

    def rules(self, selection: str) -> dict[str, Any]:
        if selection == "full":
            return {"default": "train"}
        train = self.head if selection == "head" else self.last_two + self.head
        return {"default": "freeze", "rules": [{"train": train}]}


def _resnet18() -> nn.Module:
    from torchvision.models import resnet18

    return resnet18(num_classes=10)


def _convnet() -> nn.Module:
    from tests.models import SmallConvNet

    return SmallConvNet()


def _vit() -> nn.Module:
    from torchvision.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        image_size=32, patch_size=8, num_layers=3, num_heads=4, hidden_dim=32, mlp_dim=64, num_classes=10
    )


def _bert() -> nn.Module:
    """BERT-base's structure (12 layers, post-LN encoder, pooler, classifier) at a small width."""
    from transformers import BertConfig, BertForSequenceClassification

    cfg = BertConfig(
        hidden_size=32, num_hidden_layers=12, num_attention_heads=4, intermediate_size=64, vocab_size=200
    )
    return BertForSequenceClassification(cfg)


def _llama() -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=200,
    )
    return LlamaForCausalLM(cfg)


def _gpt2() -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        n_embd=32, n_layer=3, n_head=4, vocab_size=200, n_positions=64, bos_token_id=0, eos_token_id=0
    )
    return GPT2LMHeadModel(cfg)


ARCHS = [
    Arch("resnet18", _resnet18, ["fc"], ["layer4.0", "layer4.1"], {"image_size": 32}),
    Arch("convnet", _convnet, ["fc"], ["features.3", "features.4"], {"image_size": 16}),
    Arch(
        "vit",
        _vit,
        ["heads"],
        ["encoder.layers.encoder_layer_1", "encoder.layers.encoder_layer_2"],
        {"image_size": 32},
    ),
    Arch("bert", _bert, ["classifier"], ["bert.encoder.layer.10", "bert.encoder.layer.11"], {"seq_len": 16}),
    Arch("llama", _llama, ["lm_head"], ["model.layers.1", "model.layers.2"], {"seq_len": 16}),
    Arch("gpt2", _gpt2, ["lm_head"], ["transformer.h.1", "transformer.h.2"], {"seq_len": 16}),
]


def loader_batch(
    model: nn.Module, batch_size: int, *, seq_len: int = 32, image_size: int | None = None
) -> tuple[Any, Any]:
    """The synthetic data's first batch as a ``DataLoader`` yields it: tensors of their own, not a view
    of a larger pool (whose whole storage autograd would count as saved). Returns (spec, batch)."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from freezegui.core.data.examples import make_batch
    from freezegui.core.data.synthetic import describe

    spec = describe(model, batch_size=batch_size, seq_len=seq_len, image_size=image_size)
    inputs, labels = make_batch(spec, 2 * batch_size, torch.device("cpu"))
    x = inputs[spec.key] if spec.key else inputs
    if spec.labels == "inputs":  # next-token data: the labels are the ids themselves
        (xb,) = next(iter(DataLoader(TensorDataset(x), batch_size=batch_size)))
        yb = xb
    else:
        xb, yb = next(iter(DataLoader(TensorDataset(x, labels), batch_size=batch_size)))
    return spec, ({spec.key: xb} if spec.key else xb, yb)
