"""The document controller's one guard: every way the model or the selection can be replaced asks
about unsaved edits, and is refused while a training run uses the selection (issue 11)."""

from __future__ import annotations

from pathlib import Path

from freezegui.app.prompt import Answer
from freezegui.core.editing.document import Document
from tests.app.conftest import drop, drop_rules, load, open_rules
from tests.models import MLP

RULES = "default: freeze\nrules: [{train: fc2}]\n"


def edited(window) -> Document:
    doc = Document.from_model(MLP(), "py:tests.models:MLP")
    window.set_document(doc)
    window.edits.freeze_all()
    assert doc.selection.is_modified
    return doc


def test_open_model_over_unsaved_edits_asks(qtbot, window, dialogs) -> None:
    doc = edited(window)
    dialogs.answer = Answer.CANCEL
    assert not window.open_model("py:tests.models:SmallConvNet")
    assert dialogs.texts("question") and not window.controller.loader.busy
    assert window.document is doc and doc.selection.is_modified
    dialogs.answer = Answer.DISCARD
    assert load(qtbot, window, "py:tests.models:SmallConvNet")
    assert window.document is not doc and len(dialogs.texts("question")) == 2


def test_save_answer_saves_before_replacing(qtbot, window, dialogs, tmp_path: Path) -> None:
    doc = edited(window)
    dialogs.answer = Answer.SAVE
    dialogs.paths = [str(tmp_path / "kept.yaml")]
    assert load(qtbot, window, "py:tests.models:MLP")
    assert (tmp_path / "kept.yaml").exists() and doc.rules_path == tmp_path / "kept.yaml"


def test_opening_rules_over_unsaved_edits_asks(qtbot, window, dialogs, tmp_path: Path) -> None:
    doc = edited(window)
    rules = tmp_path / "r.yaml"
    rules.write_text(RULES)
    dialogs.answer = Answer.CANCEL
    assert not drop_rules(qtbot, window, rules)
    assert doc.rules_path is None and doc.selection.trainable_names() == []
    dialogs.answer = Answer.DISCARD
    assert open_rules(qtbot, window, rules)
    assert doc.selection.trainable_names() == ["fc2.weight", "fc2.bias"]


def test_training_lock_refuses_drop_recent_and_open(qtbot, window, dialogs, tmp_path: Path) -> None:
    doc = Document.from_model(MLP(), "py:tests.models:MLP")
    window.set_document(doc)
    rules = tmp_path / "r.yaml"
    rules.write_text(RULES)
    window.controller.remember("rules", str(rules))
    window.set_editing_locked(True, "A training run is using the selection")

    drop(window, rules)  # a dropped rule file
    window._fill_recent_menu()
    recent = [a for a in window.recent_menu.actions() if a.text().startswith("Rules:")]
    recent[0].trigger()  # Open Recent > Rules
    assert not window.open_model("py:tests.models:SmallConvNet")  # Open Model / Open Recent > Model
    assert not window.controller.open_rules(rules)
    warnings = dialogs.texts("warning")
    assert len(warnings) == 4 and all("training run is using the selection" in w for w in warnings)
    assert doc.rules_path is None and doc.selection.trainable.all() and window.document is doc
    assert not dialogs.texts("question") and not window.controller.loader.busy

    window.set_editing_locked(False)
    assert drop_rules(qtbot, window, rules)
    assert doc.rules_path == rules and doc.selection.trainable_names() == ["fc2.weight", "fc2.bias"]
