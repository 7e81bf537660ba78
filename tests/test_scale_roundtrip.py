"""Round trips with lr scales and schedules: random scales/stages -> file -> load -> the same per-tensor state."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freezegui.core.lr.evaluate import evaluate_scales
from freezegui.core.lr.groups import stage_states
from freezegui.core.rules.keys import Stage
from freezegui.core.rules.ruleset import Rule, RuleSet, literal_pattern
from freezegui.core.rules.writer import rules_with_scales
from freezegui.core.structure.tree import ModuleTree, build_tree
from tests import models
from tests.strategies import selections

SCALES = st.sampled_from([0.1, 0.25, 0.5, 2.0, 3.0, 0.9**7, 1e-3])


def _trees() -> dict[str, ModuleTree]:
    from transformers import BertConfig, BertModel

    with torch.device("meta"):
        bert = BertModel(
            BertConfig(num_hidden_layers=3, hidden_size=8, num_attention_heads=2, intermediate_size=8)
        )
    return {
        "tied": build_tree(models.TiedLM()),
        "grouped": build_tree(models.GroupedViT()),
        "bert3": build_tree(bert),
    }


TREES = _trees()


@st.composite
def scaled(draw: st.DrawFn, tree: ModuleTree) -> tuple[np.ndarray, np.ndarray]:
    mask = draw(selections(tree))
    scales = np.ones(len(tree.params))
    for _ in range(draw(st.integers(0, 5))):
        node = tree.nodes[draw(st.integers(0, len(tree.nodes) - 1))]
        scales[tree.param_indices(node)] = draw(SCALES)
    return mask, scales


@st.composite
def stage_rules(draw: st.DrawFn, tree: ModuleTree) -> list[Rule]:
    paths = [p for i, p in enumerate(tree.paths) if i and tree.nparams[i]] + list(tree.occurrence_paths)
    out = []
    for _ in range(draw(st.integers(1, 3))):
        path = literal_pattern(draw(st.sampled_from(paths)))
        kind = draw(st.sampled_from(["train", "freeze", "scale"]))
        if kind == "scale":
            out.append(Rule.make("train", path, lr_scale=draw(SCALES)))
        else:
            out.append(Rule.make(kind, path))  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize("name", sorted(TREES))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_scales_and_stages_survive_the_file(name: str, data: st.DataObject) -> None:
    tree = TREES[name]
    mask, scales = data.draw(scaled(tree))
    rs = rules_with_scales(tree, mask, scales)
    n_stages = data.draw(st.integers(0, 3))
    unit = data.draw(st.sampled_from(["step", "epoch"]))
    rs.schedule = [Stage(unit, 5 * (k + 1), data.draw(stage_rules(tree))) for k in range(n_stages)]  # type: ignore[arg-type]
    again = RuleSet.loads(rs.dumps())
    # Stage 0 is exactly the selection and its scales (frozen tensors have none).
    got_mask, got_scales = evaluate_scales(tree, again)
    np.testing.assert_array_equal(got_mask, mask)
    np.testing.assert_array_equal(got_scales, np.where(mask, scales, 0.0))
    assert [(s.unit, s.at) for s in again.schedule] == [(s.unit, s.at) for s in rs.schedule]
    for (m1, s1), (m2, s2) in zip(stage_states(tree, rs), stage_states(tree, again), strict=True):
        np.testing.assert_array_equal(m1, m2)
        np.testing.assert_array_equal(s1, s2)
    # The shortest exact list: never longer than one rule per occurrence that differs from the default.
    labels = np.where(mask, scales, 0.0)[tree.occ_param]
    default = 1.0 if rs.default == "train" else 0.0
    assert len(rs.rules) <= int((labels != default).sum())


@pytest.mark.parametrize("name", sorted(TREES))
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_without_scales_the_output_is_the_plain_shortest_file(name: str, data: st.DataObject) -> None:
    from freezegui.core.rules.ruleset import rules_from_selection

    tree = TREES[name]
    mask = data.draw(selections(tree))
    assert rules_with_scales(tree, mask).dumps() == rules_from_selection(tree, mask).dumps()
