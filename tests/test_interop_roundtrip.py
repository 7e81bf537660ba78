"""Acceptance: random selections on ResNet-18, BERT-base and a small Llama survive every format and back."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freezegui.core.errors import FreezeguiWarning
from freezegui.core.interop.axolotl import axolotl_mask, from_axolotl, read_axolotl_config, to_axolotl
from freezegui.core.interop.llamafactory import (
    FreezeArgs,
    NotExpressibleError,
    llamafactory_mask,
    module_names,
    read_llamafactory_config,
    to_llamafactory,
)
from freezegui.core.interop.names import from_names, to_names
from freezegui.core.interop.python import to_python
from freezegui.core.structure.tree import build_tree
from tests.strategies import selections


def _models():
    import torchvision
    from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

    with torch.device("meta"):
        llama_cfg = LlamaConfig(
            num_hidden_layers=6,
            hidden_size=64,
            intermediate_size=128,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=128,
        )
        return {
            "resnet18": (torchvision.models.resnet18(num_classes=10), None),
            "bert-base": (BertModel(BertConfig()), 12),
            "llama": (LlamaForCausalLM(llama_cfg), 6),
        }


MODELS = _models()
TREES = {name: build_tree(model) for name, (model, _) in MODELS.items()}
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _snippet_mask(name: str, tree, mask: np.ndarray, method: str) -> np.ndarray:
    ns: dict = {}
    exec(compile(to_python(tree, mask, method), "<snippet>", "exec"), ns)
    flags = {id(p): t for p, t in ns["trainable_flags"](MODELS[name][0])}
    return np.array([flags[id(t)] for t in tree.tensors])


@pytest.mark.parametrize("name", sorted(MODELS))
@SETTINGS
@given(data=st.data())
def test_python_names_axolotl_roundtrip(name: str, data) -> None:
    tree = TREES[name]
    mask = data.draw(selections(tree))
    for method in ("requires_grad", "lr_zero"):
        assert np.array_equal(_snippet_mask(name, tree, mask, method), mask)
    for t in (None, tree):
        assert np.array_equal(from_names(to_names(tree, mask), t).evaluate(tree)[0], mask)
    text = to_axolotl(tree, mask)
    assert np.array_equal(axolotl_mask(tree, read_axolotl_config(text)), mask)
    for t in (None, tree):
        rs = from_axolotl(text, t)
        assert np.array_equal(rs.evaluate(tree)[0], mask)
        assert np.array_equal(
            axolotl_mask(tree, read_axolotl_config(to_axolotl(tree, rs.evaluate(tree)[0]))), mask
        )


@st.composite
def freeze_args(draw, tree, num_layers):
    hidden, outside = module_names(tree)
    n = draw(st.integers(-num_layers, num_layers).filter(lambda v: v != 0))
    modules = draw(
        st.one_of(st.just(["all"]), st.lists(st.sampled_from(sorted(hidden)), min_size=1, unique=True))
    )
    extras = draw(st.lists(st.sampled_from(sorted(outside)), max_size=2, unique=True))
    return FreezeArgs(n, modules, extras)


@pytest.mark.parametrize("name", ["bert-base", "llama"])
@SETTINGS
@given(data=st.data())
def test_llamafactory_roundtrip(name: str, data) -> None:
    tree, layers = TREES[name], MODELS[name][1]
    assert layers
    # Whatever LLaMA-Factory arguments train, exporting that set and reading it back trains the same.
    mask = llamafactory_mask(tree, data.draw(freeze_args(tree, layers)), layers)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FreezeguiWarning)
        text = to_llamafactory(tree, mask, layers)
    assert np.array_equal(llamafactory_mask(tree, read_llamafactory_config(text), layers), mask)
    # Random selections: either a clear refusal, or arguments that train it (exactly, unless it warned).
    other = data.draw(selections(tree))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FreezeguiWarning)
            text = to_llamafactory(tree, other, layers)
    except NotExpressibleError as exc:
        assert str(exc)
        return
    got = llamafactory_mask(tree, read_llamafactory_config(text), layers)
    assert not (other & ~got).any()
    assert np.array_equal(got, other) or caught


def test_llamafactory_refuses_models_without_layers() -> None:
    tree = TREES["resnet18"]
    with pytest.raises(NotExpressibleError, match="numbered layers"):
        to_llamafactory(tree, np.ones(len(tree.params), dtype=bool), 12)
