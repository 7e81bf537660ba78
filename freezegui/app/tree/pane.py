"""The tree pane: the module tree view, the swap to the search filter proxy, ``reveal(path)``, and the
busy page shown while PyTorch and the model load (the item model is created once torch is in)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QStackedWidget, QTreeView, QVBoxLayout, QWidget

from freezegui.app.tree.view import ModuleTreeView

if TYPE_CHECKING:
    from freezegui.app.tree.model import ModuleTreeModel, SearchFilterModel
    from freezegui.core.editing.document import Document
    from freezegui.core.editing.presets import SearchResult
    from freezegui.core.structure.tree import ModuleNode, ParamEntry

COLUMN_WIDTHS = (230, 140, 80, 80, 62, 48, 140)  # name, type, parameters, trainable, LoRA, LR ×, shape
MAX_FIT_WIDTH = 420  # a fitted column never takes more than this (a very long name elides)
EXPAND_ALL_LIMIT = 2000
READ_ONLY = {  # why a click on a box changed nothing (the model's read_only)
    "stage": "The tree shows a stage of the schedule (read-only): press Back to editing to change it.",
    "run": "A training run is using the selection: it can change when the run has ended.",
    "": "",
}  # a search shows its matches expanded when this few rows are visible


class TreePane(QStackedWidget):
    """Shows a :class:`Document`'s tree; ``currentItemChanged`` carries the core node (or None)."""

    currentItemChanged = Signal(object)
    # A double-click on a row's LR × cell (its core node): the window asks for the new scale.
    lrEditRequested = Signal(object)
    readOnly = Signal(str)  # a click on a box that cannot change now: why

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("treePane")
        self.view = ModuleTreeView()
        self.view.setObjectName("moduleTree")
        self.view.setUniformRowHeights(True)  # essential for 10^5 rows
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionMode(QTreeView.SelectionMode.ExtendedSelection)
        self.view.setAccessibleName("Module tree: tick a row to train it, untick to freeze it")
        self.view.header().setStretchLastSection(True)
        self.view.doubleClicked.connect(self._on_double_clicked)
        self.view.expanded.connect(self._widen_names)
        self.view.clicked.connect(self._on_clicked)
        self._model: ModuleTreeModel | None = None
        self._proxy: SearchFilterModel | None = None
        self._doc: Document | None = None
        self.busy_page = _BusyPage()
        self.addWidget(self.view)
        self.addWidget(self.busy_page)

    # ------------------------------------------------------------------------------- models
    @property
    def model(self) -> ModuleTreeModel:
        """The item model (created on first use: its module imports torch, through the core)."""
        if self._model is None:
            from freezegui.app.tree.model import ModuleTreeModel, SearchFilterModel

            self._model = ModuleTreeModel(self)
            # Connected to the adapter only while a search is shown (see show_search): an attached
            # proxy maps every dataChanged it hears, building row mappings for each parent.
            self._proxy = SearchFilterModel(self)
            self._model.wide_change.connect(self.view.viewport().update)
            self._model.readOnly.connect(lambda: self.readOnly.emit(READ_ONLY[self.model.read_only]))
            self._set_view_model(self._model)
            for col, width in enumerate(COLUMN_WIDTHS):
                self.view.header().resizeSection(col, width)
        return self._model

    @property
    def proxy(self) -> SearchFilterModel:
        self.model  # noqa: B018 - creates both
        assert self._proxy is not None
        return self._proxy

    def _set_view_model(self, model: Any) -> None:
        self.view.setModel(model)
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)

    # ------------------------------------------------------------------------------ busy state
    def set_busy(self, text: str) -> None:
        """Show the busy page with ``text`` ("Loading PyTorch…"); an empty text shows the tree."""
        self.busy_page.label.setText(text)
        self.setCurrentWidget(self.busy_page if text else self.view)

    @property
    def is_busy(self) -> bool:
        return self.currentWidget() is self.busy_page

    # -------------------------------------------------------------------------------- document
    def set_document(self, doc: Document | None) -> None:
        self._doc = doc
        self.show_search(None)
        self.model.set_document(doc)
        if doc is not None:
            root = self.view_index(doc.tree.root)
            self.view.expand(root)
            self.view.setCurrentIndex(root)
            self.fit_columns()
        else:
            self.currentItemChanged.emit(None)

    def fit_columns(self) -> None:
        """Each column as wide as its header and the rows on screen (on load, and View ▸ Fit columns),
        so no count or name is cut while the tree has room; the last column takes what is left."""
        model, header = self.view.model(), self.view.header()
        last = model.columnCount() - 1
        for col in range(last):
            if not header.isSectionHidden(col):
                width = max(self.view.sizeHintForColumn(col), header.sectionSizeHint(col))
                header.resizeSection(col, min(width + 8, MAX_FIT_WIDTH))

    def _widen_names(self, *_: object) -> None:
        """An expanded row shows deeper, longer names: the name column grows to them (never shrinks)."""
        header = self.view.header()
        width = min(self.view.sizeHintForColumn(0) + 8, MAX_FIT_WIDTH)
        if width > header.sectionSize(0):
            header.resizeSection(0, width)

    def set_locked(self, locked: bool) -> None:
        self.model.set_locked(locked)

    def show_search(self, result: SearchResult | None) -> None:
        """Show the filter proxy only while a search is active: without one the view talks to the
        adapter directly, so opening and expanding 10^5 rows pays no per-row filter call."""
        model, proxy = self.model, self.proxy
        current = self.source_index(self.view.currentIndex())
        current_item = current.internalPointer() if current.isValid() else None
        if result is not None:
            if proxy.sourceModel() is not model:
                proxy.setSourceModel(model)
            proxy.set_search(result)
        wanted = proxy if result is not None else model
        if self.view.model() is not wanted:
            self._set_view_model(wanted)
            if self._doc is not None:
                self.view.expand(self.view_index(self._doc.tree.root))
                if current_item is not None and result is None:
                    index = self.view_index(current_item)
                    self.view.scrollTo(index)
                    self.view.setCurrentIndex(index)
        if result is None and proxy.sourceModel() is not None:
            proxy.setSourceModel(None)  # type: ignore[arg-type]  # Qt takes None; first: then forgetting the search re-filters nothing
            proxy.set_search(None)
        if result is not None and result.count and int(result.visible.sum()) <= EXPAND_ALL_LIMIT:
            self.view.expandAll()

    def source_index(self, index: QModelIndex) -> QModelIndex:
        """An index of the view's model, as an index of the adapter."""
        if index.isValid() and self._proxy is not None and index.model() is self._proxy:
            return self._proxy.mapToSource(index)
        return index

    def view_index(self, item: ModuleNode | ParamEntry) -> QModelIndex:
        """The view's index of a core node (expanding nothing)."""
        source = self.model.index_of(item)
        return self.proxy.mapFromSource(source) if self.view.model() is self._proxy else source

    def reveal(self, path: str) -> QModelIndex:
        """Make the module at a dotted path current, expanding its ancestors and scrolling to it."""
        assert self._doc is not None
        node = self._doc.tree.node(path)
        for ancestor in reversed(list(node.ancestors())):
            self.view.expand(self.view_index(ancestor))
        index = self.view_index(node)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.view.selectionModel().setCurrentIndex(index, flags)
        self.view.scrollTo(index)
        return index

    def collapse_to_root(self) -> None:
        self.view.collapseAll()
        if self._doc is not None:
            self.view.expand(self.view_index(self._doc.tree.root))

    def current_item(self) -> ModuleNode | ParamEntry | None:
        source = self.source_index(self.view.currentIndex())
        return source.internalPointer() if source.isValid() else None

    def _on_clicked(self, index: QModelIndex) -> None:
        from freezegui.app.tree.columns import COL_LORA

        why = self._model.read_only if self._model is not None else ""
        if why and index.column() in (0, COL_LORA):
            self.readOnly.emit(READ_ONLY[why])

    def _on_double_clicked(self, index: QModelIndex) -> None:
        from freezegui.app.tree.columns import COL_LR

        source = self.source_index(index)
        if source.isValid() and source.column() == COL_LR:
            self.lrEditRequested.emit(source.internalPointer())

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        source = self.source_index(current)
        self.currentItemChanged.emit(source.internalPointer() if source.isValid() else None)


class _BusyPage(QWidget):
    """ "Loading PyTorch…" with an indeterminate bar, where the tree will be."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("treeBusyPage")
        self.label = QLabel("")
        self.label.setObjectName("treeBusyLabel")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        bar = QProgressBar()
        bar.setRange(0, 0)
        bar.setMaximumWidth(240)
        bar.setTextVisible(False)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.label)
        layout.addWidget(bar, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)


__all__ = ["TreePane"]
