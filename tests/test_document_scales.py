"""The app's document keeps lr scales and a schedule through save, open and export (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from freezegui.core.editing.document import Document
from tests.models import MLP

SCHEDULED = """version: 1
default: freeze
rules:
- train: fc2
  lr_scale: 0.5
schedule:
- at: {step: 3}
  rules:
  - train: fc1
"""


def _doc() -> Document:
    return Document.from_model(MLP(), "py:tests.models:MLP")


def test_scales_set_in_the_selection_are_saved_and_reopened(tmp_path: Path) -> None:
    doc = _doc()
    doc.selection.set_lr_scale(doc.tree.node("fc2"), 0.25)
    path = doc.save_rules(tmp_path / "r.yaml")
    assert "lr_scale: 0.25" in path.read_text()
    again = _doc()
    again.open_rules(path)
    assert again.selection.lr_scale_of(again.tree.node("fc2")) == 0.25
    assert again.selection.lr_scale_of(again.tree.node("fc1")) == 1.0


def test_opened_schedule_and_scales_survive_a_save(tmp_path: Path) -> None:
    src = tmp_path / "in.yaml"
    src.write_text(SCHEDULED)
    doc = _doc()
    doc.open_rules(src)
    assert doc.selection.lr_scale_of(doc.tree.node("fc2")) == 0.5
    assert doc.selection.lr_scale_of(doc.tree.node("fc1")) is None  # frozen until its stage
    saved = doc.to_ruleset()
    assert [(s.unit, s.at) for s in saved.schedule] == [("step", 3)]
    assert [r.lr_scale for r in saved.rules if r.pattern.text == "fc2"] == [0.5]


@pytest.mark.parametrize("kind", ["python1", "python2"])
def test_python_export_carries_scales_and_stages(tmp_path: Path, kind: str) -> None:
    src = tmp_path / "in.yaml"
    src.write_text(SCHEDULED)
    doc = _doc()
    doc.open_rules(src)
    text = doc.export_text(kind)
    assert "0.5" in text and "'step', 3" in text
    compile(text, "snippet.py", "exec")


def test_names_export_says_what_it_drops(tmp_path: Path) -> None:
    doc = _doc()
    assert not doc.export_text("names").startswith("# NOTE")  # nothing to drop
    doc.selection.set_lr_scale(doc.tree.node("fc2"), 2.0)
    text = doc.export_text("names")
    assert text.startswith("# NOTE: per-layer learning-rate scales")
    assert "fc2.weight" in text
