"""The main window: module tree with Train checkboxes, live totals, details, search, quick actions,
rule files in and out. All state lives in the core :class:`Document`; this class only wires widgets."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QItemSelectionModel, QModelIndex, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import create_worker

from freezegui.app.details import DetailsPane
from freezegui.app.totals import TotalsBar
from freezegui.app.tree_model import (
    COL_NAME,
    COL_SHAPE,
    COL_TOTAL,
    COL_TRAINABLE,
    COL_TYPE,
    ModuleTreeModel,
    SearchFilterModel,
)
from freezegui.app.tree_view import ModuleTreeView
from freezegui.core import actions
from freezegui.core.apply import ApplyReport
from freezegui.core.atomic import atomic_write_text
from freezegui.core.document import Document
from freezegui.core.errors import FreezeguiError
from freezegui.core.loading import DEFAULT_SPEC
from freezegui.core.tree import ModuleNode, ParamEntry

try:  # the training dock is optional: the window works without it
    from freezegui.app.training_panel import TrainingPanel
except ImportError:  # pragma: no cover
    TrainingPanel = None  # type: ignore[assignment,misc]

RULE_SUFFIXES = (".yaml", ".yml")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".torchscript", ".jit")
MAX_RECENT = 10
RULES_FILTER = "Rule files (*.yaml *.yml);;All files (*)"


class MainWindow(QMainWindow):
    documentChanged = Signal()
    loadFinished = Signal(bool)  # after every load attempt: True when the new model is open

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.settings = settings if settings is not None else QSettings()
        self._doc: Document | None = None
        self._load_token = 0
        self._loading = False
        self._locked = False
        self._search_result: actions.SearchResult | None = None
        self.setAcceptDrops(True)
        self.resize(1280, 800)

        self.tree_model = ModuleTreeModel(self)
        # Connected to the adapter only while a search is shown (see _use_filter): an attached proxy
        # maps every dataChanged it hears, building row mappings for each parent on every toggle.
        self.proxy = SearchFilterModel(self)
        self._build_widgets()
        self._build_actions()
        self._build_menus()
        self.training_panel = None
        self.view_menu.addAction(self.details_dock.toggleViewAction())
        if TrainingPanel is not None:
            self.training_panel = TrainingPanel(self)
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.training_panel)
            self.tabifyDockWidget(self.details_dock, self.training_panel)
            self.view_menu.addAction(self.training_panel.toggleViewAction())
        self.details_dock.raise_()
        self.resizeDocks([self.details_dock], [440], Qt.Orientation.Horizontal)
        self._restore_settings()
        self._update_title()
        self._update_actions()

    # ================================================================================= construction
    def _build_widgets(self) -> None:
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
        search_row = QHBoxLayout()
        self.search_box = QLineEdit()
        self.search_box.setObjectName("searchBox")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setPlaceholderText(
            "Search: text, glob (encoder.layer.*.attention) or re:regex   (Ctrl+F)"
        )
        self.search_box.textChanged.connect(self._schedule_search)
        self.search_box.returnPressed.connect(self._run_search)
        self.match_label = QLabel("")
        self.match_label.setObjectName("matchCount")
        self.train_matches_button = QPushButton("Train matches")
        self.train_matches_button.setObjectName("trainMatchesButton")
        self.train_matches_button.clicked.connect(self.train_matches)
        self.freeze_matches_button = QPushButton("Freeze matches")
        self.freeze_matches_button.setObjectName("freezeMatchesButton")
        self.freeze_matches_button.clicked.connect(self.freeze_matches)
        search_row.addWidget(self.search_box, 1)
        search_row.addWidget(self.match_label)
        search_row.addWidget(self.train_matches_button)
        search_row.addWidget(self.freeze_matches_button)
        layout.addLayout(search_row)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)
        self._search_timer.timeout.connect(self._run_search)

        self.tree_view = ModuleTreeView()
        self.tree_view.setObjectName("moduleTree")
        self.tree_model.wide_change.connect(self.tree_view.viewport().update)
        self.tree_view.setModel(self.tree_model)  # the filter proxy is put in only while searching
        self.tree_view.selectionModel().currentChanged.connect(self._on_current_changed)
        self.tree_view.setUniformRowHeights(True)  # essential for 10^5 rows
        self.tree_view.setAlternatingRowColors(True)
        self.tree_view.setSelectionMode(QTreeView.SelectionMode.ExtendedSelection)
        self.tree_view.setAccessibleName("Module tree: tick a row to train it, untick to freeze it")
        header = self.tree_view.header()
        header.setStretchLastSection(True)
        for col, width in (
            (COL_NAME, 300),
            (COL_TYPE, 150),
            (COL_TOTAL, 85),
            (COL_TRAINABLE, 85),
            (COL_SHAPE, 140),
        ):
            header.resizeSection(col, width)
        layout.addWidget(self.tree_view, 1)
        # Details (and the training dock, when present) live in docks on the right, tabbed:
        # the tree keeps the full height, and dock sizes persist with the window state.
        self.details = DetailsPane()
        self.details_dock = QDockWidget("Details", self)
        self.details_dock.setObjectName("detailsDock")
        self.details_dock.setWidget(self.details)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.details_dock)
        self.totals = TotalsBar()
        layout.addWidget(self.totals)
        self.setCentralWidget(central)

        self.busy = QProgressBar()
        self.busy.setObjectName("busyIndicator")
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(160)
        self.busy.setVisible(False)
        self.busy_label = QLabel("")
        self.statusBar().addPermanentWidget(self.busy_label)
        self.statusBar().addPermanentWidget(self.busy)

    def _action(self, text: str, slot: Any, shortcut: Any = None, tip: str = "", name: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                action.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        if name:
            action.setObjectName(name)
        action.triggered.connect(lambda *_: slot())
        return action

    def _build_actions(self) -> None:
        SK = QKeySequence.StandardKey
        self.open_model_action = self._action(
            "&Open Model…", self.open_model_dialog, SK.Open, "Open a model (Ctrl+O)"
        )
        self.open_rules_action = self._action(
            "Open &Rules…", self.open_rules_dialog, "Ctrl+Shift+O", "Apply a rule file"
        )
        self.save_action = self._action(
            "&Save Rules", self.save_rules, SK.Save, "Save the selection as a rule file (Ctrl+S)"
        )
        self.save_as_action = self._action("Save Rules &As…", self.save_rules_as, SK.SaveAs)
        self.export_py1_action = self._action(
            "Python snippet — requires_grad (method 1)…", lambda: self.export_dialog("python1")
        )
        self.export_py2_action = self._action(
            "Python snippet — lr 0 param groups (method 2)…", lambda: self.export_dialog("python2")
        )
        self.export_names_action = self._action(
            "Trainable parameter names…", lambda: self.export_dialog("names")
        )
        self.quit_action = self._action("&Quit", self.close, SK.Quit)
        self.undo_action = self._action("&Undo", self.undo, [SK.Undo], name="undoAction")
        self.redo_action = self._action("&Redo", self.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], name="redoAction")
        self.find_action = self._action("&Find", self._focus_search, SK.Find)
        self.freeze_all_action = self._action(
            "Freeze all", self.freeze_all, "Ctrl+Shift+F", "Freeze every parameter"
        )
        self.train_all_action = self._action(
            "Train all", self.train_all, "Ctrl+Shift+T", "Train every parameter"
        )
        self.invert_action = self._action("Invert", self.invert, "Ctrl+I", "Swap trained and frozen")
        self.head_action = self._action(
            "Train head only", self.train_head, "Ctrl+H", "Freeze all but the classification head"
        )
        self.blocks_action = self._action(
            "Train last N blocks…",
            self.train_last_blocks,
            "Ctrl+L",
            "Freeze all but the last N blocks and what follows them",
        )
        self.norms_action = self._action(
            "Freeze normalisation layers", self.freeze_norms, tip="Freeze every BatchNorm/LayerNorm/RMSNorm"
        )
        self.type_freeze_action = self._action("Freeze by module type…", lambda: self.by_type_dialog(False))
        self.type_train_action = self._action("Train by module type…", lambda: self.by_type_dialog(True))
        self.expand_action = self._action("Expand all", self.tree_view.expandAll)
        self.collapse_action = self._action("Collapse all", self._collapse)
        self.edit_actions = [
            self.freeze_all_action,
            self.train_all_action,
            self.invert_action,
            self.head_action,
            self.blocks_action,
            self.norms_action,
            self.type_freeze_action,
            self.type_train_action,
        ]
        toolbar = self.addToolBar("Quick actions")
        toolbar.setObjectName("quickActions")
        for action in (
            self.open_model_action,
            self.save_action,
            None,
            self.undo_action,
            self.redo_action,
            None,
            *self.edit_actions[:6],
        ):
            if action is None:
                toolbar.addSeparator()
            else:
                toolbar.addAction(action)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_model_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addAction(self.open_rules_action)
        file_menu.addSeparator()
        file_menu.addAction(self.save_action)
        file_menu.addAction(self.save_as_action)
        export_menu = file_menu.addMenu("&Export")
        for action in (self.export_py1_action, self.export_py2_action, self.export_names_action):
            export_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)
        edit_menu.addSeparator()
        for action in self.edit_actions:
            edit_menu.addAction(action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.find_action)
        self.view_menu = bar.addMenu("&View")
        self.view_menu.addAction(self.expand_action)
        self.view_menu.addAction(self.collapse_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("Rule syntax", self._show_rule_help))
        help_menu.addAction(self._action("About freezegui", self._show_about))

    # ===================================================================================== document
    @property
    def document(self) -> Document | None:
        return self._doc

    def set_document(self, doc: Document | None) -> None:
        """Show ``doc`` (replacing the previous one)."""
        if self._doc is not None:
            self._doc.selection.changed.disconnect(self._on_selection_changed)
            self._doc.selection.history_changed.disconnect(self._on_history_changed)
        self._doc = doc
        self._search_result = None
        self._use_filter(None)
        self.tree_model.set_document(doc)
        if doc is not None:
            doc.selection.changed.connect(self._on_selection_changed)
            doc.selection.history_changed.connect(self._on_history_changed)
            root = self.view_index(doc.tree.root)
            self.tree_view.expand(root)
            self.tree_view.setCurrentIndex(root)
        self.totals.update_from(doc.selection if doc else None)
        if doc is None:
            self.details.show_item(None, None)  # otherwise setCurrentIndex above filled it
        if self.search_box.text():
            self._run_search()
        self._update_title()
        self._update_actions()
        self.documentChanged.emit()

    def open_model(self, spec: str, *, rules: str | None = None, **load_kwargs: Any) -> None:
        """Load ``spec`` in a worker thread; the current model stays open until it succeeds."""
        self._load_token += 1
        token = self._load_token
        self._set_busy(True, f"Loading {spec}…")

        def on_done(doc: Document) -> None:
            if token != self._load_token:
                return
            self._set_busy(False)
            self.set_document(doc)
            self._remember_recent("models", spec)
            self.statusBar().showMessage(f"Opened {spec}: {doc.tree.total_params:,} parameters", 5000)
            if rules:
                self.open_rules(rules)
            self.loadFinished.emit(True)

        def on_error(exc: BaseException) -> None:
            if token != self._load_token:
                return
            self._set_busy(False)
            message = str(exc) if isinstance(exc, FreezeguiError) else f"{type(exc).__name__}: {exc}"
            self._error("Could not open the model", f"{spec}\n\n{message}")
            self.loadFinished.emit(False)

        # Connecting `errored` here also stops superqt from re-raising the error in the UI thread.
        worker = create_worker(
            Document.load, spec, _connect={"returned": on_done, "errored": on_error}, **load_kwargs
        )
        self._worker = worker  # keep a reference while it runs (create_worker started it)

    def _set_busy(self, busy: bool, message: str = "") -> None:
        self._loading = busy
        self.busy.setVisible(busy)
        self.busy_label.setText(message if busy else "")
        if busy:
            QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        else:
            with contextlib.suppress(Exception):
                QApplication.restoreOverrideCursor()
        self._update_actions()

    # ==================================================================================== rule files
    def open_rules(self, path: str | Path) -> bool:
        """Apply a rule file (undoable); report rules that matched nothing or another architecture."""
        if self._doc is None:
            return False
        try:
            report = self._doc.open_rules(path)
        except FreezeguiError as exc:
            self._error("Could not open the rule file", str(exc))
            return False
        self._remember_recent("rules", str(path))
        self._report_rules(Path(path).name, report)
        self._update_title()
        return True

    def _report_rules(self, name: str, report: ApplyReport) -> None:
        problems = report.problems()
        if problems:
            self._warning(
                "Rule file applied with problems",
                f"{name} was applied, but:\n\n" + "\n".join(f"• {p}" for p in problems),
            )
        self.statusBar().showMessage(f"Applied {name}: {report}", 8000)

    def save_rules(self) -> bool:
        if self._doc is None:
            return False
        if self._doc.rules_path is None:
            return self.save_rules_as()
        return self._save_to(self._doc.rules_path)

    def save_rules_as(self, path: str | Path | None = None) -> bool:
        if self._doc is None:
            return False
        if path is None:
            suggested = str(self._doc.rules_path or Path.cwd() / f"{self._doc.display_name}_rules.yaml")
            path = self._ask_save_path("Save rules", suggested, RULES_FILTER)
            if not path:
                return False
        return self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        assert self._doc is not None
        try:
            self._doc.save_rules(path)
        except OSError as exc:
            self._error("Could not save the rule file", f"{path}\n\n{exc}")
            return False
        self._remember_recent("rules", str(path))
        self.statusBar().showMessage(f"Saved {path}", 5000)
        self._update_title()
        return True

    def export_dialog(self, kind: str) -> bool:
        if self._doc is None:
            return False
        suffix = {"python1": "_freeze.py", "python2": "_param_groups.py", "names": "_trainable.txt"}[kind]
        path = self._ask_save_path(
            "Export", str(Path.cwd() / f"{self._doc.display_name}{suffix}"), "All files (*)"
        )
        return bool(path) and self.export(kind, Path(path))

    def export(self, kind: str, path: Path) -> bool:
        """Write the selection as a Python snippet (method 1 or 2) or a names list, atomically."""
        assert self._doc is not None
        doc = self._doc
        try:
            if kind == "names":
                from freezegui.core.interop.names import to_names

                text = to_names(doc.tree, doc.selection.trainable)
            else:
                from freezegui.core.interop.python import to_python

                method = "requires_grad" if kind == "python1" else "lr_zero"
                text = to_python(
                    doc.tree, doc.selection.trainable, method, spec=doc.spec or None, batchnorm=doc.batchnorm
                )
            atomic_write_text(path, text)
        except (OSError, FreezeguiError) as exc:
            self._error("Could not export", f"{path}\n\n{exc}")
            return False
        self.statusBar().showMessage(f"Exported {path}", 5000)
        return True

    # ====================================================================================== editing
    def _edit(self, fn: Any, *args: Any) -> Any:
        if self._doc is None or self._locked:
            return None
        try:
            return fn(self._doc, *args)
        except (ValueError, FreezeguiError) as exc:
            self._error("Cannot do that", str(exc))
            return None

    def freeze_all(self) -> None:
        self._edit(lambda d: d.selection.set_subtree(d.tree.root, False, label="Freeze all"))

    def train_all(self) -> None:
        self._edit(lambda d: d.selection.set_subtree(d.tree.root, True, label="Train all"))

    def invert(self) -> None:
        self._edit(lambda d: d.selection.invert())

    def train_head(self) -> None:
        def run(d: Document) -> None:
            head = actions.head_index(d.tree)
            if head is None:
                raise ValueError("this model has no recognisable head")
            mask = actions.subtree_mask(d.tree, [head])
            d.selection.set_mask(mask, label=f"Train head only ({d.tree.paths[head]})")

        self._edit(run)

    def train_last_blocks(self, n: int | None = None) -> None:
        if self._doc is None:
            return
        blocks = actions.block_list(self._doc.tree)
        if blocks is None:
            self._error(
                "Cannot do that",
                "This model has no repeated block list (ModuleList/Sequential of same-typed blocks).",
            )
            return
        count = len(self._doc.tree.nodes[blocks].children)
        if n is None:
            n, ok = QInputDialog.getInt(
                self,
                "Train last N blocks",
                f"Blocks of {self._doc.tree.paths[blocks]} ({count}) to train, with everything after them:",
                min(2, count),
                0,
                count,
            )
            if not ok:
                return
        self._edit(
            lambda d: d.selection.set_mask(
                actions.train_last_blocks_mask(d.tree, n), label=f"Train last {n} blocks"
            )
        )

    def freeze_norms(self) -> None:
        self._edit(
            lambda d: actions.apply_mask(
                d.selection,
                actions.subtree_mask(d.tree, actions.norm_indices(d.tree)),
                False,
                label="Freeze normalisation layers",
            )
        )

    def set_type(self, type_name: str, trainable: bool) -> None:
        verb = "Train" if trainable else "Freeze"
        self._edit(
            lambda d: actions.apply_mask(
                d.selection,
                actions.subtree_mask(d.tree, actions.type_indices(d.tree, type_name)),
                trainable,
                label=f"{verb} every {type_name}",
            )
        )

    def by_type_dialog(self, trainable: bool) -> None:
        if self._doc is None:
            return
        items = [f"{name}  ({count})" for name, count in actions.type_counts(self._doc.tree)]
        verb = "Train" if trainable else "Freeze"
        choice, ok = QInputDialog.getItem(self, f"{verb} by module type", "Module type:", items, 0, False)
        if ok and choice:
            self.set_type(choice.split("  (")[0], trainable)

    def undo(self) -> None:
        self._edit(lambda d: d.selection.undo())

    def redo(self) -> None:
        self._edit(lambda d: d.selection.redo())

    def set_editing_locked(self, locked: bool, reason: str = "") -> None:
        """Used by the training dock: the selection cannot change while a run uses it."""
        self._locked = locked
        self.tree_model.set_locked(locked)
        if locked and reason:
            self.statusBar().showMessage(reason)
        elif not locked:
            self.statusBar().clearMessage()
        self._update_actions()

    # ======================================================================================= search
    def _schedule_search(self) -> None:
        self._search_timer.start()

    def _focus_search(self) -> None:
        self.search_box.setFocus()
        self.search_box.selectAll()

    def search(self, text: str) -> None:
        """Filter the tree (runs at once; typing runs it after a short pause)."""
        self.search_box.setText(text)
        self._search_timer.stop()
        self._run_search()

    def _run_search(self) -> None:
        self._search_timer.stop()
        text = self.search_box.text().strip()
        self.search_box.setStyleSheet("")
        self.search_box.setToolTip("")
        if self._doc is None or not text:
            self._search_result = None
            self._use_filter(None)
            self.match_label.setText("")
            self._update_actions()
            return
        try:
            result = actions.search(self._doc.tree, text)
        except FreezeguiError as exc:
            self.search_box.setStyleSheet("QLineEdit { border: 1px solid #c0392b; }")
            self.search_box.setToolTip(str(exc))
            self.match_label.setText("bad pattern")
            self._search_result = None
            self._update_actions()
            return
        self._search_result = result
        self._use_filter(result)
        self.match_label.setText(f"{result.count:,} match{'es' if result.count != 1 else ''}")
        if result.count and int(result.visible.sum()) <= 2000:
            self.tree_view.expandAll()
        self._update_actions()

    def _act_on_matches(self, trainable: bool) -> None:
        result = self._search_result
        if result is None or not result.count:
            return
        verb = "Train" if trainable else "Freeze"
        self._edit(
            lambda d: actions.apply_mask(
                d.selection, result.mask(d.tree), trainable, label=f"{verb} matches of {result.query!r}"
            )
        )

    def train_matches(self) -> None:
        self._act_on_matches(True)

    def freeze_matches(self) -> None:
        self._act_on_matches(False)

    def _use_filter(self, result: actions.SearchResult | None) -> None:
        """Show the filter proxy only while a search is active: without one the view talks to the
        adapter directly, so opening and expanding 10^5 rows pays no per-row filter call."""
        current = self.source_index(self.tree_view.currentIndex())
        current_item = current.internalPointer() if current.isValid() else None
        if result is not None:
            if self.proxy.sourceModel() is not self.tree_model:
                self.proxy.setSourceModel(self.tree_model)
            self.proxy.set_search(result)
        wanted = self.proxy if result is not None else self.tree_model
        if self.tree_view.model() is not wanted:
            self.tree_view.setModel(wanted)
            self.tree_view.selectionModel().currentChanged.connect(self._on_current_changed)
            if self._doc is not None:
                self.tree_view.expand(self.view_index(self._doc.tree.root))
                if current_item is not None and result is None:
                    index = self.view_index(current_item)
                    self.tree_view.scrollTo(index)
                    self.tree_view.setCurrentIndex(index)
        if result is None and self.proxy.sourceModel() is not None:
            self.proxy.setSourceModel(None)  # first: then forgetting the search re-filters nothing
            self.proxy.set_search(None)

    def source_index(self, index: QModelIndex) -> QModelIndex:
        """An index of the view's model, as an index of the adapter."""
        if index.isValid() and index.model() is self.proxy:
            return self.proxy.mapToSource(index)
        return index

    def view_index(self, item: ModuleNode | ParamEntry) -> QModelIndex:
        """The view's index of a core node (expanding nothing)."""
        source = self.tree_model.index_of(item)
        return self.proxy.mapFromSource(source) if self.tree_view.model() is self.proxy else source

    # ===================================================================================== reactions
    def _on_selection_changed(self, *_: Any) -> None:
        assert self._doc is not None
        self.totals.update_from(self._doc.selection)
        self.details.refresh()

    def _on_history_changed(self) -> None:
        self._update_title()
        self._update_actions()

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        source = self.source_index(current)
        self.details.show_item(self._doc, source.internalPointer() if source.isValid() else None)

    def _update_title(self) -> None:
        if self._doc is None:
            self.setWindowTitle("freezegui")
            self.setWindowModified(False)
            return
        rules = f" — {self._doc.rules_path.name}" if self._doc.rules_path else ""
        self.setWindowTitle(f"{self._doc.display_name}{rules}[*] — freezegui")
        self.setWindowModified(self._doc.selection.is_modified)

    def _update_actions(self) -> None:
        has_doc = self._doc is not None
        editable = has_doc and not self._locked
        for action in self.edit_actions:
            action.setEnabled(editable)
        sel = self._doc.selection if self._doc else None
        self.undo_action.setEnabled(bool(editable and sel and sel.can_undo))
        self.redo_action.setEnabled(bool(editable and sel and sel.can_redo))
        self.undo_action.setToolTip(
            f"Undo {sel.undo_label} (Ctrl+Z)" if sel and sel.undo_label else "Undo (Ctrl+Z)"
        )
        self.redo_action.setToolTip(
            f"Redo {sel.redo_label} (Ctrl+Shift+Z)" if sel and sel.redo_label else "Redo (Ctrl+Shift+Z)"
        )
        self.open_rules_action.setEnabled(editable)
        self.open_model_action.setEnabled(not self._locked)
        for action in (
            self.save_action,
            self.save_as_action,
            self.export_py1_action,
            self.export_py2_action,
            self.export_names_action,
        ):
            action.setEnabled(has_doc)
        has_matches = bool(editable and self._search_result is not None and self._search_result.count)
        self.train_matches_button.setEnabled(has_matches)
        self.freeze_matches_button.setEnabled(has_matches)

    def _collapse(self) -> None:
        self.tree_view.collapseAll()
        if self._doc is not None:
            self.tree_view.expand(self.view_index(self._doc.tree.root))

    # ===================================================================================== dialogs
    def open_model_dialog(self) -> None:
        from freezegui.app.open_dialog import OpenModelDialog

        dialog = OpenModelDialog(self, recent_specs=self._recent("models"))
        if dialog.exec():
            request = dialog.request()
            self.open_model(request.spec, **request.load_kwargs())

    def open_rules_dialog(self) -> None:
        start = str(self._doc.rules_path.parent) if self._doc and self._doc.rules_path else str(Path.cwd())
        path, _ = QFileDialog.getOpenFileName(self, "Open rules", start, RULES_FILTER)
        if path:
            self.open_rules(path)

    def _ask_save_path(self, title: str, suggested: str, filters: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self, title, suggested, filters)
        return path

    def _error(self, title: str, text: str) -> None:
        QMessageBox.critical(self, title, text)

    def _warning(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)

    def _show_rule_help(self) -> None:
        QMessageBox.information(
            self,
            "Rule syntax",
            "Search and rule patterns address dotted module paths by whole segments:\n\n"
            "  fc                     fc.weight, fc.bias — never fc1 or head.fc\n"
            "  encoder.layer.1[01]    layers 10 and 11\n"
            "  encoder.layer.*.attention   * = one segment\n"
            "  **.bn*                 ** = any number of segments\n"
            "  re:layer[12]\\..*       a regular expression on the whole path\n\n"
            "In a rule file every parameter starts at `default`; the last matching rule wins.",
        )

    def _show_about(self) -> None:
        from freezegui import __version__

        QMessageBox.about(
            self,
            "About freezegui",
            f"freezegui {__version__}\nChoose which layers of a PyTorch model to freeze.",
        )

    # ================================================================================ recent files
    def _recent(self, kind: str) -> list[str]:
        value = self.settings.value(f"recent/{kind}", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember_recent(self, kind: str, item: str) -> None:
        items = [item] + [x for x in self._recent(kind) if x != item]
        self.settings.setValue(f"recent/{kind}", items[:MAX_RECENT])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        models, rules = self._recent("models"), self._recent("rules")
        for spec in models:
            self.recent_menu.addAction(self._action(f"Model: {spec}", lambda s=spec: self.open_model(s)))
        if models and rules:
            self.recent_menu.addSeparator()
        for path in rules:
            self.recent_menu.addAction(self._action(f"Rules: {path}", lambda p=path: self.open_rules(p)))
        if not (models or rules):
            empty = self.recent_menu.addAction("(nothing yet)")
            empty.setEnabled(False)

    # =============================================================================== drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(
            self._drop_kind(Path(u.toLocalFile())) for u in event.mimeData().urls()
        ):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            self.open_path(Path(url.toLocalFile()))
        event.acceptProposedAction()

    @staticmethod
    def _drop_kind(path: Path) -> str | None:
        if path.suffix.lower() in RULE_SUFFIXES:
            return "rules"
        if path.suffix.lower() in CHECKPOINT_SUFFIXES or (path.is_dir() and (path / "config.json").exists()):
            return "model"
        return None

    def open_path(self, path: Path) -> None:
        """A dropped file: a rule file is applied; a checkpoint or model folder is opened."""
        kind = self._drop_kind(path)
        if kind == "rules":
            self.open_rules(path)
        elif kind == "model" and path.is_dir():
            self.open_model(f"hf:{path}")
        elif kind == "model" and path.suffix.lower() == ".safetensors":
            if self._doc is None or not self._doc.spec:
                self._error(
                    "Could not open the weights", f"{path} holds weights only: open the architecture first."
                )
                return
            self.open_model(
                self._doc.spec,
                weights=str(path),
                **{k: v for k, v in self._doc.load_kwargs.items() if k != "weights"},
            )
        elif kind == "model":
            self.open_model(str(path))

    # ============================================================================= closing, settings
    def closeEvent(self, event: QCloseEvent) -> None:
        if self._doc is not None and self._doc.selection.is_modified and not self._confirm_discard():
            event.ignore()
            return
        if self.training_panel is not None:
            self.training_panel.shutdown()
        self._save_settings()
        event.accept()

    def _confirm_discard(self) -> bool:
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            "The freeze selection has changes that are not saved in a rule file. Save them?",
            buttons.Save | buttons.Discard | buttons.Cancel,
            buttons.Save,
        )
        if answer == buttons.Save:
            return self.save_rules()
        return answer == buttons.Discard

    def _save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()

    def _restore_settings(self) -> None:
        for key, restore in (
            ("window/geometry", self.restoreGeometry),
            ("window/state", self.restoreState),
        ):
            value = self.settings.value(key)
            if isinstance(value, (QByteArray, bytes)):
                restore(value)


def select_path(window: MainWindow, path: str) -> QModelIndex:
    """Test/automation helper: make the row at a dotted module path current (expanding to it)."""
    doc = window.document
    assert doc is not None
    node = doc.tree.node(path)
    for ancestor in reversed(list(node.ancestors())):
        window.tree_view.expand(window.view_index(ancestor))
    index = window.view_index(node)
    flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
    window.tree_view.selectionModel().setCurrentIndex(index, flags)
    window.tree_view.scrollTo(index)
    return index


__all__ = ["DEFAULT_SPEC", "MainWindow", "select_path"]
