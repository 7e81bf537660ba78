"""The Cost dock: updates after a toggle, flips its verdict at a GPU size between two peaks, never shows a stale plan."""

from __future__ import annotations

import dataclasses

from freezegui.core.editing.document import Document
from tests.plan_models import ARCHS

GIB = 1024**3


def _show_cost(qtbot, window, model) -> object:
    qtbot.waitExposed(window)
    window._ensure_core()  # core docks are added when the loader reports the core ready
    qtbot.wait(50)  # the dock area lays out its new tabs
    panel = window.cost_panel
    panel.raise_()
    # a tabified dock reports isVisible() behind another tab: wait for it to be the shown tab
    qtbot.waitUntil(lambda: panel.isVisible() and panel._shown)
    panel.batch.setValue(2)
    panel.length.setValue(32)
    with qtbot.waitSignal(panel.planShown, timeout=120_000):
        window.set_document(Document.from_model(model, "torchvision:resnet18"))
    return panel


def test_cost_panel_updates_after_toggle_and_verdict_flips(qtbot, window) -> None:
    model = next(a for a in ARCHS if a.name == "resnet18").make()
    panel = _show_cost(qtbot, window, model)
    assert panel.is_current
    full_peak = panel.plan.per_rank.peak_bytes
    assert panel.plan.ratio("step_flops") == 1.0
    doc = window.document
    doc.selection.set_subtree(doc.tree.root, False)  # freeze everything ...
    assert not panel.is_current and "Updating" in panel.status.text()  # the old plan is marked stale at once
    with qtbot.waitSignal(panel.planShown, timeout=120_000):
        doc.selection.set_subtree(doc.tree.node("fc"), True)  # ... then train the head only
    head_peak = panel.plan.per_rank.peak_bytes
    assert panel.is_current and head_peak < full_peak
    assert panel.plan.counts.trainable == 5130
    assert panel.plan.ratio("step_flops") < 0.6
    between = (head_peak + full_peak) / 2 / GIB
    panel.gpu.setCurrentText(f"{between:.6f}")
    assert panel.verdict.property("fits") is True and "fits" in panel.verdict.text()
    with qtbot.waitSignal(panel.planShown, timeout=120_000):
        doc.selection.set_subtree(doc.tree.root, True)  # full fine-tuning again: above the line
    assert panel.verdict.property("fits") is False and "does not fit" in panel.verdict.text()
    window.grab().save("/tmp/cost_panel.png")


def test_results_of_an_older_generation_are_dropped(qtbot, window) -> None:
    model = next(a for a in ARCHS if a.name == "convnet").make()
    panel = _show_cost(qtbot, window, model)
    shown = panel.plan
    late = dataclasses.replace(shown)
    panel._done(panel._generation - 1, panel._doc, late)  # a late result for an older selection
    assert panel.plan is shown and panel.is_current
    panel.batch.setValue(3)  # a setting is an edit too
    assert not panel.is_current
    qtbot.waitUntil(lambda: panel.is_current, timeout=120_000)
    assert panel.plan.options.batch_size == 3


def test_hidden_panel_plans_nothing(qtbot, window) -> None:
    model = next(a for a in ARCHS if a.name == "convnet").make()
    window._ensure_core()
    qtbot.wait(50)  # the dock area lays out its new tabs (Cost in front on a first run)
    window.details_dock.raise_()
    window.set_document(Document.from_model(model))
    qtbot.wait(DEBOUNCE_WAIT)
    assert not window.cost_panel._running and window.cost_panel.plan is None


DEBOUNCE_WAIT = 500


def test_lora_adapters_in_the_document_are_planned(qtbot, window) -> None:
    model = next(a for a in ARCHS if a.name == "llama").make()
    panel = _show_cost(qtbot, window, model)
    doc = window.document
    doc.selection.set_subtree(doc.tree.root, False)
    with qtbot.waitSignal(panel.planShown, timeout=120_000):
        doc.selection.set_adapted(doc.tree.node("model.layers.0.self_attn.q_proj"), True)
    expected = doc.selection.lora_parameters()
    assert panel.is_current and panel.plan.counts.lora == expected > 0
    assert panel.plan.counts.trainable == expected  # only the adapter trains
    assert panel.plan.gradients_bytes == expected * 4 and panel.plan.step_ran


def test_an_edit_cancels_the_running_plan(qtbot, window, monkeypatch) -> None:
    """A plan running for a state an edit made stale stops at its next op (no error shown); the
    newest state is planned after it."""
    import threading

    from freezegui.core.plan import measure

    model = next(a for a in ARCHS if a.name == "convnet").make()
    panel = _show_cost(qtbot, window, model)
    started, release = threading.Event(), threading.Event()
    original, told = measure.measure_step, []

    def slow_step(*args, **kwargs):  # the step waits until the test has edited
        started.set()
        release.wait(10)
        told.append(kwargs["cancel"]())
        return original(*args, **kwargs)  # stops at its first op

    monkeypatch.setattr(measure, "measure_step", slow_step)
    monkeypatch.setattr("freezegui.core.plan.planner.measure_step", slow_step)
    doc = window.document
    panel._timer.setInterval(0)
    doc.selection.set_subtree(doc.tree.node("fc"), False)
    qtbot.waitUntil(started.is_set, timeout=10_000)
    doc.selection.set_subtree(doc.tree.node("fc"), True)  # stale now: the running plan is told to stop
    monkeypatch.setattr("freezegui.core.plan.planner.measure_step", original)
    release.set()
    with qtbot.waitSignal(panel.planShown, timeout=120_000):
        pass
    assert told == [True]  # the edit asked the running plan to stop
    assert panel.is_current and "Cannot plan" not in panel.status.text()
    assert panel.plan.ratio("step_flops") == 1.0  # the newest state: everything trains again


def test_edits_wait_the_debounce_even_after_the_dock_was_shown(qtbot, window) -> None:
    """Showing the dock over a stale plan plans at once (start(0)); that must not leave the
    debounce at 0 ms, or every later click would start a plan."""
    from freezegui.app.docks.cost.panel import DEBOUNCE_MS

    model = next(a for a in ARCHS if a.name == "convnet").make()
    panel = _show_cost(qtbot, window, model)
    doc = window.document
    panel._visibility_changed(False)
    doc.selection.set_subtree(doc.tree.node("fc"), False)  # stale while hidden
    with qtbot.waitSignal(panel.planShown, timeout=120_000):
        panel._visibility_changed(True)  # shown again: planned at once
    doc.selection.set_subtree(doc.tree.node("fc"), True)
    assert panel._timer.isActive() and panel._timer.interval() == DEBOUNCE_MS


def test_closing_stops_a_plan_that_sleeps_as_stale(qtbot, window, monkeypatch) -> None:
    """A stale plan sleeps until the next plan stops it; closing the dock must stop it too, or its
    pool thread would never end (and the process would wait for it)."""
    import threading

    from freezegui.core.plan import measure

    model = next(a for a in ARCHS if a.name == "convnet").make()
    panel = _show_cost(qtbot, window, model)
    started = threading.Event()
    original = measure.measure_step

    def step(*args, **kwargs):
        started.set()
        return original(*args, **kwargs)

    monkeypatch.setattr("freezegui.core.plan.planner.measure_step", step)
    doc = window.document
    panel._timer.start(0)
    doc.selection.set_subtree(doc.tree.node("fc"), False)
    panel._timer.start(0)
    qtbot.waitUntil(lambda: panel._running, timeout=10_000)
    doc.selection.set_subtree(doc.tree.node("fc"), True)  # stale: it sleeps at its next op
    ended = panel._ended
    panel.shutdown()
    # stopped, not asleep; the event loop runs meanwhile: superqt starts a worker from a 10 ms timer
    qtbot.waitUntil(ended.is_set, timeout=30_000)
