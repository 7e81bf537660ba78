"""Issue 22, items 7 and 10: File ▸ Export has every format the CLI writes (with its refusals), and a
rule that matches nothing comes with "did you mean …?"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from freezegui.core.editing.document import Document
from tests.app.conftest import open_rules
from tests.models import SmallConvNet, tiny_bert, tiny_llama


def _llama_with_adapters(window) -> Document:
    window._ensure_core()
    doc = Document.from_model(tiny_llama(), "hf-config:tiny-llama")
    window.set_document(doc)
    window.action("loraAttention").trigger()
    return doc


def test_item7_export_menu_lists_peft_axolotl_and_llamafactory(window) -> None:
    texts = [a.text() for a in window.menus["File/Export"].actions() if a.text()]
    assert any("adapter_config.json" in t for t in texts)  # before: Python snippets and names only
    assert any("LoraConfig" in t for t in texts)
    assert any("axolotl" in t for t in texts) and any("LLaMA-Factory" in t for t in texts)


def test_item7_peft_export_is_the_cores_and_peft_reads_it(window, dialogs, tmp_path: Path) -> None:
    peft = pytest.importorskip("peft")
    from freezegui.core.interop.peft import to_peft

    doc = _llama_with_adapters(window)
    path = tmp_path / "adapter_config.json"
    dialogs.paths = [str(path)]
    window.action("export_peft_json").trigger()
    assert not dialogs.texts("critical")
    written = json.loads(path.read_text())
    sel = doc.selection
    assert written == to_peft(doc.tree, sel.trainable, sel.adapted, sel.lora_settings, spec=doc.spec).config
    config = peft.LoraConfig.from_pretrained(str(tmp_path))  # PEFT's own reader takes the file
    assert sorted(config.target_modules) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    snippet = tmp_path / "lora.py"
    dialogs.paths = [str(snippet)]
    window.action("export_peft_python").trigger()
    scope: dict[str, object] = {}
    exec(compile(snippet.read_text(), str(snippet), "exec"), scope)  # the snippet builds the same config
    assert isinstance(scope["config"], peft.LoraConfig)
    assert scope["config"].r == config.r and set(scope["config"].target_modules) == set(config.target_modules)


def test_item7_axolotl_and_llamafactory_exports(window, dialogs, tmp_path: Path) -> None:
    _llama_with_adapters(window)
    window.action("trainHead").trigger()  # freeze tuning: a head-only selection, no adapters needed
    window.action("loraRemove").trigger()
    window.action("trainLastBlocks").setEnabled(True)
    window.edits.train_last_blocks(1)
    for kind, key in (("axolotl", "unfrozen_parameters"), ("llamafactory", "freeze_trainable_layers")):
        path = tmp_path / f"{kind}.yml"
        dialogs.paths = [str(path)]
        window.action(f"export_{kind}").trigger()
        assert not dialogs.texts("critical"), dialogs.texts("critical")
        assert key in path.read_text()


def test_item7_exports_refuse_as_the_cli_does(window, dialogs, tmp_path: Path) -> None:
    window._ensure_core()
    window.set_document(Document.from_model(SmallConvNet(), "py:tests.models:SmallConvNet"))
    for kind, why in (("peft_json", "no LoRA adapters"), ("llamafactory", "num_hidden_layers")):
        path = tmp_path / kind
        dialogs.paths = [str(path)]
        window.action(f"export_{kind}").trigger()
        assert why in dialogs.texts("critical")[-1]
        assert not path.exists()  # nothing written


def test_item10_suggestion_from_the_core() -> None:
    from freezegui.core.rules.suggest import suggest_pattern
    from freezegui.core.structure.tree import build_tree

    tree = build_tree(tiny_bert())
    paths = [*tree.paths, *tree.occurrence_paths]
    assert suggest_pattern("encoder.layer.1", paths) == "bert.encoder.layer.1"
    assert suggest_pattern("encoder.layer.*.attention", paths) == "bert.encoder.layer.*.attention"
    assert suggest_pattern("bert.encoder.layr.1", paths) == "bert.encoder.layer.1"
    assert suggest_pattern("no.such.thing", paths) is None
    assert suggest_pattern("re:encoder.*", paths) is None


def test_item10_open_rules_says_did_you_mean(qtbot, window, dialogs, tmp_path: Path) -> None:
    window._ensure_core()
    window.set_document(Document.from_model(tiny_bert(), "hf-config:tiny-bert"))
    path = tmp_path / "short.yaml"
    path.write_text("default: freeze\nrules:\n- train: encoder.layer.1\n- train: classifier\n")
    assert open_rules(qtbot, window, path)
    warning = dialogs.texts("warning")[-1]
    assert "encoder.layer.1" in warning and "did you mean `bert.encoder.layer.1`?" in warning  # before: none


def test_item10_a_stage_rule_that_matches_nothing_gets_a_suggestion(window, dialogs) -> None:
    window._ensure_core()
    doc = Document.from_model(tiny_bert(), "hf-config:tiny-bert")
    window.set_document(doc)
    from freezegui.app.schedule.commands import ScheduleCommands

    commands = ScheduleCommands(lambda: doc, lambda: False, dialogs)
    assert not commands.add_stage("step", 10, "train: encoder.layer.1")
    assert "did you mean `bert.encoder.layer.1`?" in dialogs.texts("critical")[-1]
    assert commands.add_stage("step", 10, "train: bert.encoder.layer.1")
    doc.selection.mark_saved()
