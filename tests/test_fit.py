"""`freezegui fit`: the written rule file's plan fits the budget and the next rung does not."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from freezegui.cli.main import main
from freezegui.core.decide.fit import GIB, fit
from freezegui.core.decide.ladder import FitError, FitProblem, block_ladder, lora_ladder
from freezegui.core.plan import PlanOptions, plan
from freezegui.core.structure.tree import build_tree
from tests.models import LLAMA_70B_CONFIG

LLAMA_SMALL = {
    **LLAMA_70B_CONFIG,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 8,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 256,
}


def _config_dir(tmp_path: Path, config: dict) -> str:
    (tmp_path / "config.json").write_text(json.dumps(config))
    return f"hf-config:{tmp_path}"


def _fit_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(["fit", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _check_three_budgets(tmp_path: Path, spec: str, plan_args: dict, fractions: tuple) -> None:
    """For budgets between the weights floor and the full fine-tune peak: plan(written rules) <= budget
    < next.peak_bytes, and the three budgets choose three different selections."""
    from freezegui.core.models.loading import load_model

    model = load_model(spec, structure_only=True)
    full = plan(model, {"default": "train"}, **plan_args)
    choices = []
    for f in fractions:
        budget = f * full.per_rank.peak_bytes
        result = fit(model, budget, options=PlanOptions(**plan_args))
        got = result.as_dict()
        out_file = tmp_path / f"fit{f}.yaml"
        out_file.write_text(result.rule_text())
        gc = got["choice"]["gradient_checkpointing"]
        again = full if not gc else None
        replanned = plan(model, str(out_file), gradient_checkpointing=gc, full_finetune=again, **plan_args)
        assert replanned.per_rank.peak_bytes == got["peak_bytes"] <= got["budget_bytes"] == int(budget)
        assert replanned.counts.trainable == got["trainable"]
        assert got["next"] is not None and got["next"]["peak_bytes"] > got["budget_bytes"]
        choices.append(json.dumps(got["choice"], sort_keys=True))
    assert len(set(choices)) == 3, choices


def test_llama_shaped_three_budgets(tmp_path: Path) -> None:
    spec = _config_dir(tmp_path, LLAMA_SMALL)
    _check_three_budgets(tmp_path, spec, {"batch_size": 2, "seq_len": 16}, (0.45, 0.6, 0.85))


def test_resnet50_three_budgets(tmp_path: Path) -> None:
    spec = "torchvision:resnet50"
    _check_three_budgets(tmp_path, spec, {"batch_size": 2, "image_size": 32}, (0.3, 0.5, 0.9))


def test_budget_below_the_weights_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["fit", "torchvision:resnet50", "--structure-only", "--gpu-memory", "0.05"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "weights alone need" in err and "Traceback" not in err
    from freezegui.core.models.loading import load_model

    with pytest.raises(FitError) as info:
        fit(load_model("torchvision:resnet50", structure_only=True), 0.05 * GIB)
    assert info.value.kind is FitProblem.WEIGHTS_EXCEED_BUDGET


def test_nothing_fits_names_the_smallest_candidate(tmp_path: Path) -> None:
    from freezegui.core.models.loading import load_model

    model = load_model("torchvision:resnet50", structure_only=True)
    weights = 25_557_032 * 4
    with pytest.raises(FitError) as info:  # weights fit, but head-only's gradients and activations do not
        fit(model, weights * 1.0001, options=PlanOptions(batch_size=2, image_size=32))
    assert info.value.kind is FitProblem.NOTHING_FITS and "head only" in str(info.value)


def test_largest_candidate_fits_has_no_next(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    got = _fit_json(
        capsys, ["torchvision:resnet50", "--structure-only", "--image-size", "32", "--gpu-memory", "64"]
    )
    assert got["choice"] == {"kind": "full", "gradient_checkpointing": False} and got["next"] is None
    assert got["trainable"] == got["total"] == 25_557_032


def test_lora_fit_writes_adapters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _config_dir(tmp_path, LLAMA_SMALL)
    from freezegui.core.models.loading import load_model

    model = load_model(spec, structure_only=True)
    args = {"batch_size": 2, "seq_len": 16}
    frozen = plan(model, {"default": "freeze"}, **args).per_rank.peak_bytes
    out_file = tmp_path / "lora.yaml"
    cli = [spec, "--structure-only", "--batch-size", "2", "--seq-len", "16", "--lora", "--no-checkpointing"]
    got = _fit_json(capsys, [*cli, "--gpu-memory", repr(frozen * 2 / GIB), "-o", str(out_file)])
    assert got["choice"]["kind"] == "lora" and got["choice"]["r"] >= 1
    replanned = plan(model, str(out_file), **args)
    assert (
        replanned.counts.lora > 0
        and replanned.per_rank.peak_bytes == got["peak_bytes"] <= got["budget_bytes"]
    )
    assert got["next"]["peak_bytes"] > got["budget_bytes"]
    tree = build_tree(model)
    ladder = lora_ladder(tree)
    assert {c.targets for c in ladder} == {"attention", "all-linear"} and len(ladder) == 18
    assert [c.lora.r for c in ladder if c.targets == "attention"] == [1, 2, 4, 8, 16, 32, 64, 128, 256]


def test_block_ladder_keeps_the_start_selection(tmp_path: Path) -> None:
    from freezegui.core.models.loading import load_model

    model = load_model(_config_dir(tmp_path, LLAMA_SMALL), structure_only=True)
    tree = build_tree(model)
    start = tree.paths.index("model.embed_tokens")
    from freezegui.core.editing.presets import subtree_mask

    keep = subtree_mask(tree, [start])
    ladder = block_ladder(tree, keep)
    assert [c.last_blocks for c in ladder] == [
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
    ]  # the whole model = all 8 + embeddings
    assert all(c.mask[keep].all() for c in ladder)
    assert all((a.mask <= b.mask).all() for a, b in itertools.pairwise(ladder))


@pytest.mark.slow
def test_llama_70b_structure_only_answers_by_bisection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    spec = _config_dir(tmp_path, LLAMA_70B_CONFIG)
    argv = [spec, "--structure-only", "--seq-len", "2048", "--batch-size", "1", "--dtype", "bf16"]
    t0 = time.perf_counter()
    got = _fit_json(capsys, [*argv, "--gpu-memory", "200"])
    assert time.perf_counter() - t0 < 300  # a hang check; the answer takes seconds (README)
    assert got["choice"]["kind"] == "last_blocks" and 0 < got["choice"]["last_blocks"] < 80
    assert got["peak_bytes"] <= got["budget_bytes"] < got["next"]["peak_bytes"]
    assert got["candidates"] == 82 and got["plans"] <= 8
    assert main(["fit", *argv, "--gpu-memory", "80"]) == 2  # 131 GiB of bf16 weights
    assert "weights alone need 131.4 GiB" in capsys.readouterr().err


def test_fitted_lora_choice_is_one_undoable_edit(tmp_path: Path) -> None:
    """Flags, adapters and the chosen rank in one edit (what the app's Apply does)."""
    from freezegui.core.editing.document import Document
    from freezegui.core.models.loading import load_model

    doc = Document.from_model(load_model(_config_dir(tmp_path, LLAMA_SMALL), structure_only=True))
    rung = next(c for c in lora_ladder(doc.tree) if c.lora.r == 32)
    sel = doc.selection
    assert sel.set_adapted_mask(rung.adapted, label="Fit to GPU", trainable=rung.mask, settings=rung.lora)
    assert sel.lora_settings.r == 32 and sel.adapted.any() and sel.counts().lora > 0
    sel.undo()
    assert sel.lora_settings.r == 8 and not sel.adapted.any() and sel.trainable.all()


def test_suggest_keeps_the_top_blocks_within_a_budget(tmp_path: Path) -> None:
    import numpy as np

    from freezegui.core.decide.suggest import ranked_blocks, suggest_steps, top_blocks_mask
    from freezegui.core.models.loading import load_model

    model = load_model(_config_dir(tmp_path, LLAMA_SMALL), structure_only=True)
    tree = build_tree(model)
    rgn = np.full(len(tree.modules), np.nan)
    for i, value in enumerate([1, 5, 2, 8, 3, 7, 4, 6]):
        rgn[tree.index_of(f"model.layers.{i}")] = value
    assert [tree.paths[b] for b in ranked_blocks(tree, rgn)[:2]] == ["model.layers.3", "model.layers.5"]
    mask = top_blocks_mask(tree, rgn, 2)
    trained = {
        tree.params[i].name.split(".")[2] for i in np.flatnonzero(mask) if ".layers." in tree.params[i].name
    }
    assert trained == {"3", "5"} and mask[tree.param_indices(tree.node("lm_head"))].all()
    options = PlanOptions(batch_size=2, seq_len=16)
    two = plan(model, selection=top_blocks_mask(tree, rgn, 2), batch_size=2, seq_len=16).per_rank.peak_bytes
    steps = suggest_steps(model, tree, rgn, 4, budget_bytes=two, options=options)
    dropped = []
    while True:
        try:
            dropped.append(next(steps))
        except StopIteration as done:
            n, _ = done.value
            break
    assert n == 2 and dropped == [4, 3]
