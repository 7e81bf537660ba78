"""rules_from_selection is exact and short: apply(export(x)) == x for every selection."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freezegui.core.rules.ruleset import RuleSet, rules_from_selection
from freezegui.core.structure.tree import build_tree
from tests import models
from tests.strategies import selections


def _trees():
    import torchvision
    from transformers import BertConfig, BertModel

    with torch.device("meta"):
        resnet = torchvision.models.resnet18(num_classes=10)
        bert = BertModel(BertConfig(num_hidden_layers=4))
    return {
        "tied": build_tree(models.TiedLM()),
        "convnet": build_tree(models.SmallConvNet()),
        "resnet18": build_tree(resnet),
        "bert4": build_tree(bert),
    }


TREES = _trees()


@pytest.mark.parametrize("name", sorted(TREES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_roundtrip(name: str, data) -> None:
    tree = TREES[name]
    mask = data.draw(selections(tree))
    rs = rules_from_selection(tree, mask)
    again = RuleSet.loads(rs.dumps())  # through the file format too
    result, matches = again.evaluate(tree)
    assert np.array_equal(result, mask)
    assert all(m.params > 0 for m in matches)  # no dead rules
    # Never longer than listing the minority tensors one by one (by every name they have).
    occ = mask[tree.occ_param]
    assert len(rs.rules) <= min(int(occ.sum()), int((~occ).sum()))


def test_uniform_selections_need_no_rules() -> None:
    tree = TREES["resnet18"]
    for value in (True, False):
        rs = rules_from_selection(tree, np.full(len(tree.params), value))
        assert rs.rules == [] and rs.default == ("train" if value else "freeze")
