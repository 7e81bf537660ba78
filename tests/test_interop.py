"""Interop formats: axolotl's dialect, LLaMA-Factory's substrings, the Python snippet, names, and the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from freezegui.cli.main import main
from freezegui.core.errors import FreezeguiWarning, RuleError
from freezegui.core.interop.axolotl import axolotl_mask, from_axolotl, read_axolotl_config, to_axolotl
from freezegui.core.interop.llamafactory import (
    FreezeArgs,
    NotExpressibleError,
    from_llamafactory,
    llamafactory_mask,
    num_layers_of,
    read_llamafactory_config,
    to_llamafactory,
)
from freezegui.core.interop.names import from_names, to_names
from freezegui.core.interop.python import to_python
from freezegui.core.structure.tree import build_tree
from tests import models

ACCEPTANCE = (
    'unfrozen_parameters: ["^lm_head.weight$", "^model.embed_tokens.weight$", "model.layers.2[0-9]+.mlp.*"]\n'
)


def llama(layers: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        num_hidden_layers=layers,
        hidden_size=64,
        intermediate_size=128,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=128,
    )
    with torch.device("meta"):
        return LlamaForCausalLM(config)


def axolotl_direct(model: torch.nn.Module, patterns: list[str]) -> set[str]:
    """axolotl's freeze_layers_except, written out: dots not before '+' made literal, re.match."""
    compiled = [re.compile(re.sub(r"\.(?!\+)", r"\\.", p)) for p in patterns]
    return {name for name, _ in model.named_parameters() if any(c.match(name) for c in compiled)}


def trained(tree, mask) -> set[str]:
    return {p.name for p in tree.params if mask[p.index]}


# ---------------------------------------------------------------------------------------- axolotl
@pytest.fixture(scope="module")
def llama32():
    model = llama(32)
    return model, build_tree(model)


@pytest.mark.parametrize("with_model", [False, True])
def test_axolotl_acceptance_llama32(llama32, with_model: bool) -> None:
    model, tree = llama32
    want = axolotl_direct(model, read_axolotl_config(ACCEPTANCE))
    assert len(want) == 2 + 10 * 3  # lm_head, embed_tokens, layers 20-29 gate/up/down
    rs = from_axolotl(
        "base_model: meta-llama/x\nlearning_rate: 1e-5\n" + ACCEPTANCE, tree if with_model else None
    )
    mask, matches = rs.evaluate(tree)
    assert trained(tree, mask) == want
    assert all(m.params for m in matches)
    # ... and exporting that selection gives patterns axolotl reads as the same set.
    again = read_axolotl_config(to_axolotl(tree, mask))
    assert axolotl_direct(model, again) == want
    assert len(again) <= 3


def test_axolotl_dialect_details(llama32) -> None:
    model, tree = llama32
    # '.' is literal except before '+': "layers.1." never reaches layers.10-19 ...
    assert axolotl_direct(model, ["model.layers.1.mlp"]) == trained(
        tree, axolotl_mask(tree, ["model.layers.1.mlp"])
    )
    layer1 = trained(tree, axolotl_mask(tree, ["model.layers.1."]))
    assert len(layer1) == 9 and all(n.startswith("model.layers.1.") for n in layer1)
    # ... ".+" stays a wildcard, and re.match anchors only at the start.
    proj = trained(tree, axolotl_mask(tree, ["model.layers.3.+_proj"]))
    assert proj == axolotl_direct(model, ["model.layers.3.+_proj"])
    assert {n.split(".")[2] for n in proj} == {"3", "30", "31"} and len(proj) == 21
    assert trained(tree, axolotl_mask(tree, ["norm"])) == set()  # not a search
    # The export never writes "\." (axolotl would turn it into "\\." = backslash + any character).
    mask = np.zeros(len(tree.params), dtype=bool)
    mask[[0, 5, 17]] = True
    text = to_axolotl(tree, mask)
    assert "\\." not in text
    assert axolotl_direct(model, read_axolotl_config(text)) == trained(tree, mask)


def test_axolotl_row_slices_are_refused_or_widened(mlp) -> None:
    tree = build_tree(mlp)
    config = "unfrozen_parameters:\n- ^fc1.weight$[0:4]\n- ^fc2.bias$\n"
    with pytest.raises(RuleError, match=r"row slices are not supported.*\[0:4\]"):
        from_axolotl(config)
    with pytest.warns(FreezeguiWarning, match="widened"):
        rs = from_axolotl(config, tree, whole_tensors=True)
    assert trained(tree, rs.evaluate(tree)[0]) == {"fc1.weight", "fc2.bias"}
    # A slice that covers every row is the whole tensor: accepted as is.
    rs = from_axolotl("unfrozen_parameters: ['^fc1.weight$[:]']", tree)
    assert trained(tree, rs.evaluate(tree)[0]) == {"fc1.weight"}


def test_axolotl_edge_cases(mlp, tied) -> None:
    tree = build_tree(mlp)
    with pytest.raises(RuleError, match="no `unfrozen_parameters`"):
        from_axolotl("base_model: x\n")
    with pytest.raises(RuleError, match=":2: not valid YAML"):
        from_axolotl("a: 1\n b: [\n")
    assert from_axolotl("unfrozen_parameters: []").default == "train"  # axolotl then freezes nothing
    nothing = to_axolotl(tree, np.zeros(len(tree.params), dtype=bool))
    assert not from_axolotl(nothing, tree).evaluate(tree)[0].any()
    # Tied weights: axolotl sees only the first name, so "^head.weight$" unfreezes nothing there; the
    # param: rules say the same with or without the model (no per-tensor fallback, no warning).
    ttree = build_tree(tied)
    # With the model, the pattern that matches nothing is left out (axolotl ignores it), with a warning.
    config = "unfrozen_parameters: ['^head.weight$', '^body.0.']"
    with pytest.warns(FreezeguiWarning, match=r"left out '\^head.weight\$'"):
        with_model = from_axolotl(config, ttree)
    assert [r.pattern.text for r in with_model.rules] == [r"param:re:(?:^body\.0\.).*"]
    without = from_axolotl(config)
    assert [r.pattern.text for r in without.rules] == [
        r"param:re:(?:^head\.weight$).*",
        r"param:re:(?:^body\.0\.).*",
    ]
    for rs in (with_model, without):
        assert trained(ttree, rs.evaluate(ttree)[0]) == axolotl_direct(tied, ["^head.weight$", "^body.0."])


# ---------------------------------------------------------------------------------------- LLaMA-Factory
def test_llamafactory_import_matches_its_substring_semantics() -> None:
    model = llama(8)
    tree = build_tree(model)
    text = "finetuning_type: freeze\nfreeze_trainable_layers: 2\nfreeze_trainable_modules: mlp,self_attn\n"
    rs = from_llamafactory(text, tree, num_layers_of(model))
    names = trained(tree, rs.evaluate(tree)[0])
    assert names == {n for n, _ in model.named_parameters() if re.search(r"\.(6|7)\.(mlp|self_attn)", n)}
    # "norm" as an extra module is a substring of every input_layernorm: warn.
    with pytest.warns(FreezeguiWarning, match="input_layernorm"):
        from_llamafactory(text + "freeze_extra_modules: norm\n", tree, 8)
    with pytest.raises(RuleError, match="not found"):
        from_llamafactory(text + "freeze_extra_modules: nonsense\n", tree, 8)
    with pytest.raises(RuleError, match="finetuning_type"):
        from_llamafactory("finetuning_type: lora\n", tree, 8)
    # Negative counts are the first layers; defaults are 2 layers, all modules.
    assert read_llamafactory_config("finetuning_type: freeze\n") == FreezeArgs(2, ["all"], [], False)
    first = llamafactory_mask(tree, FreezeArgs(-3), 8)
    assert {n.split(".")[2] for n in trained(tree, first)} == {"0", "1", "2"}


def test_llamafactory_export_and_reasons() -> None:
    model = llama(8)
    tree = build_tree(model)
    mask = llamafactory_mask(tree, FreezeArgs(3, ["mlp"], ["embed_tokens"]), 8)
    text = to_llamafactory(tree, mask, 8)
    assert "freeze_trainable_layers: 3" in text and "freeze_trainable_modules: mlp" in text
    assert llamafactory_mask(tree, read_llamafactory_config(text), 8).tolist() == mask.tolist()

    def selection(*prefixes: str) -> np.ndarray:
        return np.array([p.name.startswith(prefixes) for p in tree.params])

    with pytest.raises(NotExpressibleError, match="first or the last"):
        to_llamafactory(tree, selection("model.layers.2.", "model.layers.5."), 8)
    with pytest.raises(NotExpressibleError, match="only part of"):
        to_llamafactory(tree, selection("model.layers.7.mlp.up_proj"), 8)
    with pytest.raises(NotExpressibleError, match="different modules"):
        to_llamafactory(tree, selection("model.layers.7.mlp", "model.layers.6.self_attn"), 8)
    with pytest.raises(NotExpressibleError, match="numbered layers"):
        to_llamafactory(build_tree(models.MLP()), np.ones(4, dtype=bool), 2)
    with pytest.warns(FreezeguiWarning, match="also train"):
        to_llamafactory(tree, selection("model.norm"), 8)


def test_llamafactory_warns_about_numbered_experts() -> None:
    model = models.NumberedExperts(num_layers=4, num_experts=4)
    tree = build_tree(model)
    last = np.array([p.name.startswith("layers.3.") for p in tree.params])
    # "all" would be ".3.", which also hits expert 3 of every layer: the export names the modules.
    text = to_llamafactory(tree, last, num_layers_of(model))
    assert "freeze_trainable_modules: attn,mlp" in text and "WARNING" not in text
    assert np.array_equal(llamafactory_mask(tree, read_llamafactory_config(text), 4), last)
    with pytest.warns(FreezeguiWarning, match="experts"):
        rs = from_llamafactory("finetuning_type: freeze\nfreeze_trainable_layers: 1\n", tree, 4)
    got = trained(tree, rs.evaluate(tree)[0])
    assert "layers.0.mlp.experts.3.weight" in got  # what LLaMA-Factory really trains


# ---------------------------------------------------------------------------------------- python snippet
def _run_snippet(snippet: str, body: str) -> subprocess.CompletedProcess:
    # No freezegui importable: the snippet must stand alone.
    code = "import sys\nsys.modules['freezegui'] = None\n" + snippet + "\n" + body
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")


def test_python_snippet_runs_without_freezegui() -> None:
    tree = build_tree(models.SmallConvNet())
    mask = np.array([p.name.startswith(("features.3", "features.4", "fc")) for p in tree.params])
    mask[tree.params.index(next(p for p in tree.params if p.name == "features.4.bias"))] = False
    snippet = to_python(tree, mask, "requires_grad")
    assert not re.search(r"""['"][\w.]*['"] in """, snippet)  # no `"fc" in name` substring tests
    assert "import freezegui" not in snippet
    body = (
        "from torch import nn\n"
        "class SmallConvNet(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),\n"
        "            nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())\n"
        "        self.pool = nn.AdaptiveAvgPool2d(1)\n"
        "        self.fc = nn.Linear(8, 3)\n"
        "    def forward(self, x):\n"
        "        return self.fc(self.pool(self.features(x)).flatten(1))\n"
        "model = SmallConvNet()\n"
        "trainable = apply_freeze(model)\n"
        "keep_frozen_norms_in_eval(model)\n"
        "model.train()\n"
        "stats = model.features[1].running_mean.clone()\n"
        "model(torch.randn(2, 3, 8, 8))\n"
        "print([n for n, p in model.named_parameters() if p.requires_grad])\n"
        "print(model.features[1].training, model.features[4].training, torch.equal(stats, model.features[1].running_mean))\n"
    )
    out = _run_snippet(snippet, body)
    assert out.returncode == 0, out.stderr
    names_line, modes_line = out.stdout.strip().splitlines()
    assert eval(names_line) == [p.name for p in tree.params if mask[p.index]]
    # features.1 is all frozen: pinned to eval, statistics untouched. features.4 trains its weight: train mode.
    assert modes_line == "False True True"
    # A different model fails loudly instead of training the wrong thing.
    wrong = _run_snippet(
        snippet, "from torch import nn\nmodel = nn.Sequential(nn.Linear(2, 2))\napply_freeze(model)\n"
    )
    assert wrong.returncode != 0 and "AssertionError" in wrong.stderr


def test_python_snippet_param_groups_and_ties(tied) -> None:
    tree = build_tree(tied)
    mask = np.array([p.name.startswith("body.0") for p in tree.params])
    ns: dict = {}
    exec(compile(to_python(tree, mask, "lr_zero"), "<snippet>", "exec"), ns)
    groups = ns["param_groups"](tied, lr=0.1, weight_decay=0.01)
    assert [len(g["params"]) for g in groups] == [2, int((~mask).sum())]
    assert groups[1]["lr"] == 0.0 and groups[1]["weight_decay"] == 0.0
    assert all(p.requires_grad for p in tied.parameters())
    with pytest.raises(Exception, match="unknown method"):
        to_python(tree, mask, "nope")


# ---------------------------------------------------------------------------------------- names
def test_names_roundtrip_and_errors(mlp) -> None:
    tree = build_tree(mlp)
    mask = np.array([True, False, False, True])
    text = to_names(tree, mask)
    assert text == "fc1.weight\nfc2.bias\n"
    commented = "# my list\n\n" + text.replace("fc2.bias", "fc2.bias   # the bias")
    for t in (None, tree):
        assert from_names(commented, t).evaluate(tree)[0].tolist() == mask.tolist()
    with pytest.raises(RuleError, match=r"'fc3.weight' \(line 2\)"):
        from_names("fc1.weight\nfc3.weight\n", tree)


# ---------------------------------------------------------------------------------------- CLI
def test_cli_export_import_roundtrip(tmp_path: Path, capsys) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\ndefault: freeze\nrules:\n- train: layer4.1\n- freeze: layer4.1.bn2\n- train: fc\n"
    )
    spec = ["torchvision:resnet18", str(rules), "--num-classes", "10"]
    want = None
    for fmt in ("axolotl", "names"):
        out = tmp_path / f"out.{fmt}"
        assert main(["export", *spec, "--to", fmt, "-o", str(out)]) == 0
        back = tmp_path / f"back.{fmt}.yaml"
        args = ["import", str(out), "--from", fmt, "-o", str(back), "--model", "torchvision:resnet18"]
        assert main([*args, "--num-classes", "10"]) == 0
        assert "fingerprint" in back.read_text()
        assert (
            main(
                [
                    "export",
                    *spec[:1],
                    str(back),
                    "--num-classes",
                    "10",
                    "--to",
                    "names",
                    "-o",
                    str(tmp_path / "n"),
                ]
            )
            == 0
        )
        got = (tmp_path / "n").read_text()
        want = want or got
        assert got == want and "fc.weight" in got and "layer4.1.bn2.weight" not in got
    assert main(["export", *spec, "--to", "python"]) == 0
    assert "RULES = [" in capsys.readouterr().out
    assert main(["export", *spec, "--to", "llamafactory"]) == 2
    assert "num_hidden_layers" in capsys.readouterr().err


def test_cli_import_reports_patterns_that_match_nothing(tmp_path: Path, capsys) -> None:
    config = tmp_path / "axolotl.yml"
    config.write_text("unfrozen_parameters:\n- ^fc.\n- ^head.\n")
    out = tmp_path / "r.yaml"
    args = ["import", str(config), "--from", "axolotl", "-o", str(out), "--model", "torchvision:resnet18"]
    assert main([*args, "--strict"]) == 1
    assert "'^head.' matches no parameter" in capsys.readouterr().err and not out.exists()
    assert main(args) == 0 and out.exists()
    assert main(["import", str(config), "--from", "llamafactory", "-o", str(out)]) == 2
    assert main(["import", str(tmp_path / "missing.yml"), "--from", "names", "-o", str(out)]) == 2


def test_cli_llamafactory_with_a_transformers_model(tmp_path: Path) -> None:
    import json

    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "model_type": "llama",
                "architectures": ["LlamaForCausalLM"],
                "num_hidden_layers": 4,
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "vocab_size": 64,
            }
        )
    )
    lf = tmp_path / "lf.yaml"
    lf.write_text(
        "stage: sft\nfinetuning_type: freeze\nfreeze_trainable_layers: 1\nfreeze_extra_modules: embed_tokens\n"
    )
    rules = tmp_path / "rules.yaml"
    spec = f"hf-config:{config}"
    assert main(["import", str(lf), "--from", "llamafactory", "-o", str(rules), "--model", spec]) == 0
    out = tmp_path / "lf2.yaml"
    with warnings.catch_warnings():
        warnings.simplefilter("error", FreezeguiWarning)
        assert main(["export", spec, str(rules), "--to", "llamafactory", "-o", str(out)]) == 0
    text = out.read_text()
    assert "freeze_trainable_layers: 1" in text and "freeze_extra_modules: embed_tokens" in text
