"""A saved PEFT adapter folder opened in the window shows PEFT's own targets and count (issue 14)."""

from __future__ import annotations

from pathlib import Path

from freezegui.app.commands.controller import drop_kind
from freezegui.core.editing.document import Document
from tests.models import tiny_llama

SPEC = "py:tests.models:tiny_llama"


def _save_adapter(folder: Path) -> tuple[set[str], int]:
    """PEFT adapts q_proj/v_proj of a fresh tiny Llama and saves it: its names and trainable count."""
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(
        tiny_llama(), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    )
    peft_model.save_pretrained(folder)
    prefix = "base_model.model."
    adapted = {
        name.removeprefix(prefix)
        for name, module in peft_model.named_modules()
        if hasattr(module, "lora_A") and name.startswith(prefix)
    }
    return adapted, peft_model.get_nb_trainable_parameters()[0]


def test_dropped_adapter_folder_shows_peft_targets_undoably(qtbot, window, dialogs, tmp_path: Path) -> None:
    adapted, trainable = _save_adapter(tmp_path / "adapter")
    assert drop_kind(tmp_path / "adapter") == "adapter"
    doc = Document.from_model(tiny_llama(), SPEC)
    window.set_document(doc)
    doc.selection.mark_saved()
    assert window.controller.open_path(tmp_path / "adapter")
    assert set(doc.selection.adapted_names()) == adapted and len(adapted) == 6
    assert doc.selection.lora_settings.r == 4
    assert doc.selection.counts().trainable == trainable
    assert not dialogs.texts("critical")
    window.edits.undo()  # one step: the adapters and PEFT's settings together
    assert doc.selection.adapted_names() == []
    assert doc.selection.lora_settings.r == 8 and not doc.selection.is_modified


def test_adapter_without_a_model_or_broken_is_refused(qtbot, window, dialogs, tmp_path: Path) -> None:
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{not json")
    assert not window.controller.open_path(folder)  # no model open yet
    doc = Document.from_model(tiny_llama(), SPEC)
    window.set_document(doc)
    assert not window.controller.open_path(folder)
    assert len(dialogs.texts("critical")) == 2 and doc.selection.adapted_names() == []
