"""Per-module numbers of the plan (issue 23): from the same meta step, adding up to the plan's totals."""

from __future__ import annotations

import math

import pytest
from torch import nn

from freezegui.core.plan import plan
from freezegui.core.plan.modules import format_shape
from tests.plan_models import ARCHS, Arch


def _children(paths: list[str], parent: str) -> list[str]:
    prefix = f"{parent}." if parent else ""
    return [p for p in paths if p.startswith(prefix) and p != parent and "." not in p[len(prefix) :]]


@pytest.mark.parametrize("selection", ["full", "head", "last_two"])
@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: a.name)
def test_modules_add_up_to_the_plan(arch: Arch, selection: str) -> None:
    model = arch.make()
    p = plan(model, arch.rules(selection), batch_size=2, per_module=True, **arch.size)
    assert p.step_ran and p.modules is not None
    root = p.modules[""]
    assert root.activations_bytes == p.per_rank.activations_bytes > 0
    assert root.forward_flops == p.per_rank.forward_flops and root.backward_flops == p.per_rank.backward_flops
    paths = list(p.modules)
    assert paths == [n for n, _ in model.named_modules(remove_duplicate=False)][: len(paths)]
    keys = ("forward_flops", "backward_flops", "activations_bytes")
    for path, cost in p.modules.items():
        kids = [p.modules[c] for c in _children(paths, path)]
        module = model.get_submodule(path)
        for key in keys:
            own = getattr(cost, key) - sum(getattr(k, key) for k in kids)
            assert own >= 0, (path, key)  # what ran in the module itself
            if isinstance(module, (nn.Sequential, nn.ModuleList)) and kids:
                assert own == 0, (path, key)  # a container runs nothing of its own
    plain = plan(model, arch.rules(selection), batch_size=2, **arch.size)
    assert plain.modules is None
    assert (plain.activations_bytes, plain.step_flops) == (p.activations_bytes, p.step_flops)


def test_nothing_below_the_first_trained_layer(resnet18_10: nn.Module) -> None:
    p = plan(
        resnet18_10,
        {"default": "freeze", "rules": [{"train": "fc"}]},
        batch_size=2,
        image_size=32,
        per_module=True,
    )
    assert p.modules is not None
    for path, cost in p.modules.items():
        if path in ("", "fc"):
            continue
        assert cost.backward_flops == 0 and cost.activations_bytes == 0, path
    fc = p.modules["fc"]
    assert fc.backward_flops > 0 and fc.activations_bytes == 2 * 512 * 4  # its input, for the weight gradient
    assert fc.forward_flops == 2 * 2 * 512 * 10


def test_a_module_called_twice_adds_up(resnet18_10: nn.Module) -> None:
    """BasicBlock runs its one ReLU twice; each call keeps its output."""
    p = plan(resnet18_10, batch_size=2, image_size=32, per_module=True)
    assert p.modules is not None
    relu = p.modules["layer1.0.relu"]
    assert relu.calls == 2 and relu.output_shape == (2, 64, 8, 8)
    assert relu.activations_bytes == 2 * math.prod(relu.output_shape) * 4
    assert format_shape(relu.output_shape) == "[2, 64, 8, 8]"


def test_lora_adapters_run_inside_their_module() -> None:
    from freezegui.core.rules.ruleset import RuleSet
    from tests.models import tiny_llama

    rules = RuleSet.loads("default: freeze\nlora:\n  r: 4\n  targets:\n  - model.layers.*.self_attn.q_proj\n")
    p = plan(tiny_llama(), rules, batch_size=2, seq_len=8, per_module=True)
    assert p.modules is not None
    q = p.modules["model.layers.0.self_attn.q_proj"]
    k = p.modules["model.layers.0.self_attn.k_proj"]
    assert q.backward_flops > 0 and q.activations_bytes > 0  # the adapter's input and its middle
    assert q.forward_flops > k.forward_flops  # the adapter's two matmuls
    assert p.modules[""].activations_bytes == p.activations_bytes
