"""Issue 20 in the window: a hostile pattern in a rule file gives one message and changes nothing, and
a search for a ReDoS pattern answers without freezing the window."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel, QLineEdit

from tests.app.conftest import drop_rules, open_rules

ANSWERED = {  # re's backtracking on these takes minutes on a ResNet's names; RE2 answers at once
    "nested quantifiers": "default: freeze\nrules:\n- train: fc\n- train: 're:(.*.*)*X'\n",
    "a hand-written alternation": "default: freeze\nrules:\n- train: fc\n- train: 're:([a-z0-9_.]+)+X'\n",
}
REFUSED = "default: freeze\nrules:\n- train: fc\n- train: 're:(?:(.)|.)+(?(1)X|Y)'\n"  # over the budget


def counts(win) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    return tuple(win.findChild(QLabel, n).text() for n in ("trainableCount", "frozenCount", "totalCount"))


def _state(window, resnet18_10):  # type: ignore[no-untyped-def]
    from freezegui.core.editing.document import Document

    window.set_document(Document.from_model(resnet18_10))
    window.edits.train_head()
    return (counts(window), window.document.selection.trainable.copy(), window.isWindowModified())


@pytest.mark.parametrize("how", ["open", "drop"])
def test_pattern_over_budget_one_message_document_unchanged(
    how: str, qtbot, window, dialogs, resnet18_10, tmp_path: Path
) -> None:
    before = _state(window, resnet18_10)
    path = tmp_path / "hostile.yaml"
    path.write_text(REFUSED)
    start = time.perf_counter()
    applied = (open_rules if how == "open" else drop_rules)(qtbot, window, path)
    assert time.perf_counter() - start < 30 and not applied
    messages = dialogs.texts("critical")
    assert len(messages) == 1 and f"{path}:4" in messages[0] and "needs more than" in messages[0], messages
    assert counts(window) == before[0]
    assert (window.document.selection.trainable == before[1]).all()
    assert window.isWindowModified() == before[2]


@pytest.mark.parametrize("case", list(ANSWERED))
def test_nested_quantifiers_are_answered_at_once(
    case: str, qtbot, window, dialogs, resnet18_10, tmp_path: Path
) -> None:
    _state(window, resnet18_10)
    path = tmp_path / "rules.yaml"
    path.write_text(ANSWERED[case])
    start = time.perf_counter()
    assert drop_rules(qtbot, window, path)  # applied: `fc` trains, the pattern matches nothing
    assert time.perf_counter() - start < 30 and not dialogs.texts("critical")
    trainable = window.document.selection.trainable
    assert 0 < trainable.sum() < len(trainable)


@pytest.mark.parametrize(
    ("query", "bad"),
    [("re:(.*.*)*X", False), (r"re:(\w+\.?)*q_proj", False), ("re:(?:(.)|.)+(?(1)X|Y)", True)],
)
def test_redos_search_does_not_freeze_the_window(query: str, bad: bool, qtbot, window, resnet18_10) -> None:
    from freezegui.core.editing.document import Document

    window.set_document(Document.from_model(resnet18_10))
    box = window.findChild(QLineEdit, "searchBox")
    ticks: list[float] = []
    from PySide6.QtCore import QTimer

    timer = QTimer(window)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(20)
    start = time.perf_counter()
    qtbot.keyClicks(box, query)  # typed: the debounced search runs on the event loop
    qtbot.wait(600)
    timer.stop()
    assert time.perf_counter() - start < 10
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert ticks and max(gaps) < 2.0  # the event loop kept turning
    label = window.findChild(QLabel, "matchCount").text()
    assert label == ("bad pattern" if bad else "0 matches"), label
    if bad:
        assert "needs more than" in box.toolTip()
