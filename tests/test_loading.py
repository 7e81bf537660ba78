"""Every spec form loads, and every failure is one FreezeguiError a user can act on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import freezegui
from freezegui.core.errors import FreezeguiError, LoadError, SpecError
from freezegui.core.models.loading import parse_spec
from freezegui.core.structure.heads import find_head
from tests import models


def test_torchvision_with_num_classes() -> None:
    model = freezegui.load_model("torchvision:resnet18", num_classes=10)
    assert model.fc.out_features == 10 and find_head(model) == "fc"
    assert sum(p.numel() for p in model.parameters()) == 11_181_642


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "vit_b_16", "convnext_tiny", "squeezenet1_0"])
def test_torchvision_families_structure_only(name: str) -> None:
    model = freezegui.load_model(f"torchvision:{name}", structure_only=True, num_classes=5)
    assert all(p.is_meta for p in model.parameters())
    head = model.get_submodule(find_head(model))
    assert (getattr(head, "out_features", None) or head.out_channels) == 5


def test_unknown_torchvision_name_suggests() -> None:
    with pytest.raises(SpecError, match="Did you mean: resnet18"):
        freezegui.load_model("torchvision:resnet1")


def test_pretrained_not_cached_says_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(LoadError, match=r"not in the local torch cache.*weights='DEFAULT'"):
        freezegui.load_model("torchvision:resnet18", pretrained=True)


def test_structure_only_uses_no_memory() -> None:
    model = freezegui.load_model("torchvision:resnet50", structure_only=True)
    assert all(p.device.type == "meta" for p in model.parameters())


def _tiny_bert_config():
    from transformers import BertConfig

    return BertConfig(
        vocab_size=99, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32
    )


def test_hf_checkpoint_folder(tmp_path: Path) -> None:
    from transformers import BertForSequenceClassification

    src = BertForSequenceClassification(_tiny_bert_config())
    src.save_pretrained(tmp_path / "my-bert")
    model = freezegui.load_model(f"hf:{tmp_path / 'my-bert'}")
    assert type(model).__name__ == "BertForSequenceClassification"
    assert torch.equal(
        model.bert.embeddings.word_embeddings.weight, src.bert.embeddings.word_embeddings.weight
    )
    # A folder with a config.json is recognised without the prefix.
    assert type(freezegui.load_model(str(tmp_path / "my-bert"))).__name__ == "BertForSequenceClassification"
    relabelled = freezegui.load_model(f"hf:{tmp_path / 'my-bert'}", num_classes=7)
    assert relabelled.classifier.out_features == 7 and find_head(relabelled) == "classifier"


def test_hf_config_and_structure_only(tmp_path: Path) -> None:
    cfg = _tiny_bert_config()
    cfg.architectures = ["BertModel"]
    cfg.save_pretrained(tmp_path)
    model = freezegui.load_model(f"hf-config:{tmp_path / 'config.json'}")
    assert type(model).__name__ == "BertModel" and not next(model.parameters()).is_meta
    meta = freezegui.load_model(f"hf-config:{tmp_path}", structure_only=True)
    assert next(meta.parameters()).is_meta


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a readable JSON config"),
        (json.dumps({"hidden_size": 3}), "no `model_type`"),
        (json.dumps({"model_type": "nope"}), "does not know model_type"),
    ],
)
def test_hf_config_errors(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(LoadError, match=message):
        freezegui.load_model(f"hf-config:{tmp_path}")


def test_hf_missing_folder_offline() -> None:
    with pytest.raises(FreezeguiError):
        freezegui.load_model("hf:/nonexistent/folder/for/sure")


def test_py_factory() -> None:
    model = freezegui.load_model("py:tests.models:factory_mlp")
    assert isinstance(model, models.MLP)
    assert freezegui.load_model("py:tests.models:factory_mlp", num_classes=2).fc2.out_features == 2


def test_file_factory(tmp_path: Path) -> None:
    f = tmp_path / "mymodel.py"
    f.write_text("import torch\n\ndef build(width=3):\n    return torch.nn.Linear(width, 2)\n")
    model = freezegui.load_model(f"{f}:build", width=5)
    assert model.in_features == 5


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("py:tests.models:factory_raises", LoadError, "raised RuntimeError: boom"),
        ("py:tests.models:factory_not_a_module", LoadError, "returned dict, not a torch.nn.Module"),
        ("py:tests.models:nope", SpecError, "has no attribute 'nope'"),
        ("py:no_such_package_xyz:f", SpecError, "cannot import"),
        ("tests/models.py", SpecError, "name the factory"),
        ("what:is:this", SpecError, "cannot understand model spec"),
        ("", SpecError, "empty model spec"),
        ("missing.pt", LoadError, "no such file"),
    ],
)
def test_spec_errors(spec: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        freezegui.load_model(spec)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torchscript_file(tmp_path: Path) -> None:
    path = tmp_path / "scripted.pt"
    torch.jit.script(models.MLP()).save(str(path))
    model = freezegui.load_model(str(path))
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in models.MLP().parameters())


def test_pickled_module_refused_unless_trusted(tmp_path: Path) -> None:
    path = tmp_path / "whole.pt"
    torch.save(models.MLP(), path)
    with pytest.raises(LoadError, match="Unpickling runs code"):
        freezegui.load_model(str(path))
    assert isinstance(freezegui.load_model(str(path), trust_pickle=True), models.MLP)


def test_state_dict_needs_architecture_and_loads_as_weights(tmp_path: Path) -> None:
    src = models.SmallConvNet()
    pt, st = tmp_path / "sd.pt", tmp_path / "sd.safetensors"
    torch.save(src.state_dict(), pt)
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(st))
    for path in (pt, st):
        with pytest.raises(SpecError, match="weights"):
            freezegui.load_model(str(path))
        model = freezegui.load_model("py:tests.models:SmallConvNet", weights=path)
        assert torch.equal(model.fc.weight, src.fc.weight)


def test_weights_that_do_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "sd.pt"
    torch.save(models.MLP().state_dict(), path)
    with pytest.raises(LoadError, match="does not fit this architecture"):
        freezegui.load_model("py:tests.models:SmallConvNet", weights=path)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_corrupt_checkpoint(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(LoadError):
        freezegui.load_model("py:tests.models:SmallConvNet", weights=path)


def test_structure_only_cannot_take_weights() -> None:
    with pytest.raises(SpecError, match="cannot also load weights"):
        freezegui.load_model("torchvision:resnet18", structure_only=True, weights="x.pt")


def test_parse_spec_forms() -> None:
    assert parse_spec("torchvision:resnet18").display_name == "resnet18"
    assert parse_spec("py:a.b:make").kind is freezegui.SpecKind.PY
    assert parse_spec("dir/f.py:make").kind == "pyfile"  # a StrEnum: equal to the string
    assert parse_spec("hf-config:cfg.json").kind is freezegui.SpecKind.HF_CONFIG
    assert str(parse_spec("hf:./my-bert")) == "hf:./my-bert"
