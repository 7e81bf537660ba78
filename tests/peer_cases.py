"""The peers' own test cases, as data: facts from PEFT's ``tests/test_tuners_utils.py``, axolotl's
``tests/test_freeze.py`` and LLaMA-Factory's ``tests/model/test_freeze.py`` (inputs and expected
outcomes, restated; none of their code). Tests replay them on freezegui and, where the peer is
installed, on the peer's own function."""

from __future__ import annotations

# ------------------------------------------------------------------------------------------ PEFT
# (module name, target_modules, layers_to_transform, layers_pattern, PEFT adapts it)
PEFT_REGEX_CASES: list[tuple[str, list[str] | str, list[int] | None, list[str] | str | None, bool]] = [
    ("", [], None, None, False),
    ("", ["foo"], None, None, False),
    ("foo", [], None, None, False),
    ("foo", ["foo"], None, None, True),
    ("foo", ["bar"], None, None, False),
    ("foo", ["foo", "bar"], None, None, True),
    ("foo", "foo", None, None, True),
    ("foo", ".*oo", None, None, True),
    ("foo", "fo.*", None, None, True),
    ("foo", ".*bar.*", None, None, False),
    ("foobar", ".*oba.*", None, None, True),
    ("foo.bar.1.baz", ["baz"], [1], ["bar"], True),
    ("foo.bar.1.baz", ["baz"], [0], ["bar"], False),
    ("foo.bar.1.baz", ["baz"], [2], ["bar"], False),
    ("foo.bar.10.baz", ["baz"], [0], ["bar"], False),
    ("foo.bar.10.baz", ["baz"], [1], ["bar"], False),
    ("foo.bar.1.baz", ["baz"], [0, 1, 2], ["bar"], True),
    ("foo.bar.1.baz", ["baz", "spam"], [1], ["bar"], True),
    ("foo.bar.1.baz", ["baz", "spam"], [0, 1, 2], ["bar"], True),
    ("foo.whatever.1.baz", ["baz"], [1], [], True),
    ("foo.whatever.1.baz", ["baz"], [0], [], False),
    ("foo.whatever.1.baz", ["baz"], [1], "", True),
    ("foo.whatever.1.baz", ["baz"], [0], "", False),
    ("foo.whatever.1.baz", ["baz"], [1], None, True),
    ("foo.whatever.1.baz", ["baz"], [0], None, False),
    ("transformer.h.1.attn.attention.q_proj.foo", ["q_proj"], None, [], False),
    ("transformer.h.1.attn.attention.q_proj", [], None, [], False),
    ("transformer.h.1.attn.attention.q_proj", ["q_proj"], None, [], True),
    ("transformer.h.1.attn.attention.q_proj", ["q_proj", "v_proj"], None, [], True),
    ("transformer.h.1.attn.attention.resid_dropout", ["q_proj", "v_proj"], None, [], False),
    ("transformer.h.1.attn.attention.q_proj", ["q_proj"], [1], ["h"], True),
    ("transformer.h.1.attn.attention.q_proj", ["q_proj"], [0], ["h"], False),
    ("transformer.h.1.attn.attention.q_proj", ["q_proj"], [2], ["h"], False),
    ("transformer.h.1.attn.attention.q_proj", ["q_proj"], [0, 1, 2], ["h"], True),
    ("transformer.h.1.attn.attention.q_proj", ["q_proj", "v_proj"], [0, 1, 2], ["h"], True),
    ("foo.bar.q_proj", ["q_proj"], None, [], True),
    ("foo.bar.1.baz", ["baz"], [1], ["foo"], False),
    ("foo.bar.1.baz", ["baz"], [1], ["baz"], False),
    ("bar.1.baz", ["baz"], [1], ["bar"], False),
    ("foo.bar.001.baz", ["baz"], [1], ["bar"], True),
    ("foo.bar.1.spam.2.baz", ["baz"], [1], ["bar"], True),
    ("foo.bar.2.spam.1.baz", ["baz"], [1], ["bar"], False),
    ("blocks.1.weight", ["weight"], [1], ["blocks"], False),
    ("blocks.1.bias", ["weight"], [1], ["blocks"], False),
    ("mlp.blocks.1.weight", ["weight"], [1], ["blocks"], True),
    ("mlp.blocks.1.bias", ["weight"], [1], ["blocks"], False),
]

# Where the installed PEFT (0.21.2) gives another answer than the stored test file: its layer-index
# regex `(?:^|.*?\.)bar\.(\d+)\.` also accepts a layers_pattern at the very start of the name.
# freezegui follows the installed code (what a user's get_peft_model does).
PEFT_0_21_2_SAYS_TRUE = {"bar.1.baz", "blocks.1.weight"}

_DECODER = "model.decoder.layers.{}.self_attn"
# (target module names, other module names, the minimal suffix set PEFT finds)
PEFT_MINIMAL_TARGET_CASES: list[tuple[list[str], list[str], set[str]]] = [
    (["bar"], [], {"bar"}),
    (["foo"], ["bar"], {"foo"}),
    (["1.foo", "2.foo"], ["3.foo", "4.foo"], {"1.foo", "2.foo"}),
    (["bar.baz"], ["foo.bar"], {"baz"}),
    (["1.foo", "2.foo", "bar.baz"], ["3.foo", "bar.bla"], {"1.foo", "2.foo", "baz"}),
    (["a.b.c", "d.e.f", "g.h.i"], ["j.k.l", "m.n.o"], {"c", "f", "i"}),
    (["a.b.c", "d.e.f", "g.h.i"], ["a.b.x", "d.x.f", "x.h.i"], {"c", "e.f", "g.h.i"}),
    (["foo.bar.baz", "qux.bar.baz"], ["baz.bar.foo"], {"baz"}),
    (
        [_DECODER.format(i) + ".k_proj" for i in range(12)],
        [_DECODER.format(i) + s for i in range(12) for s in ("", ".v_proj", ".q_proj")],
        {"k_proj"},
    ),
    (
        [_DECODER.format(i) + ".k_proj" for i in range(12) if i != 5],
        [_DECODER.format(5) + ".k_proj"]
        + [_DECODER.format(i) + s for i in range(12) for s in ("", ".v_proj", ".q_proj")],
        {f"{i}.self_attn.k_proj" for i in range(12) if i != 5},
    ),
    (  # a suffix that is a substring of another suffix (diffusers' time_emb_proj beside proj)
        [
            "down_blocks.1.attentions.0.transformer_blocks.0.ff.net.0.proj",
            "mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj",
            "up_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj",
            "mid_block.attentions.0.proj_out",
            "up_blocks.0.attentions.0.proj_out",
            "down_blocks.1.attentions.0.proj_out",
            "up_blocks.0.resnets.0.time_emb_proj",
            "down_blocks.0.resnets.0.time_emb_proj",
            "mid_block.resnets.0.time_emb_proj",
        ],
        [
            "conv_in",
            "time_proj",
            "time_embedding",
            "time_embedding.linear_1",
            "add_time_proj",
            "add_embedding",
            "add_embedding.linear_1",
            "add_embedding.linear_2",
            "down_blocks",
            "down_blocks.0",
            "down_blocks.0.resnets",
            "down_blocks.0.resnets.0",
            "up_blocks",
            "up_blocks.0",
            "up_blocks.0.attentions",
            "up_blocks.0.attentions.0",
            "up_blocks.0.attentions.0.norm",
            "up_blocks.0.attentions.0.transformer_blocks",
            "up_blocks.0.attentions.0.transformer_blocks.0",
            "up_blocks.0.attentions.0.transformer_blocks.0.norm1",
            "up_blocks.0.attentions.0.transformer_blocks.0.attn1",
        ],
        {"time_emb_proj", "proj", "proj_out"},
    ),
]

# PEFT's MLP (lin0, relu, drop, lin1, sm): (target_modules, exclude_modules, targeted module names)
PEFT_EXCLUDE_CASES: list[tuple[list[str] | str, list[str] | str, list[str]]] = [
    ("lin.*", "lin0", ["lin1"]),
    (["lin0", "lin1"], "lin0", ["lin1"]),
    (["lin0", "lin1"], ["lin0"], ["lin1"]),
    (["lin0", "lin1"], ["lin1"], ["lin0"]),
]

# all-linear per architecture: (model kind, the module-name suffixes PEFT's expansion targets)
PEFT_ALL_LINEAR_CASES: list[tuple[str, set[str]]] = [
    ("llama-causal", {"k_proj", "v_proj", "q_proj", "o_proj", "down_proj", "up_proj", "gate_proj"}),
    ("llama-base", {"k_proj", "v_proj", "q_proj", "o_proj", "down_proj", "up_proj", "gate_proj"}),
    ("gpt2-causal", {"c_attn", "c_proj", "c_fc"}),
    ("t5-seq2seq", {"k", "q", "v", "o", "wi", "wo"}),
    ("gpt-neox-causal", {"query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"}),
    ("mlp", {"lin0", "lin1"}),
    ("llama-seq-cls", {"k_proj", "v_proj", "q_proj", "o_proj", "down_proj", "up_proj", "gate_proj"}),
]

# ----------------------------------------------------------------------------------------- axolotl
# On axolotl's test model (features.layer: Linear(10, 10), classifier: Linear(10, 2)):
# (unfrozen_parameters, tensors that train, the row slice each trained tensor keeps or None).
# An empty list given to axolotl's function freezes everything; in a config it means "no freezing".
AXOLOTL_FREEZE_CASES: list[tuple[list[str], set[str], tuple[int, int] | None]] = [
    (["features.layer"], {"features.layer.weight", "features.layer.bias"}, None),
    (["classifier"], {"classifier.weight", "classifier.bias"}, None),
    ([r"^features.[a-z]+.weight$", r"class[a-c]+"], {"features.layer.weight"}, None),
    (
        ["features.layer", "classifier"],
        {"features.layer.weight", "features.layer.bias", "classifier.weight", "classifier.bias"},
        None,
    ),
    (["features.layer[1:5]"], {"features.layer.weight", "features.layer.bias"}, (1, 5)),
    (["features.layer[5]"], {"features.layer.weight", "features.layer.bias"}, (5, 6)),
    (["features.layer[:5]"], {"features.layer.weight", "features.layer.bias"}, (0, 5)),
    (["features.layer[4:]"], {"features.layer.weight", "features.layer.bias"}, (4, 10)),
]
# Patterns axolotl refuses outright (ValueError): an empty or reversed row range.
AXOLOTL_INVALID: list[str] = ["features.layer[5:3]", "features.layer[5:5]"]

# ------------------------------------------------------------------------------------ LLaMA-Factory
# On a 2-layer Llama (LLaMA-Factory's tiny-random-Llama-3 has 2): (freeze arguments, what trains as
# "startswith any of these prefixes or contains any of these substrings").
LLAMAFACTORY_FREEZE_CASES: list[tuple[dict[str, object], tuple[str, ...], tuple[str, ...]]] = [
    ({"freeze_trainable_layers": 1}, ("model.layers.1.",), ()),
    (
        {"freeze_trainable_layers": 1, "freeze_extra_modules": "embed_tokens,lm_head"},
        ("model.layers.1.",),
        ("embed_tokens", "lm_head"),
    ),
]
