"""Axolotl import without a model is exact: the rules, saved and applied to a model, train the same
tensors as axolotl's own matching over ``named_parameters()`` (Llama tied and untied, a MoE model).

The reference is axolotl's ``freeze_layers_except`` when axolotl is importable (it is not a test
dependency: its own requirements are far heavier than freezegui's), else its documented dialect
written out: every ``.`` not followed by ``+`` becomes a literal dot, then ``re.match``.
"""

from __future__ import annotations

import functools
import re
import warnings

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freezegui.core.errors import FreezeguiWarning
from freezegui.core.interop.axolotl import from_axolotl
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.runtime.apply import apply_rules


def axolotl_reference(model: torch.nn.Module, patterns: list[str]) -> set[str]:
    """The names axolotl leaves trainable."""
    try:
        from axolotl.utils.freeze import freeze_layers_except
    except ImportError:
        compiled = [re.compile(re.sub(r"\.(?!\+)", "\\\\.", p)) for p in patterns]
        return {n for n, _ in model.named_parameters() if any(c.match(n) for c in compiled)}
    freeze_layers_except(model, patterns)
    return {n for n, p in model.named_parameters() if p.requires_grad}


@functools.cache
def _config(kind: str):
    from transformers import LlamaConfig, MixtralConfig

    common = dict(
        num_hidden_layers=12,
        hidden_size=16,
        intermediate_size=32,
        num_attention_heads=2,
        num_key_value_heads=1,
        vocab_size=64,
    )
    if kind == "moe":  # transformers 5: the experts are fused 3-D parameters
        return MixtralConfig(**common, num_local_experts=4, num_experts_per_tok=2)
    return LlamaConfig(**common, tie_word_embeddings=kind == "tied")


@functools.cache
def _model(kind: str) -> torch.nn.Module:
    from transformers import LlamaForCausalLM, MixtralForCausalLM

    cls = MixtralForCausalLM if kind == "moe" else LlamaForCausalLM
    with torch.device("meta"):
        return cls(_config(kind))


def build(kind: str) -> torch.nn.Module:
    """The model of that kind with every parameter trainable again (built once: meta builds cost)."""
    model = _model(kind)
    for p in model.parameters():
        p.requires_grad_(True)
    return model


@functools.cache
def _paths(kind: str) -> tuple[str, ...]:
    model = build(kind)
    names = [n for n, _ in model.named_parameters()]
    aliases = [n for n, _ in model.named_parameters(remove_duplicate=False) if n not in names]  # tied
    modules = [n for n, _ in model.named_modules() if n]
    return tuple(dict.fromkeys([*names, *aliases, *modules]))


_ROW_SLICE = re.compile(r"^(.+)\[([0-9]*)(?::([0-9]*))?\]$")  # axolotl's own


@st.composite
def axolotl_patterns(draw: st.DrawFn, kind: str) -> str:
    """A pattern users write: a name, module path or prefix with anchors, ``$``, ``.+``, ``.*``,
    character classes and ``(?i)`` mixed in."""
    path = draw(st.sampled_from(_paths(kind)))
    parts = path.split(".")
    cut = draw(st.integers(1, len(parts)))
    parts = parts[:cut]
    out = []
    for seg in parts:
        choice = draw(st.sampled_from(["keep"] * 5 + ["plus", "class", "digits", "star", "upper"]))
        if choice == "plus":
            seg = ".+"
        elif choice == "class" and seg:
            seg = f"[{seg[0]}{draw(st.sampled_from('aelmx0'))}]{seg[1:]}"
        elif choice == "digits" and seg.isdecimal():
            seg = draw(st.sampled_from(["[0-9]+", "1[0-9]", "[13]", "[0-9]"]))
        elif choice == "star":
            seg = seg + ".*"
        elif choice == "upper":
            seg = seg.upper()
        out.append(seg)
    pattern = ".".join(out)
    if draw(st.booleans()):
        pattern = pattern[: draw(st.integers(1, len(pattern)))]  # a prefix cut mid-segment
    if draw(st.booleans()):
        pattern += draw(st.sampled_from(["$", ".", ".+", ".*", "$", "[a-z_]+$"]))
    if draw(st.booleans()):
        pattern = "^" + pattern
    if draw(st.integers(0, 3)) == 0 or pattern != pattern.lower():
        pattern = "(?i)" + pattern
    if _ROW_SLICE.match(pattern):  # a trailing [13] is a row slice to axolotl (tested elsewhere)
        return "^model.norm.weight$"
    try:
        re.compile(re.sub(r"\.(?!\+)", "\\\\.", pattern))
    except re.error:  # e.g. a cut inside a character class: axolotl would raise, freezegui too
        return "^model.norm.weight$"
    return pattern


def _applied(kind: str, patterns: list[str]) -> set[str]:
    """Import without a model, write the rule file, read it back, apply it to a fresh model."""
    rs = from_axolotl(yaml.safe_dump({"unfrozen_parameters": patterns}), source="axolotl.yml")
    model = build(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FreezeguiWarning)  # a pattern that matches nothing on this model
        apply_rules(model, RuleSet.loads(rs.dumps()), strict=False)
    return {n for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("kind", ["untied", "tied", "moe"])
def test_import_without_model_matches_axolotl(kind: str) -> None:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(axolotl_patterns(kind), min_size=1, max_size=3))
    def check(patterns: list[str]) -> None:
        assert _applied(kind, patterns) == axolotl_reference(build(kind), patterns)

    check()


@pytest.mark.parametrize(
    ("kind", "pattern", "trains"),
    [
        ("untied", "model.layers.1$", set()),  # a module path: no parameter name ends there
        ("tied", "^lm_head.weight$", set()),  # tied: axolotl sees model.embed_tokens.weight only
        ("untied", "^lm_head.weight$", {"lm_head.weight"}),
        ("untied", "(?i)^MODEL.NORM", {"model.norm.weight"}),
        ("moe", "model.layers.11.mlp.experts.gate_up_proj$", {"model.layers.11.mlp.experts.gate_up_proj"}),
    ],
)
def test_the_issue_examples(kind: str, pattern: str, trains: set[str]) -> None:
    assert _applied(kind, [pattern]) == axolotl_reference(build(kind), [pattern]) == trains
