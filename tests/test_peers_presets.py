"""Every selection the app's suggestions make (core/editing/presets.py), through each tool and back.

Freeze suggestions (head only, last N blocks, norm layers, everything) go through axolotl, a names
list and LLaMA-Factory (exact, or a refusal saying why; never more than the selection without a
warning); LoRA suggestions (attention projections, all linear but the head, the last block's linear
layers), alone and with the head trained fully, go through PEFT's own ``get_peft_model`` and back.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from functools import cache

import numpy as np
import pytest
import torch
from torch import nn

from freezegui.core.editing.presets import (
    all_linear_except_head_mask,
    attention_projections_mask,
    head_index,
    last_blocks_lora_mask,
    norm_indices,
    subtree_mask,
    train_last_blocks_mask,
)
from freezegui.core.errors import FreezeguiWarning
from freezegui.core.interop.axolotl import import_axolotl, to_axolotl
from freezegui.core.interop.llamafactory import (
    NotExpressibleError,
    llamafactory_mask,
    num_layers_of,
    read_llamafactory_config,
    to_llamafactory,
)
from freezegui.core.interop.names import from_names, to_names
from freezegui.core.interop.peft import PeftExportError, from_peft, to_peft
from freezegui.core.rules.lora import LoraSettings
from freezegui.core.structure.tree import ModuleTree, build_tree
from tests import models

KINDS = ["llama", "gpt2", "bert", "resnet18"]


@cache
def _model(kind: str) -> nn.Module:
    if kind == "resnet18":
        import torchvision

        torch.manual_seed(0)
        return torchvision.models.resnet18(num_classes=10)
    return {"llama": models.tiny_llama, "gpt2": models.tiny_gpt2, "bert": models.tiny_bert}[kind]()


@cache
def _tree(kind: str) -> ModuleTree:
    return build_tree(_model(kind))


def _freeze_suggestions(tree: ModuleTree) -> dict[str, np.ndarray]:
    out = {"everything": np.ones(len(tree.params), dtype=bool)}
    head = head_index(tree)
    if head is not None:
        out["head only"] = subtree_mask(tree, [head])
    for n in (1, 2):
        out[f"last {n} blocks"] = train_last_blocks_mask(tree, n)
    out["norm layers"] = subtree_mask(tree, norm_indices(tree))
    return out


def _cases(suggest):  # type: ignore[no-untyped-def]
    return [(k, name) for k in KINDS for name in suggest(_tree(k))]


@pytest.mark.parametrize(("kind", "name"), _cases(_freeze_suggestions))
def test_freeze_suggestions_round_trip(kind: str, name: str) -> None:
    tree = _tree(kind)
    mask = _freeze_suggestions(tree)[name]
    axolotl = import_axolotl(to_axolotl(tree, mask), tree).rules
    assert np.array_equal(axolotl.evaluate(tree)[0], mask)
    assert np.array_equal(from_names(to_names(tree, mask), tree).evaluate(tree)[0], mask)
    layers = num_layers_of(_model(kind))
    if not layers:
        return
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FreezeguiWarning)
            text = to_llamafactory(tree, mask, layers)
    except NotExpressibleError as exc:
        assert str(exc)  # a refusal that says why
        return
    got = llamafactory_mask(tree, read_llamafactory_config(text), layers)
    assert not (mask & ~got).any()
    assert np.array_equal(got, mask) or (caught and "WARNING" in text)


def _lora_suggestions(tree: ModuleTree) -> dict[str, np.ndarray]:
    out = {
        "attention projections": attention_projections_mask(tree),
        "all linear but head": all_linear_except_head_mask(tree),
    }
    with contextlib.suppress(ValueError):  # no repeated block list (a ResNet)
        out["last block's linear layers"] = last_blocks_lora_mask(tree, 1)
    return {k: v for k, v in out.items() if v.any()}


def _peft_adapted_and_saved(model: nn.Module, config: dict) -> tuple[set[str], set[str]]:  # type: ignore[type-arg]
    peft = pytest.importorskip("peft")
    from peft.tuners.lora import LoraLayer
    from peft.utils.other import ModulesToSaveWrapper

    kwargs = {k: v for k, v in config.items() if k not in ("peft_type", "base_model_name_or_path")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PEFT's fan_in_fan_out note on GPT-2's Conv1D
        pm = peft.get_peft_model(copy.deepcopy(model), peft.LoraConfig(**kwargs))
    names = dict(pm.named_modules())
    bare = {n: n.removeprefix("base_model.model.") for n in names}
    return (
        {bare[n] for n, m in names.items() if isinstance(m, LoraLayer)},
        {bare[n] for n, m in names.items() if isinstance(m, ModulesToSaveWrapper)},
    )


@pytest.mark.parametrize("with_head", [False, True])
@pytest.mark.parametrize(("kind", "name"), _cases(_lora_suggestions))
def test_lora_suggestions_round_trip_through_peft(kind: str, name: str, with_head: bool) -> None:
    pytest.importorskip("peft")
    tree = _tree(kind)
    adapted = _lora_suggestions(tree)[name]
    trainable = np.zeros(len(tree.params), dtype=bool)
    head = head_index(tree)
    if with_head:
        if head is None or adapted[head]:
            pytest.skip("no head to train beside these adapters")
        trainable = subtree_mask(tree, [head])
    try:
        exported = to_peft(tree, trainable, adapted, LoraSettings(r=2, lora_alpha=4))
    except PeftExportError as exc:
        assert "tied" in str(exc)  # GPT-2's lm_head is wte: PEFT would untie it
        return
    want_adapted = {tree.paths[i] for i in np.flatnonzero(adapted).tolist()}
    got_adapted, got_saved = _peft_adapted_and_saved(_model(kind), exported.config)
    assert got_adapted == want_adapted
    assert got_saved == set(exported.modules_to_save)
    back = from_peft(exported.config, tree)
    assert np.array_equal(back.adapted, adapted)
    assert np.array_equal(back.trainable, trainable)
