"""timm's layer-wise decay and weight-decay exemptions, compared with timm's own param_groups_layer_decay
on models with and without ``group_matcher()`` (timm's fallback: ``auto_group_layers``)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import torch
from torch import nn

from freezegui.core.lr.groups import no_decay_mask
from freezegui.core.lr.scales import decay_scales, layer_ids
from freezegui.core.structure.tree import build_tree
from tests import models

timm = pytest.importorskip("timm")
from timm.optim import param_groups_layer_decay  # noqa: E402

# (model name, keyword arguments, declares group_matcher): small configs, built on the meta device.
TIMM_MODELS: list[tuple[str, dict[str, object], bool]] = [
    ("poolformer_s12", {}, False),  # the example: no group_matcher
    ("pit_ti_224", {}, False),  # a classifier prefix without a dot
    ("vit_tiny_patch16_224", {"depth": 2}, True),
    ("resnet18", {}, True),
    ("convnext_atto", {}, True),
]


@cache
def _timm(name: str, kwargs: tuple[tuple[str, object], ...]) -> nn.Module:
    with torch.device("meta"):
        return timm.create_model(name, pretrained=False, num_classes=5, **dict(kwargs))


def _timm_scales(model: nn.Module, decay: float) -> dict[str, float]:
    groups = param_groups_layer_decay(model, weight_decay=0.05, layer_decay=decay)
    by_id = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    return {n: by_id[id(p)] for n, p in model.named_parameters()}


@pytest.mark.parametrize(("name", "kwargs", "has_matcher"), TIMM_MODELS)
def test_layer_decay_scales_equal_timm_s_own(name: str, kwargs: dict[str, object], has_matcher: bool) -> None:
    model = _timm(name, tuple(sorted(kwargs.items())))
    assert callable(getattr(model, "group_matcher", None)) is has_matcher
    tree = build_tree(model)
    ours = decay_scales(tree, 0.75)
    theirs = _timm_scales(model, 0.75)
    got = {tree.primary_name(j): float(ours[j]) for j in range(len(tree.params))}
    assert got.keys() == theirs.keys()
    differ = [n for n in got if not np.isclose(got[n], theirs[n], rtol=1e-12)]
    assert not differ, differ[:5]  # poolformer_s12: 122 of 132 differed before
    if not has_matcher:
        assert layer_ids(tree).source == "timm auto_group_layers"


def test_a_non_timm_model_keeps_the_block_list() -> None:
    tree = build_tree(models.tiny_bert())
    assert layer_ids(tree).source == "bert.encoder.layer"


def test_timm_s_declared_exemptions_skip_weight_decay() -> None:
    model = _timm("vit_tiny_patch16_224", (("depth", 2),))
    tree = build_tree(model)
    exempt = {tree.primary_name(j) for j in np.flatnonzero(no_decay_mask(tree, "bias_and_norm")).tolist()}
    assert {"pos_embed", "cls_token"} <= exempt  # model.no_weight_decay(); ignored before
    groups = param_groups_layer_decay(model, no_weight_decay_list=model.no_weight_decay())
    theirs = {n for n, p in model.named_parameters() for g in groups if g["weight_decay"] == 0
              for q in g["params"] if q is p}  # fmt: skip
    # timm also exempts every 1-D tensor; bias_and_norm exempts biases and norm layers: the same here.
    assert exempt == theirs
