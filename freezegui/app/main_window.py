"""The main window: composition of the tree pane, the search bar, the totals, the docks, the actions
and the settings. Logic lives in the parts: files in :mod:`~freezegui.app.commands.controller`, edits in
:mod:`~freezegui.app.commands.edits`, actions in :mod:`~freezegui.app.commands.action_table`.

Importing this module does not import torch: the window is shown first, and the torch-side parts
(the item model, the training dock) are added when the loader says the core is ready.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QEvent, QModelIndex, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from freezegui.app import heap
from freezegui.app.commands.action_table import UiState, build_actions, update_enabled
from freezegui.app.commands.controller import DocumentController, drop_kind
from freezegui.app.commands.edits import EditCommands
from freezegui.app.commands.loader import Progress, Stage
from freezegui.app.commands.lr_edits import LrCommands
from freezegui.app.docks.details import DetailsPane
from freezegui.app.docks.late_training import LateTrainingDock
from freezegui.app.docks.scroll import scrolled
from freezegui.app.docks.totals import TotalsBar
from freezegui.app.prompt import Prompt, QtPrompt
from freezegui.app.schedule.stage_bar import StageBar
from freezegui.app.tree.pane import TreePane
from freezegui.app.tree.search_bar import SearchBar
from freezegui.core.models.options import DEFAULT_SPEC, LoadOptions

if TYPE_CHECKING:
    from freezegui.app.docks.cost.panel import CostPanel
    from freezegui.app.docks.training_panel import TrainingPanel
    from freezegui.app.schedule.dialog import ScheduleDialog
    from freezegui.app.tree.model import ModuleTreeModel
    from freezegui.app.tree.view import ModuleTreeView
    from freezegui.core.editing.document import Document
    from freezegui.core.editing.presets import SearchResult
    from freezegui.core.structure.tree import ModuleNode, ParamEntry


class MainWindow(QMainWindow):
    documentChanged = Signal()
    loadFinished = Signal(bool)  # after every load attempt: True when the new model is open
    lockChanged = Signal(bool)  # a training run started (True) or ended using the selection

    def __init__(
        self, settings: QSettings | None = None, prompt: Prompt | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.settings = settings if settings is not None else QSettings()
        self.prompt: Prompt = prompt if prompt is not None else QtPrompt(self)
        self.controller = DocumentController(self.prompt, self.settings, self)
        self.edits = EditCommands(lambda: self.controller.doc, lambda: self.controller.locked, self.prompt)
        self.lr = LrCommands(lambda: self.controller.doc, lambda: self.controller.locked, self.prompt)
        self._training = LateTrainingDock(self)  # added after the first tree is on screen
        self.cost_panel: CostPanel | None = None
        self.schedule_dialog: ScheduleDialog | None = None  # made on first use
        self._core_ready = False
        self._shown_doc: Document | None = None  # whose selection signals are connected
        self._busy_cursor = False
        self.setAcceptDrops(True)
        self.resize(1280, 800)
        self._build_central()
        self._build_status_bar()
        self.actions_by_key, self.menus = build_actions(self)
        self.recent_menu = self.menus["File"].addMenu("Open &Recent")
        self.menus["File"].insertMenu(self.action("openRules"), self.recent_menu)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.details_dock = self.add_dock(DetailsPane(), "Details", "detailsDock")
        self.details: DetailsPane = self.details_dock.widget()  # type: ignore[assignment]
        self.resizeDocks([self.details_dock], [440], Qt.Orientation.Horizontal)
        self._connect()
        self._restore_settings()
        self._update_title()
        self._update_actions()

    # ================================================================================= composition
    def _build_central(self) -> None:
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
        self.search_bar = SearchBar()
        self.tree_pane = TreePane()
        self.totals = TotalsBar()
        self.stage_bar = StageBar(self)  # the schedule's stage picker (hidden without a schedule)
        layout.addWidget(self.search_bar)
        layout.addWidget(self.stage_bar)
        layout.addWidget(self.tree_pane, 1)
        layout.addWidget(self.totals)
        self.setCentralWidget(central)

    def _build_status_bar(self) -> None:
        self.busy = QProgressBar()
        self.busy.setObjectName("busyIndicator")
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(160)
        self.busy.setVisible(False)
        self.busy_label = QLabel("")
        self.statusBar().addPermanentWidget(self.busy_label)
        self.statusBar().addPermanentWidget(self.busy)

    def add_dock(self, widget: QWidget, title: str, name: str) -> QDockWidget:
        """The composition point for panels: a dock on the right, tabbed with the others, listed
        in the View menu, its place restored from the saved window state."""
        if isinstance(widget, QDockWidget):
            dock = widget
            scrolled(dock)  # a tall dock scrolls instead of making the window taller than a laptop
        else:
            dock = QDockWidget(title, self)
            dock.setWidget(widget)
        dock.setObjectName(name)
        docks = [d for d in self.findChildren(QDockWidget) if d is not dock and d.parent() is self]
        if not self.restoreDockWidget(dock):  # placed where the saved window state had it, if it did
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
            if docks:  # tabbed behind the tab in front (a dock added late does not take the front)
                front = next((d for d in docks if not d.visibleRegion().isEmpty()), docks[0])
                self.tabifyDockWidget(docks[0], dock)
                front.raise_()
        self.menus["View"].addAction(dock.toggleViewAction())
        return dock

    def _add_core_panels(self) -> None:
        """The Cost dock, once the core is ready (before the model shows); the Training dock (QtCharts
        and the training engine, ~0.3 s of imports) waits until the first tree is on screen."""
        from freezegui.app.docks.cost.panel import CostPanel

        self.cost_panel = CostPanel(self)
        self.add_dock(self.cost_panel, "Cost", "costPanel")
        from freezegui.app.tree.cost_columns import install  # View → Cost columns (issue 23)

        self.cost_columns_action = install(self)
        if self.settings.value("window/state") is None:  # first run: Cost in front, not Details
            QTimer.singleShot(0, self.cost_panel.raise_)  # the dock tabs exist once laid out

    @property
    def training_panel(self) -> TrainingPanel | None:
        """The Training dock (None without QtCharts or before the core is ready)."""
        return self._training.panel() if self._core_ready else None

    def _connect(self) -> None:
        c = self.controller
        c.documentChanged.connect(self._show_document)
        c.loadFinished.connect(self.loadFinished)
        c.progress.connect(self._on_progress)
        c.busyChanged.connect(self._set_busy)
        c.titleChanged.connect(self._update_title)
        c.status.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        self.search_bar.resultChanged.connect(self._on_search_result)
        self.search_bar.matchesRequested.connect(
            lambda trainable: self.edits.act_on_matches(self.search_bar.result, trainable)
        )
        self.tree_pane.currentItemChanged.connect(lambda item: self.details.show_item(self.document, item))
        self.tree_pane.lrEditRequested.connect(self.lr.set_row_scale)
        self.tree_pane.readOnly.connect(lambda why: self.statusBar().showMessage(why, 6000))

    def _ensure_core(self) -> None:
        if not self._core_ready:
            self._core_ready = True
            self.tree_model.refused.connect(lambda why: self.prompt.warning("Cannot do that", why))
            self._add_core_panels()
            self._update_actions()

    # ==================================================================================== document
    @property
    def document(self) -> Document | None:
        return self.controller.doc

    @property
    def tree_view(self) -> ModuleTreeView:
        return self.tree_pane.view

    @property
    def tree_model(self) -> ModuleTreeModel:
        return self.tree_pane.model

    def action(self, key: str) -> QAction:
        """The action of the table row ``key`` (see :data:`~freezegui.app.commands.action_table.ACTIONS`)."""
        return self.actions_by_key[key]

    def set_document(self, doc: Document | None) -> None:
        """Show ``doc`` (replacing the previous one without asking)."""
        self.controller.set_document(doc)

    def open_model(self, options: LoadOptions | str, *, rules: str | None = None, **fields: Any) -> bool:
        """Load a model in the background (asking first about unsaved edits)."""
        opts = options if isinstance(options, LoadOptions) else LoadOptions(spec=options, **fields)
        return self.controller.open_model(opts, rules=rules)

    def open_model_when_painted(self, options: LoadOptions, *, rules: str | None = None) -> None:
        """Show the busy state now and start loading once it is on screen: the import of torch in
        the background then never delays the first paint (the startup path)."""
        self._set_busy(f"Loading {options.spec}…")

        def start() -> None:
            if self.isVisible():  # not when the window was closed before its first paint was done
                self.controller.open_model(options, rules=rules, ask=False)

        _FirstPaint(self.tree_pane.busy_page).done.connect(lambda: QTimer.singleShot(0, start))

    def _show_document(self, doc: Document | None) -> None:
        self._ensure_core()
        old = self._shown_doc
        if old is not None:
            old.selection.changed.disconnect(self._on_selection_changed)
            old.selection.history_changed.disconnect(self._on_history_changed)
        self._shown_doc = doc
        if doc is not None:
            doc.selection.changed.connect(self._on_selection_changed)
            doc.selection.history_changed.connect(self._on_history_changed)
        self.tree_pane.set_busy("")
        self.tree_pane.set_document(doc)
        self.totals.update_from(doc.selection if doc else None)
        self.search_bar.set_tree(doc.tree if doc else None)
        self._update_title()
        self._update_actions()
        self.documentChanged.emit()
        QTimer.singleShot(0, lambda replaced=old is not None: heap.settle(replaced))  # after the paint
        if doc is not None:
            QTimer.singleShot(0, self._training.import_in_background)

    def _on_progress(self, progress: Progress) -> None:
        if progress.stage is Stage.CORE_READY:
            self._ensure_core()
        elif progress.text and self.busy.isVisible():  # a late progress signal never outlives the load
            self.busy_label.setText(progress.text)
            if self.document is None:
                self.tree_pane.set_busy(progress.text)

    def _set_busy(self, text: str) -> None:
        self.busy.setVisible(bool(text))
        self.busy_label.setText(text)
        if text and self.document is None:
            self.tree_pane.set_busy("Loading PyTorch…" if not self._core_ready else text)
        elif not text:
            self.tree_pane.set_busy("")
        if bool(text) != self._busy_cursor:
            self._busy_cursor = bool(text)
            if text:
                QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
            else:
                with contextlib.suppress(Exception):
                    QApplication.restoreOverrideCursor()

    def set_editing_locked(self, locked: bool, reason: str = "") -> None:
        """Used by the training dock: the selection cannot change while a run uses it."""
        self.controller.locked = locked
        self.tree_pane.set_locked(locked)
        if locked and reason:
            self.statusBar().showMessage(reason)
        elif not locked:
            self.statusBar().clearMessage()
        self._update_actions()
        self.lockChanged.emit(locked)

    # ===================================================================================== search
    def search(self, text: str) -> None:
        """Filter the tree at once (typing filters after a short pause)."""
        self.search_bar.search(text)

    def _on_search_result(self, result: SearchResult | None) -> None:
        if self._core_ready:
            self.tree_pane.show_search(result)

    def source_index(self, index: QModelIndex) -> QModelIndex:
        return self.tree_pane.source_index(index)

    def view_index(self, item: ModuleNode | ParamEntry) -> QModelIndex:
        return self.tree_pane.view_index(item)

    # ================================================================================== reactions
    def _on_selection_changed(self, *_: object) -> None:
        assert self.document is not None
        self.totals.update_from(self.document.selection)
        self.details.refresh()

    def _on_history_changed(self) -> None:
        self._update_title()
        self._update_actions()

    def _update_title(self) -> None:
        doc = self.document
        if doc is None:
            self.setWindowTitle("freezegui")
            self.setWindowModified(False)
            return
        rules = f" — {doc.rules_path.name}" if doc.rules_path else ""
        self.setWindowTitle(f"{doc.display_name}{rules}[*] — freezegui")
        self.setWindowModified(doc.selection.is_modified)

    def _update_actions(self) -> None:
        sel = self.document.selection if self.document else None
        state = UiState(
            core_ready=self._core_ready,
            has_doc=sel is not None,
            locked=self.controller.locked,
            can_undo=bool(sel and sel.can_undo),
            can_redo=bool(sel and sel.can_redo),
        )
        update_enabled(self.actions_by_key, state)
        undo, redo = sel.undo_label if sel else "", sel.redo_label if sel else ""
        self.action("undo").setToolTip(f"Undo {undo} (Ctrl+Z)" if undo else "Undo (Ctrl+Z)")
        self.action("redo").setToolTip(f"Redo {redo} (Ctrl+Shift+Z)" if redo else "Redo (Ctrl+Shift+Z)")
        self.search_bar.set_editable(state.editable)

    # ================================================================================ menus, help
    def show_about(self) -> None:
        from freezegui import __version__

        text = f"freezegui {__version__}\nChoose which layers of a PyTorch model to freeze."
        self.prompt.information("About freezegui", text)

    def _add_recent(self, text: str, open_: Callable[[str], object], item: str) -> None:
        self.recent_menu.addAction(text, lambda: open_(item))  # one closure per item

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        models, rules = self.controller.recent("models"), self.controller.recent("rules")
        for spec in models:
            self._add_recent(f"Model: {spec}", self.open_model, spec)
        if models and rules:
            self.recent_menu.addSeparator()
        for path in rules:
            self._add_recent(f"Rules: {path}", self.controller.open_rules, path)
        if not (models or rules):
            self.recent_menu.addAction("(nothing yet)").setEnabled(False)

    # ============================================================================= drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if any(drop_kind(Path(u.toLocalFile())) for u in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            self.controller.open_path(Path(url.toLocalFile()))
        event.acceptProposedAction()

    # ========================================================================== closing, settings
    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.controller.confirm_discard():
            event.ignore()
            return
        self.controller.abandon_load()  # a load in flight is dropped, never waited for
        self._training.shutdown()
        if self.cost_panel is not None:
            self.cost_panel.shutdown()  # a plan in flight is dropped, never waited for
        self._save_settings()
        event.accept()

    def _save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()

    def _restore_settings(self) -> None:
        for key, restore in (("window/geometry", self.restoreGeometry), ("window/state", self.restoreState)):
            value = self.settings.value(key)
            if isinstance(value, (QByteArray, bytes)):
                restore(value)


class _FirstPaint(QObject):
    """Emits ``done`` once, after the first paint event of ``widget``."""

    done = Signal()

    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            obj.removeEventFilter(self)
            self.done.emit()
            self.deleteLater()
        return False


__all__ = ["DEFAULT_SPEC", "MainWindow"]
