"""Issue 19: one owner of editable state, one stage evaluator, one matcher, problems with kinds,
round trips through wrappers. Each test here failed on the code before that issue."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freezegui.core.editing.document import Document
from freezegui.core.errors import FreezeguiError, RuleError
from freezegui.core.lr.evaluate import evaluate_stage, evaluate_stages
from freezegui.core.rules.lora import LoraSettings, adaptable_mask
from freezegui.core.rules.problems import ProblemKind
from freezegui.core.rules.ruleset import Method, NormPolicy, RuleSet
from freezegui.core.runtime.apply import apply_rules, evaluate_rules
from freezegui.core.structure.tree import build_tree
from tests import models

LORA_FILE = """\
version: 1
default: freeze
method: lr_zero
batchnorm: update_stats
rules:
- train: lm_head
lora:
  r: 16
  lora_alpha: 32
  targets: [model.layers.0.self_attn.q_proj]
"""


# ------------------------------------------------------------------------ 1. one owner of state
def test_undo_open_rules_restores_lora_settings_method_and_batchnorm() -> None:
    doc = Document.from_model(models.tiny_llama(), "test")
    doc.selection.set_lora_settings(LoraSettings(r=4, lora_alpha=8))
    doc.selection.set_subtree(doc.tree.root, False)
    doc.selection.set_adapted(doc.tree.node("model.layers.1.mlp.up_proj"), True)
    before = doc.selection.lora_settings
    doc.apply_ruleset(RuleSet.loads(LORA_FILE), label="Open rules")
    assert doc.selection.lora_settings.r == 16 and doc.method == "lr_zero" and doc.batchnorm == "update_stats"
    assert doc.selection.undo_label == "Open rules"
    assert doc.selection.undo()  # one step undoes the whole file
    assert doc.selection.lora_settings == before
    assert doc.method is Method.REQUIRES_GRAD and doc.batchnorm is NormPolicy.FROZEN_STATS
    assert doc.selection.adapted_names() == ["model.layers.1.mlp.up_proj"]
    assert doc.selection.redo()
    assert doc.selection.lora_settings.r == 16 and doc.method == "lr_zero"


def test_method_and_batchnorm_are_undoable_edits() -> None:
    sel = Document.from_model(models.SmallConvNet()).selection
    assert sel.set_method("lr_zero") and sel.set_batchnorm("update_stats")
    assert not sel.set_method("lr_zero")  # unchanged: no edit
    assert sel.is_modified
    sel.undo()
    assert sel.batchnorm is NormPolicy.FROZEN_STATS and sel.method is Method.LR_ZERO
    sel.undo()
    assert sel.method is Method.REQUIRES_GRAD and not sel.is_modified


# ------------------------------------------------------------------ 2. one evaluator of a stage
BERT = models.tiny_bert()
BERT_TREE = build_tree(BERT)
PATHS = sorted({p for p in BERT_TREE.paths if p} | {n for info in BERT_TREE.params for n in info.names})
ADAPTABLE = [BERT_TREE.paths[i] for i in np.flatnonzero(adaptable_mask(BERT_TREE)).tolist()]
SCALES = st.sampled_from([None, None, 0.5, 2.0, 0.25])


@st.composite
def rule_lists(draw: st.DrawFn, max_size: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for _ in range(draw(st.integers(1 if max_size < 6 else 0, max_size))):
        path = draw(st.sampled_from(PATHS))
        if draw(st.booleans()):
            scale = draw(SCALES)
            out.append({"train": path} if scale is None else {"train": path, "lr_scale": scale})
        else:
            out.append({"freeze": path})
    return out


@st.composite
def rule_files(draw: st.DrawFn) -> RuleSet:
    """Random files with every key: default, method, layer_decay, rules with scales, stages, lora."""
    data: dict[str, object] = {
        "version": 1,
        "default": draw(st.sampled_from(["train", "freeze"])),
        "method": draw(st.sampled_from(["requires_grad", "lr_zero"])),
        "batchnorm": draw(st.sampled_from(["frozen_stats", "update_stats"])),
        "rules": draw(rule_lists(6)),
    }
    decay = draw(st.sampled_from([None, 0.5, 0.9, 1.0]))
    if decay is not None:
        data["layer_decay"] = decay
    stages = [
        {"at": {"step": 10 * (k + 1)}, "rules": draw(rule_lists(3))} for k in range(draw(st.integers(0, 3)))
    ]
    if stages:
        data["schedule"] = stages
    targets = draw(st.lists(st.sampled_from(ADAPTABLE), max_size=3, unique=True))
    if targets:
        data["lora"] = {"r": draw(st.sampled_from([2, 4])), "targets": targets}
        data["rules"] = [*data["rules"], *({"freeze": t} for t in targets)]  # type: ignore[misc]
    import yaml

    return RuleSet.loads(yaml.safe_dump(data, sort_keys=False))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_files())
def test_open_save_open_gives_identical_state_in_every_stage(rules: RuleSet) -> None:
    doc = Document.from_model(BERT)
    doc.apply_ruleset(rules)
    saved = RuleSet.loads(doc.to_ruleset().dumps())
    want, got = evaluate_stages(doc.tree, rules), evaluate_stages(doc.tree, saved)
    assert len(want) == len(got)
    for k, (a, b) in enumerate(zip(want, got)):
        np.testing.assert_array_equal(a.trainable, b.trainable, err_msg=f"stage {k}")
        np.testing.assert_array_equal(a.scales, b.scales, err_msg=f"stage {k}")
        assert (a.adapted is None) == (b.adapted is None)
        if a.adapted is not None:
            np.testing.assert_array_equal(a.adapted, b.adapted)
        alone = evaluate_stage(doc.tree, rules, k)  # stage by stage == all stages in one pass
        np.testing.assert_array_equal(alone.trainable, a.trainable)
        np.testing.assert_array_equal(alone.scales, a.scales)
        view = doc.stage_view(k).selection  # the stage view: the same evaluator
        np.testing.assert_array_equal(view.trainable, a.trainable, err_msg=f"view {k}")
        np.testing.assert_array_equal(view.effective_scales(), a.scales, err_msg=f"view {k}")
    assert saved.layer_decay == rules.layer_decay and saved.method == rules.method
    assert saved.batchnorm == rules.batchnorm
    again = Document.from_model(BERT)  # and the file the app writes is byte-stable from then on
    again.apply_ruleset(saved)
    assert again.to_ruleset().dumps() == doc.to_ruleset().dumps()


def test_stage_rule_without_lr_scale_gets_the_decay_scale_in_the_stage_view() -> None:
    rules = RuleSet.loads(
        "default: freeze\nlayer_decay: 0.5\nrules:\n- train: classifier\n"
        "schedule:\n- at: {step: 5}\n  rules:\n  - train: bert.encoder.layer.0\n"
    )
    doc = Document.from_model(models.tiny_bert())
    doc.apply_ruleset(rules)
    view = doc.stage_view(1).selection
    np.testing.assert_array_equal(view.effective_scales(), evaluate_stage(doc.tree, rules, 1).scales)
    j = doc.tree.param_indices(doc.tree.node("bert.encoder.layer.0"))[0]
    assert view.scales[j] == 0.5**2  # layer 0 of 2 blocks: D ** (3 - 1)


# ---------------------------------------------------------- 3. one matcher, problems with kinds
def test_problems_carry_kinds_and_strict_mode_branches_on_them() -> None:
    model = models.tiny_llama()
    text = (
        "rules:\n- train: nope\nlora:\n  targets: ['model.x matches no parameter']\n"
        "model:\n  fingerprint: 0000000000000000\n"
    )
    _, _, report = evaluate_rules(model, RuleSet.loads(text))
    kinds = [p.kind for p in report.issues()]
    assert kinds == [ProblemKind.UNMATCHED_RULE, ProblemKind.UNMATCHED_LORA_TARGET, ProblemKind.FINGERPRINT]
    # a lora target whose text reads like an unmatched rule is not one: strict mode only refuses rules
    lora_only = "lora:\n  targets: ['model.x matches no parameter']\n"
    apply_rules(model, RuleSet.loads(lora_only))


def test_every_yaml_value_is_read_by_one_reader_that_raises_rule_errors() -> None:
    bad_stage = "rules: []\nschedule:\n- at: {step: 2001-02-30}\n  rules: [{train: fc}]\n"
    with pytest.raises(RuleError, match=r":3: bad value"):
        RuleSet.loads(bad_stage)
    with pytest.raises(RuleError, match=r":2: bad value"):
        RuleSet.loads("lora:\n  r: 2001-02-30\n")


def test_stage_order_is_checked_by_one_function() -> None:
    from freezegui.core.editing.stages import schedule_problems

    text = "schedule:\n- at: {step: 9}\n  rules: [{train: fc}]\n- at: {step: 3}\n  rules: [{train: fc}]\n"
    with pytest.raises(RuleError) as parsed:
        RuleSet.loads(text)
    stages = RuleSet.loads(text.replace("step: 3", "step: 30")).schedule
    stages[1].at = 3
    editor = schedule_problems(build_tree(models.MLP()), stages)
    assert editor and editor[0] in str(parsed.value)


def test_error_line_is_the_one_formatter() -> None:
    from freezegui.core.messages import error_line

    assert error_line(FileNotFoundError(2, "No such file or directory", "/x/y")) == (
        "cannot use /x/y: No such file or directory"
    )
    assert error_line(ValueError("bad\nsecond line")) == "ValueError: bad"
    assert error_line(RuleError("oops", source="f.yaml", line=3)) == "f.yaml:3: oops"
    assert "sys.exit" in error_line(SystemExit(2))
    assert isinstance(RuleError("x"), FreezeguiError)


def test_first_line_is_error_line_without_the_type() -> None:
    """The "cannot do X: WHY" messages of the loader and the adapters use it; nothing else splits lines."""
    import re
    from pathlib import Path

    from freezegui.core.messages import first_line

    assert first_line(RuntimeError("\x1b[1mbad\x1b[0m\nsecond")) == "bad"
    assert first_line(RuntimeError()) == "RuntimeError"
    assert len(first_line(ValueError("x" * 1000))) <= 300
    core = Path(__file__).resolve().parents[1] / "freezegui" / "core"
    split = re.compile(r"str\(exc\)[^\n]*splitlines\(\)")
    found = [p.name for p in core.rglob("*.py") if p.name != "messages.py" and split.search(p.read_text())]
    assert found == ["yaml_reader.py"]  # PyYAML's own problem text, not an exception for a person


# --------------------------------------------------------------------- 4. round trips, wrappers
class _Module(torch.nn.Module):
    """A DDP-like wrapper (``module.``) that needs no process group."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.module = inner


_Module.__name__ = "DistributedDataParallel"


def _flag(model: torch.nn.Module) -> None:
    apply_rules(model, RuleSet.loads("default: freeze\nrules:\n- train: model.layers.2\n- train: lm_head\n"))


@pytest.mark.parametrize("wrap", ["compile", "data_parallel", "ddp_like"])
def test_rules_from_model_round_trips_through_module_wrappers(wrap: str) -> None:
    from freezegui.core.runtime.from_model import rules_from_model

    def wrapped(model: torch.nn.Module) -> torch.nn.Module:
        if wrap == "compile":
            return torch.compile(model)
        return torch.nn.DataParallel(model) if wrap == "data_parallel" else _Module(model)

    source = wrapped(models.tiny_llama())
    _flag(source)
    rs = rules_from_model(source)
    assert not any(r.pattern.text.startswith(("module.", "_orig_mod.")) for r in rs.rules)
    fresh = wrapped(models.tiny_llama())
    report = apply_rules(fresh, RuleSet.loads(rs.dumps()))
    assert report.fingerprint_ok
    assert [p.requires_grad for p in fresh.parameters()] == [p.requires_grad for p in source.parameters()]


def test_rules_from_model_round_trips_through_peft() -> None:
    peft = pytest.importorskip("peft")
    from freezegui.core.runtime.from_model import rules_from_model

    def make():  # type: ignore[no-untyped-def]
        cfg = peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"], modules_to_save=["model.norm"])
        return peft.get_peft_model(models.tiny_llama(), cfg)

    source = make()
    _flag(source)
    for name, p in source.named_parameters():
        if "layers.1.self_attn.v_proj.lora_B" in name:
            p.requires_grad_(False)  # one adapter frozen by hand: written by its own name
    rs = rules_from_model(source)
    text = rs.dumps()
    assert "base_model" not in text and "base_layer" not in text
    fresh = make()
    report = apply_rules(fresh, RuleSet.loads(text))
    assert report.fingerprint_ok
    got = {n: p.requires_grad for n, p in fresh.named_parameters()}
    assert got == {n: p.requires_grad for n, p in source.named_parameters()}


# ------------------------------------------------------------------------------ dead code
def test_dead_and_test_only_code_is_gone() -> None:
    from freezegui.core.editing.selection import Selection
    from freezegui.core.rules import ruleset
    from freezegui.core.runtime.schedule import Schedule

    assert not hasattr(Schedule, "trainable_at") and not hasattr(Schedule, "scales_at")
    assert not hasattr(Selection, "training_memory_bytes")
    assert not hasattr(ruleset, "read_rule_text") and not hasattr(ruleset, "match_params")


def test_one_lora_count_and_one_norm_test() -> None:
    from pathlib import Path

    from freezegui.core.editing import presets
    from freezegui.core.runtime import apply
    from freezegui.core.structure import norms

    assert not hasattr(apply, "lora_counts")  # rules.lora.counts_with_adapters, the planner's too
    from freezegui.core.plan import plan

    model, rules = models.tiny_llama(), RuleSet.loads(LORA_FILE)
    _, _, report = evaluate_rules(model, rules)
    assert plan(model, rules, batch_size=1, seq_len=4).counts == report.counts
    assert presets.is_norm is norms.is_norm
    window = Path(presets.__file__).parents[2] / "app" / "main_window.py"
    text = window.read_text(encoding="utf-8")
    assert "def select_path" not in text and "issue 12" not in text


# ----------------------------------------------------------------------------- summary --rules
def test_summary_rules_builds_the_tree_once_and_matches_once(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from freezegui.cli.main import main
    from freezegui.core.lr import evaluate
    from freezegui.core.rules import matching
    from freezegui.core.structure.tree import ModuleTree

    calls = {"tree": 0, "match": 0}
    init, decide = ModuleTree.__init__, matching.pattern_params

    def counting_init(self, *a, **k):  # type: ignore[no-untyped-def]
        calls["tree"] += 1
        init(self, *a, **k)

    def counting_decide(*a, **k):  # type: ignore[no-untyped-def]
        calls["match"] += 1
        return decide(*a, **k)

    monkeypatch.setattr(ModuleTree, "__init__", counting_init)
    monkeypatch.setattr(matching, "pattern_params", counting_decide)
    monkeypatch.setattr(evaluate, "pattern_params", counting_decide)
    rules = tmp_path / "r.yaml"
    rules.write_text("default: freeze\nrules:\n- train: fc2\n")
    assert main(["summary", "py:tests.models:MLP", "--rules", str(rules), "--json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["trainable"] == 16 * 4 + 4
    assert calls == {"tree": 1, "match": 1}
