"""The planner's dispatch shortcuts change no number: its counter equals PyTorch's own
FlopCounterMode on real steps, and answering repeated meta ops from their first result gives the
same plan as running every meta kernel."""

from __future__ import annotations

import pytest
from torch.utils.flop_counter import FlopCounterMode

import freezegui
from freezegui.core.plan import KEYS, measure, plan
from freezegui.core.plan.attention import ATTENTION_FLOPS
from freezegui.core.plan.meta_cache import MetaResults
from tests.plan_models import ARCHS, Arch, loader_batch

SMALL = [
    a for a in ARCHS if a.name not in ("bert", "resnet18")
]  # real steps of the two big ones take seconds


@pytest.mark.parametrize("arch", SMALL, ids=lambda a: a.name)
def test_step_counter_equals_pytorchs_flop_counter(arch: Arch) -> None:
    model = arch.make()
    spec, batch = loader_batch(model, 2, **arch.size)
    ours = measure.measure_step(model, lambda: spec.loss(model, batch))
    model.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False, custom_mapping=dict(ATTENTION_FLOPS)) as theirs:
        spec.loss(model, batch).backward()
    assert ours.step_flops == theirs.get_total_flops() > 0


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: a.name)
def test_reused_meta_results_give_the_same_plan(arch: Arch, monkeypatch) -> None:
    model, rules = arch.make(), arch.rules("last_two")  # and its full fine-tuning plan
    reused = plan(model, rules, batch_size=2, **arch.size)
    with monkeypatch.context() as m:
        m.setattr(measure, "MetaResults", lambda: None)  # every meta kernel runs
        ran = plan(model, rules, batch_size=2, **arch.size)
    assert reused.step_ran and ran.step_ran
    assert reused.full_finetune is not None and ran.full_finetune is not None
    for key in KEYS:
        assert getattr(reused, key) == getattr(ran, key), key
        assert getattr(reused.full_finetune, key) == getattr(ran.full_finetune, key), key


def test_repeated_blocks_are_answered_from_the_first(monkeypatch) -> None:
    made: list[MetaResults] = []

    def recording() -> MetaResults:
        made.append(MetaResults())
        return made[-1]

    monkeypatch.setattr(measure, "MetaResults", recording)
    llama = next(a for a in ARCHS if a.name == "llama")
    freezegui.plan(llama.make(), batch_size=2, **llama.size)
    (results,) = made
    assert results.hits > results.misses > 0  # three identical decoder layers


def test_plan_tree_stops_at_the_next_op_when_cancelled() -> None:
    import numpy as np
    import pytest

    from freezegui.core.plan import PlanCancelled, PlanOptions, plan_tree
    from freezegui.core.rules.ruleset import RuleSet
    from freezegui.core.structure.tree import build_tree

    model = next(a for a in ARCHS if a.name == "convnet").make()
    tree = build_tree(model)
    asked = []

    def cancel() -> bool:
        asked.append(1)
        return len(asked) > 5

    mask = np.ones(len(tree.tensors), dtype=bool)
    with pytest.raises(PlanCancelled):
        plan_tree(model, tree, mask, RuleSet(default="train"), PlanOptions.make(batch_size=2), cancel=cancel)
    assert len(asked) == 6  # asked before each op, stopped at the first yes


def test_a_cancelled_meta_copy_stops_inside_the_copy() -> None:
    import pytest

    from freezegui.core.plan import PlanCancelled
    from freezegui.core.plan.meta import meta_copy

    model = next(a for a in ARCHS if a.name == "llama").make()
    asked = []
    with pytest.raises(PlanCancelled):
        meta_copy(model, None, lambda: asked.append(1) or len(asked) > 2)
    assert len(asked) == 3
    assert all(not p.is_meta for p in model.parameters())  # the original untouched
