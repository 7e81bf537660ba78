"""LLaMA-Factory's freeze cases (tests/peer_cases.py), and export exactly under its substring matching.

LLaMA-Factory is not installed here (its stack is far heavier than freezegui's); its rule is the one
its ``_setup_freeze_tuning`` states: a parameter trains when its name contains ``.{layer}.{module}``
for a chosen layer and module, or an extra module's name.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from freezegui.core.errors import FreezeguiWarning
from freezegui.core.interop.llamafactory import (
    from_llamafactory,
    llamafactory_mask,
    num_layers_of,
    read_llamafactory_config,
    to_llamafactory,
)
from freezegui.core.structure.tree import ModuleTree, build_tree
from tests import models, peer_cases

transformers = pytest.importorskip("transformers")


@cache
def _model(kind: str) -> nn.Module:
    torch.manual_seed(0)
    t = transformers
    if kind == "llama2":
        return models.tiny_llama(layers=2)
    if kind == "llama4":
        return models.tiny_llama(layers=4)
    if kind == "t5":
        return t.T5ForConditionalGeneration(
            t.T5Config(vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2)
        )
    if kind == "experts":
        return models.NumberedExperts(num_layers=4, num_experts=4)
    raise KeyError(kind)


def _tree(kind: str) -> ModuleTree:
    return build_tree(_model(kind))


def _config(args: dict[str, object]) -> str:
    return yaml.safe_dump({"finetuning_type": "freeze", **args})


def _names(tree: ModuleTree, mask: np.ndarray) -> set[str]:
    return {tree.params[i].name for i in np.flatnonzero(mask).tolist()}


@pytest.mark.parametrize(("args", "prefixes", "substrings"), peer_cases.LLAMAFACTORY_FREEZE_CASES)
def test_llamafactory_freeze_cases(args, prefixes, substrings) -> None:  # type: ignore[no-untyped-def]
    model = _model("llama2")
    tree = _tree("llama2")
    want = {
        n for n, _ in model.named_parameters() if n.startswith(prefixes) or any(s in n for s in substrings)
    }
    rs = from_llamafactory(_config(args), tree, num_layers_of(model) or 0)
    assert _names(tree, rs.evaluate(tree)[0]) == want
    text = to_llamafactory(tree, rs.evaluate(tree)[0], 2)
    assert _names(tree, llamafactory_mask(tree, read_llamafactory_config(text), 2)) == want


@pytest.mark.parametrize(
    ("kind", "args"),
    [
        ("llama4", {"freeze_trainable_layers": 2, "use_llama_pro": True}),  # expanded blocks 1 and 3
        ("t5", {"freeze_trainable_layers": 1}),  # ".1." also hits layer.1 inside every block
        ("t5", {"freeze_trainable_layers": -1, "freeze_trainable_modules": "layer"}),
        ("experts", {"freeze_trainable_layers": 1}),  # ".3." also hits experts.3 of every layer
        ("experts", {"freeze_trainable_layers": 2, "freeze_trainable_modules": "mlp"}),
    ],
)
def test_what_an_import_trains_exports_exactly(kind: str, args: dict[str, object]) -> None:
    model, tree = _model(kind), _tree(kind)
    layers = num_layers_of(model) or 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FreezeguiWarning)  # the import says what the substrings reach
        imported = from_llamafactory(_config(args), tree, layers).evaluate(tree)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FreezeguiWarning)  # exact: nothing more trains, no warning
        text = to_llamafactory(tree, imported, layers)  # refused before
    assert np.array_equal(llamafactory_mask(tree, read_llamafactory_config(text), layers), imported)


def test_llama_pro_is_written_when_that_is_the_shape() -> None:
    tree = _tree("llama4")
    mask = np.array([p.name.startswith(("model.layers.1.", "model.layers.3.")) for p in tree.params])
    config = read_llamafactory_config(to_llamafactory(tree, mask, 4))
    assert config.use_llama_pro and config.trainable_layers == 2
