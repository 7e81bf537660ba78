"""A plan with ``lora:`` targets counts the adapters as PEFT builds them: checked on PEFT's own model."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from freezegui.core.plan import plan
from freezegui.core.plan.measure import measure_step
from freezegui.core.rules.ruleset import RuleSet
from tests.models import tiny_gpt2, tiny_llama
from tests.plan_models import loader_batch

peft = pytest.importorskip("peft")

CASES = {
    "llama-qv": (tiny_llama, ["model.layers.*.self_attn.q_proj", "model.layers.*.self_attn.v_proj"], "none"),
    "gpt2-c_attn": (tiny_gpt2, ["transformer.h.*.attn.c_attn"], "lora_only"),
}
R, ALPHA, SEQ, BATCH = 4, 8, 16, 2


def _rules(targets: list[str], bias: str) -> RuleSet:
    text = "default: freeze\nlora:\n"
    text += f"  r: {R}\n  lora_alpha: {ALPHA}\n  bias: {bias}\n  targets:\n"
    text += "".join(f"  - {t}\n" for t in targets)
    return RuleSet.loads(text)


def _peft_model(make, targets: list[str], bias: str) -> nn.Module:
    """PEFT's own adapters on the same model (PEFT's regex over the module names our patterns name)."""
    model = make()
    names = [n for n, _ in model.named_modules() if any(_match(t, n) for t in targets)]
    config = peft.LoraConfig(
        r=R, lora_alpha=ALPHA, target_modules=names, bias=bias, fan_in_fan_out=make is tiny_gpt2
    )
    return peft.get_peft_model(model, config).base_model.model


def _match(pattern: str, name: str) -> bool:
    parts, names = pattern.split("."), name.split(".")
    return len(parts) == len(names) and all(p in ("*", n) for p, n in zip(parts, names))


def _bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


@pytest.mark.parametrize("case", list(CASES))
def test_lora_plan_equals_the_peft_model(case: str) -> None:
    make, targets, bias = CASES[case]
    torch.manual_seed(0)
    base = make()
    p = plan(base, _rules(targets, bias), batch_size=BATCH, seq_len=SEQ)
    ref = _peft_model(make, targets, bias)
    unique = list({id(t): t for t in ref.parameters()}.values())
    trained = [t for t in unique if t.requires_grad]
    lora = sum(t.numel() for n, t in ref.named_parameters() if "lora_" in n)
    assert p.counts.lora == lora > 0 and p.counts.trainable == sum(t.numel() for t in trained)
    assert p.weights_bytes == _bytes(unique)
    assert p.gradients_bytes == _bytes(trained)  # adapters (and PEFT's biases); target weights frozen
    optimizer = torch.optim.AdamW(trained)
    spec, batch = loader_batch(ref, BATCH, seq_len=SEQ)  # a batch of its own, as a DataLoader gives it
    ref.train()
    real = measure_step(ref, lambda: spec.loss(ref, batch))  # the same hooks on PEFT's CPU model
    optimizer.step()
    state = [v for s in optimizer.state.values() for v in s.values() if v.dim() > 0]
    assert p.optimizer_bytes == _bytes(state)
    assert math.isclose(p.activations_bytes, real.activations_bytes, rel_tol=0.01)
    assert math.isclose(p.step_flops, real.step_flops, rel_tol=0.01)
    no_lora = plan(base, RuleSet.loads("default: freeze\n"), batch_size=BATCH, seq_len=SEQ)
    assert p.activations_bytes > no_lora.activations_bytes  # the adapters' own inputs are kept
