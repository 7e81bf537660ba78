"""Every menu and toolbar action of the main window, declared in one table.

A row says what the action shows (text, shortcut, tip), what it runs (a function of the window),
where it goes (menu, toolbar) and when it is enabled (a predicate over :class:`UiState`).
:func:`build_actions` turns the table into ``QAction`` objects, menus and the toolbar;
:func:`update_enabled` re-evaluates the predicates. Compare napari's ``_qt/_qapp_model/qactions``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar

from freezegui.app.commands.exports import FORMATS as EXPORT_FORMATS

if TYPE_CHECKING:
    from freezegui.app.main_window import MainWindow

SK = QKeySequence.StandardKey
Shortcut = str | QKeySequence.StandardKey


@dataclass(frozen=True)
class UiState:
    """What the enabled-when predicates look at."""

    core_ready: bool = False  # torch and the core are imported
    has_doc: bool = False
    locked: bool = False  # a training run uses the selection
    can_undo: bool = False
    can_redo: bool = False

    @property
    def editable(self) -> bool:
        return self.has_doc and not self.locked


@dataclass(frozen=True)
class ActionSpec:
    key: str  # object name is f"{key}Action"; look it up with window.action(key)
    text: str
    run: Callable[[Any], object]  # called with the window
    menu: str  # "File", "File/Export", "Edit", "LoRA", "Learning rates", "View", "Help"
    shortcut: Sequence[Shortcut] = ()
    tip: str = ""
    toolbar: int = 0  # 0: not in the toolbar; else its group there (groups are separated)
    separator_before: bool = False  # in its menu
    enabled_when: Callable[[UiState], bool] | None = None  # None: always enabled


def _editable(s: UiState) -> bool:
    return s.editable


def _doc(s: UiState) -> bool:
    return s.has_doc


def _unlocked_core(s: UiState) -> bool:
    return s.core_ready and not s.locked


def _refit(w: MainWindow, _edit_result: object) -> None:
    """After a LoRA suggestion: the LoRA and count columns hold new, wider numbers."""
    w.tree_pane.fit_columns()


def _rule_help(w: MainWindow) -> object:
    from freezegui.app.dialogs.rule_help import show_rule_help

    return show_rule_help(w)


def _lora_settings(w: MainWindow) -> object:
    from freezegui.app.dialogs.lora_settings import show_lora_settings

    return show_lora_settings(w)


def _schedule(w: MainWindow) -> object:
    from freezegui.app.schedule.dialog import show_schedule_editor

    return show_schedule_editor(w)


def _probe(w: MainWindow, name: str) -> object:
    from freezegui.app.docks import probe_runner

    return getattr(probe_runner, name)(w)


def _export(kind: str) -> Callable[[Any], object]:
    return lambda w: w.controller.export_dialog(kind)


ACTIONS: tuple[ActionSpec, ...] = (
    # File
    ActionSpec("openModel", "&Open Model…", lambda w: w.controller.open_model_dialog(), "File", (SK.Open,),
               "Open a model (Ctrl+O)", toolbar=1, enabled_when=_unlocked_core),
    ActionSpec("openRules", "Open &Rules…", lambda w: w.controller.open_rules_dialog(), "File",
               ("Ctrl+Shift+O",), "Apply a rule file", enabled_when=_editable),
    ActionSpec("save", "&Save Rules", lambda w: w.controller.save_rules(), "File", (SK.Save,),
               "Save the selection as a rule file (Ctrl+S)", toolbar=1, separator_before=True,
               enabled_when=_doc),
    ActionSpec("saveAs", "Save Rules &As…", lambda w: w.controller.save_rules_as(), "File", (SK.SaveAs,),
               enabled_when=_doc),
    *(ActionSpec(f"export_{kind}", text, _export(kind), "File/&Export", enabled_when=_doc,
                 separator_before=kind in ("peft_json", "axolotl"))
      for kind, (text, _) in EXPORT_FORMATS.items()),
    ActionSpec("quit", "&Quit", lambda w: w.close(), "File", (SK.Quit,), separator_before=True),
    # Edit
    ActionSpec("undo", "&Undo", lambda w: w.edits.undo(), "Edit", (SK.Undo,), toolbar=2,
               separator_before=True, enabled_when=lambda s: s.editable and s.can_undo),
    ActionSpec("redo", "&Redo", lambda w: w.edits.redo(), "Edit", ("Ctrl+Shift+Z", "Ctrl+Y"), toolbar=2,
               enabled_when=lambda s: s.editable and s.can_redo),
    ActionSpec("freezeAll", "Freeze all", lambda w: w.edits.freeze_all(), "Edit", ("Ctrl+Shift+F",),
               "Freeze every parameter", toolbar=3, separator_before=True, enabled_when=_editable),
    ActionSpec("trainAll", "Train all", lambda w: w.edits.train_all(), "Edit", ("Ctrl+Shift+T",),
               "Train every parameter", toolbar=3, enabled_when=_editable),
    ActionSpec("invert", "Invert", lambda w: w.edits.invert(), "Edit", ("Ctrl+I",), "Swap trained and frozen",
               toolbar=3, enabled_when=_editable),
    ActionSpec("trainHead", "Train head only", lambda w: w.edits.train_head(), "Edit", ("Ctrl+H",),
               "Freeze all but the classification head", toolbar=3, enabled_when=_editable),
    ActionSpec("trainLastBlocks", "Train last N blocks…", lambda w: w.edits.train_last_blocks(), "Edit",
               ("Ctrl+L",), "Freeze all but the last N blocks and what follows them", toolbar=3,
               enabled_when=_editable),
    ActionSpec("freezeNorms", "Freeze normalisation layers", lambda w: w.edits.freeze_norms(), "Edit",
               tip="Freeze every BatchNorm/LayerNorm/RMSNorm", toolbar=3, enabled_when=_editable),
    ActionSpec("freezeType", "Freeze by module type…", lambda w: w.edits.by_type_dialog(False), "Edit",
               enabled_when=_editable),
    ActionSpec("trainType", "Train by module type…", lambda w: w.edits.by_type_dialog(True), "Edit",
               enabled_when=_editable),
    ActionSpec("probe", "Probe which layers matter…", lambda w: _probe(w, "start_probe"), "Edit",
               tip="K forward/backward passes on the Training dock's data: RGN column (‖∇W‖/‖W‖)",
               separator_before=True, enabled_when=_editable),
    ActionSpec("suggestProbe", "Suggest from probe…", lambda w: _probe(w, "suggest_from_probe"), "Edit",
               tip="Train the top-k blocks by RGN and the head (within the Fit to GPU budget when set)",
               enabled_when=_editable),
    ActionSpec("find", "&Find", lambda w: w.search_bar.focus(), "Edit", (SK.Find,), separator_before=True),
    # LoRA
    ActionSpec("loraAttention", "Suggest: attention projections", lambda w: _refit(w, w.edits.suggest_attention()), "LoRA",
               tip="Adapters on every linear layer inside attention (q/k/v/o projections)",
               enabled_when=_editable),
    ActionSpec("loraAllLinear", "Suggest: all linear layers except the head", lambda w: _refit(w, w.edits.suggest_all_linear()),
               "LoRA", tip="PEFT's all-linear: every Linear/Conv1D but the output head", enabled_when=_editable),
    ActionSpec("loraLastBlocks", "Suggest: attention + MLP of the last N blocks…",
               lambda w: _refit(w, w.edits.suggest_last_blocks()), "LoRA", enabled_when=_editable),
    ActionSpec("loraRemove", "Remove all adapters", lambda w: _refit(w, w.edits.remove_adapters()), "LoRA",
               separator_before=True, enabled_when=_editable),
    ActionSpec("loraSettings", "LoRA settings…", _lora_settings, "LoRA",
               tip="Rank r, lora_alpha, dropout, DoRA and bias", separator_before=True, enabled_when=_editable),
    # Learning rates
    ActionSpec("lrScale", "Set LR × of the row…", lambda w: w.lr.set_row_scale(w.tree_pane.current_item()),
               "Learning rates", ("F2",), "The current row trains at lr × this number (its whole subtree)",
               enabled_when=_editable),
    ActionSpec("layerDecay", "Layer-wise decay…", lambda w: w.lr.layer_decay(), "Learning rates",
               tip="Scale each block's lr by depth (BEiT / timm layer_decay), with a preview",
               enabled_when=_editable),
    ActionSpec("schedule", "Schedule…", _schedule, "Learning rates",
               tip="Gradual unfreezing: stages that train more from step (or epoch) N on",
               separator_before=True, enabled_when=_doc),
    # View
    ActionSpec("expandAll", "Expand all", lambda w: w.tree_view.expandAll(), "View", enabled_when=_doc),
    ActionSpec("collapseAll", "Collapse all", lambda w: w.tree_pane.collapse_to_root(), "View",
               enabled_when=_doc),
    ActionSpec("fitColumns", "Fit columns", lambda w: w.tree_pane.fit_columns(), "View",
               tip="Size the tree's columns to their content", separator_before=True, enabled_when=_doc),
    # Help
    ActionSpec("ruleHelp", "Rule syntax", _rule_help, "Help"),
    ActionSpec("about", "About freezegui", lambda w: w.show_about(), "Help"),
)  # fmt: skip
MENUS = ("&File", "&Edit", "&LoRA", "&Learning rates", "&View", "&Help")


def build_actions(
    window: QMainWindow, table: Sequence[ActionSpec] = ACTIONS
) -> tuple[dict[str, QAction], dict[str, QMenu]]:
    """The actions of ``table`` (parented to ``window``), put into its menu bar and a toolbar;
    returns them by key, and the menus by name ("File", "File/Export", "Edit", ...)."""
    menus = {name.replace("&", ""): window.menuBar().addMenu(name) for name in MENUS}
    toolbar: QToolBar = window.addToolBar("Quick actions")
    toolbar.setObjectName("quickActions")
    actions: dict[str, QAction] = {}
    group = 0
    for spec in table:
        action = _make(window, spec)
        actions[spec.key] = action
        menu = _menu(menus, spec.menu)
        if spec.separator_before:
            menu.addSeparator()
        menu.addAction(action)
        if spec.toolbar:
            if group and spec.toolbar != group:
                toolbar.addSeparator()
            group = spec.toolbar
            toolbar.addAction(action)
    return actions, menus


def update_enabled(
    actions: dict[str, QAction], state: UiState, table: Sequence[ActionSpec] = ACTIONS
) -> None:
    for spec in table:
        if spec.enabled_when is not None:
            actions[spec.key].setEnabled(spec.enabled_when(state))


def _make(window: QMainWindow, spec: ActionSpec) -> QAction:
    action = QAction(spec.text, window)
    action.setObjectName(f"{spec.key}Action")
    if spec.shortcut:
        action.setShortcuts([QKeySequence(s) for s in spec.shortcut])
    if spec.tip:
        action.setStatusTip(spec.tip)
        action.setToolTip(spec.tip)
    run = spec.run
    action.triggered.connect(lambda *_: run(window))
    return action


def _menu(menus: dict[str, QMenu], path: str) -> QMenu:
    top, _, sub = path.partition("/")
    parent = menus[top]
    if not sub:
        return parent
    key = f"{top}/{sub.replace('&', '')}"
    if key not in menus:
        menus[key] = parent.addMenu(sub)
    return menus[key]


__all__ = ["ACTIONS", "ActionSpec", "UiState", "build_actions", "update_enabled"]
