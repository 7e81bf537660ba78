"""Per-module output shapes equal torchinfo's table (``summary_list`` output sizes) for every leaf module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from freezegui.core.plan import plan
from freezegui.core.plan.modules import Shape

torchinfo = pytest.importorskip("torchinfo")
timm = pytest.importorskip("timm")

BATCH = 2


def _tv(name: str, **kw: Any) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        import torchvision.models as tvm

        return getattr(tvm, name)(num_classes=10, **kw)

    return make


def _vit() -> nn.Module:
    from torchvision.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=32, mlp_dim=64, num_classes=10
    )


def _timm(name: str, **kw: Any) -> Callable[[], nn.Module]:
    return lambda: timm.create_model(name, pretrained=False, num_classes=10, **kw)


def _hf(kind: str) -> nn.Module:
    import transformers as tf

    from tests.models import tiny_gpt2, tiny_llama

    if kind == "llama":
        return tiny_llama(2)
    if kind == "gpt2":
        return tiny_gpt2()
    cfg = tf.BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, vocab_size=200
    )
    return tf.BertForSequenceClassification(cfg)


IMAGES = {  # name: (factory, image size)
    "tv-resnet18": (_tv("resnet18"), 32),
    "tv-mobilenet_v3_small": (_tv("mobilenet_v3_small"), 32),
    "tv-squeezenet1_1": (_tv("squeezenet1_1"), 64),
    "tv-shufflenet_v2_x0_5": (_tv("shufflenet_v2_x0_5"), 32),
    "tv-vit": (_vit, 32),
    "timm-convnext_atto": (_timm("convnext_atto"), 32),
    "timm-resnet10t": (_timm("resnet10t"), 32),
    "timm-vit_tiny": (_timm("vit_tiny_patch16_224", img_size=32, patch_size=8), 32),
}
TEXT = ["hf-bert", "hf-gpt2", "hf-llama"]
SEQ = 8


def torchinfo_size(shape: Shape | None) -> list[int]:
    """What torchinfo prints for an output of this shape: a tuple shows its first item, a dict its last."""
    if isinstance(shape, tuple):
        return list(shape)
    if isinstance(shape, list):
        return torchinfo_size(shape[0]) if shape else []
    if isinstance(shape, dict):
        return torchinfo_size(list(shape.values())[-1]) if shape else []
    return []


def _compare(model: nn.Module, ours: dict, **summary_args: Any) -> int:
    stats = torchinfo.summary(model, verbose=0, depth=100, device="cpu", **summary_args)
    path_of = {}
    for name, m in model.named_modules():
        path_of.setdefault(id(m), name)
    first: dict[str, list[int]] = {}
    for layer in stats.summary_list:
        if layer.is_leaf_layer and id(layer.module) in path_of:
            first.setdefault(path_of[id(layer.module)], layer.output_size)
    assert first
    for path, size in first.items():
        assert torchinfo_size(ours[path].output_shape) == size, path
    return len(first)


@pytest.mark.parametrize("name", list(IMAGES))
def test_image_models_output_shapes_equal_torchinfo(name: str) -> None:
    make, size = IMAGES[name]
    model = make()
    p = plan(model, batch_size=BATCH, image_size=size, per_module=True)
    assert p.step_ran and p.modules is not None, p.message
    _compare(model, p.modules, input_size=(BATCH, 3, size, size))


@pytest.mark.parametrize("kind", TEXT)
def test_transformers_output_shapes_equal_torchinfo(kind: str) -> None:
    model = _hf(kind.removeprefix("hf-"))
    p = plan(model, batch_size=BATCH, seq_len=SEQ, per_module=True)
    assert p.step_ran and p.modules is not None, p.message
    ids = torch.randint(0, model.config.vocab_size, (BATCH, SEQ))
    _compare(model, p.modules, input_data={"input_ids": ids})


def test_at_least_ten_architectures() -> None:
    assert len(IMAGES) + len(TEXT) >= 10
