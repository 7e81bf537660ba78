"""timm models: ``timm:NAME`` specs, heads from timm's own API, headless backbones never get an inner
layer replaced, "Train head only" / "Train last N blocks" follow ``get_classifier()`` / ``group_matcher()``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import freezegui
from freezegui.cli.main import main
from freezegui.core.editing import presets
from freezegui.core.errors import FreezeguiError, LoadError, SpecError
from freezegui.core.structure.heads import find_head, last_layer_called
from freezegui.core.structure.tree import build_tree

timm = pytest.importorskip("timm")

# The smallest variant of each family, and a small config of it for a real forward on CPU.
ARCHS = {
    "vit_tiny_patch16_224": {"img_size": 32, "depth": 2},
    "deit_tiny_patch16_224": {"img_size": 32, "depth": 2},
    "beit_base_patch16_224": {"img_size": 32, "depth": 2, "embed_dim": 48, "num_heads": 2},
    "swin_tiny_patch4_window7_224": {
        "img_size": 56,
        "depths": (1, 1, 1, 1),
        "embed_dim": 24,
        "num_heads": (1,) * 4,
    },
    "convnext_atto": {},
    "efficientnet_b0": {},
    "mobilenetv3_small_050": {},
    "regnetx_002": {},
    "resnet10t": {},
    "eva02_tiny_patch14_224": {"img_size": 28, "depth": 2},
}


def _meta(name: str, **kwargs: object) -> torch.nn.Module:
    with torch.device("meta"):
        return timm.create_model(name, pretrained=False, **kwargs)


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _ids(module: torch.nn.Module) -> set[int]:
    return {id(p) for p in module.parameters()}


def _trained_ids(tree, mask: np.ndarray) -> set[int]:
    return {id(tree.tensors[i]) for i in np.flatnonzero(mask)}


@pytest.mark.parametrize("name", ARCHS)
def test_counts_head_and_head_only(name: str) -> None:
    ten = freezegui.load_model(f"timm:{name}", structure_only=True, num_classes=10)  # the full-size arch
    tree = build_tree(ten)
    assert tree.total_params == _count(ten) == _count(_meta(name, num_classes=10))
    classifier = ten.get_classifier()
    assert classifier.out_features == 10 and ten.get_submodule(find_head(ten)) is classifier
    head = presets.head_index(tree)
    assert head is not None
    assert _trained_ids(tree, presets.subtree_mask(tree, [head])) == _ids(classifier)


@pytest.mark.parametrize("name", ARCHS)
def test_ten_logits_from_a_real_forward(name: str) -> None:
    small = ARCHS[name]
    model = freezegui.load_model(f"timm:{name}", num_classes=10, **small).eval()
    size = small.get("img_size", 32)
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 10)


@pytest.mark.parametrize("name", ARCHS)
def test_headless_variant_gets_a_head_from_timm(name: str) -> None:
    spec, small = "py:tests.models:timm_headless", ARCHS[name]  # a small config: meta builds cost too
    headless = freezegui.load_model(spec, structure_only=True, model_name=name, **small)
    assert find_head(headless) is None  # get_classifier() is nn.Identity: no inner layer is taken
    assert presets.head_index(build_tree(headless)) is None
    fixed = freezegui.load_model(spec, structure_only=True, model_name=name, num_classes=10, **small)
    assert _count(fixed) == _count(_meta(name, num_classes=10, **small))
    assert find_head(fixed) is not None and fixed.get_classifier().out_features == 10
    size = small.get("img_size", 32)
    assert fixed(torch.empty(2, 3, size, size, device="meta")).shape == (2, 10)


def test_headless_real_model_forward_after_num_classes() -> None:
    """The issue's failure: eva02 built headless then num_classes=10 used to replace blocks.11.mlp.fc2."""
    model = freezegui.load_model(
        "py:tests.models:timm_headless",
        model_name="eva02_tiny_patch14_224",
        num_classes=10,
        img_size=28,
        depth=2,
    )
    assert find_head(model) == "head"
    assert model.blocks[-1].mlp.fc2.out_features == 192  # untouched: it used to become Linear(.., 10)
    assert model(torch.randn(1, 3, 28, 28)).shape == (1, 10)


def test_models_without_head_api_are_refused_not_broken() -> None:
    with pytest.raises(FreezeguiError, match="has no classification head"):
        freezegui.load_model("py:tests.models:factory_resnet_without_fc", num_classes=10)
    from tests.models import Backbone

    body = Backbone()
    assert find_head(body) is None and last_layer_called(body) == "body.norm"
    with_head = Backbone(num_classes=5)
    assert find_head(with_head) == "body.head" and last_layer_called(with_head) == "body.head"


def test_last_blocks_follow_group_matcher() -> None:
    model = freezegui.load_model("timm:resnet10t", structure_only=True)
    tree = build_tree(model)
    assert presets.block_info(tree) == ("blocks (timm group_matcher)", 4)  # the four stages
    names = {tree.params[i].name for i in np.flatnonzero(presets.train_last_blocks_mask(tree, 1))}
    assert names == {n for n, _ in model.named_parameters() if n.startswith(("layer4.", "fc."))}
    vit = build_tree(freezegui.load_model("timm:vit_tiny_patch16_224", structure_only=True))
    names = {vit.params[i].name for i in np.flatnonzero(presets.train_last_blocks_mask(vit, 2))}
    assert names == {
        n
        for n, _ in vit.modules[0].named_parameters()
        if n.startswith(("blocks.10.", "blocks.11.", "norm.", "head."))
    }
    assert not presets.train_last_blocks_mask(vit, 0).any()


def test_unknown_name_suggests() -> None:
    with pytest.raises(SpecError, match="Did you mean: resnet10t"):
        freezegui.load_model("timm:resnet10")


def test_pretrained_reads_the_local_cache_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants
    from safetensors.torch import save_file

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch"))
    with pytest.raises(LoadError, match=r"not in the local cache.*pretrained=True"):
        freezegui.load_model("timm:resnet10t", pretrained=True)
    source = timm.create_model("resnet10t")
    repo = tmp_path / "models--timm--resnet10t.c3_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abc")
    (repo / "snapshots" / "0123abc").mkdir(parents=True)
    save_file(source.state_dict(), str(repo / "snapshots" / "0123abc" / "model.safetensors"))
    loaded = freezegui.load_model("timm:resnet10t", pretrained=True, num_classes=3)
    assert torch.equal(loaded.conv1[0].weight, source.conv1[0].weight)  # the cached weights
    assert loaded.fc.out_features == 3 and find_head(loaded) == "fc"


def test_cli_timm_list_and_factory_args(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--timm"]) == 0
    listed = capsys.readouterr().out.split()
    assert "timm:convnext_atto" in listed and "timm:eva02_tiny_patch14_224" in listed
    args = [
        "summary",
        "py:timm:create_model",
        "--arg",
        "model_name=convnext_atto",
        "--structure-only",
        "--json",
    ]
    assert main([*args, "--arg", "drop_rate=0.1"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["total"] == _count(_meta("convnext_atto"))
    # A bad --arg is a usage error, before anything loads.
    for bad, message in (("num_classes=3", "use --num-classes N"), ("oops", "write --arg KEY=VALUE")):
        with pytest.raises(SystemExit) as exited:
            main([*args, "--arg", bad])
        assert exited.value.code == 2 and message in capsys.readouterr().err
