"""The search filter over the module tree: only the rows a search result makes visible."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel

from freezegui.core.editing.presets import SearchResult
from freezegui.core.structure.tree import ModuleNode

Index = QModelIndex | QPersistentModelIndex


class SearchFilterModel(QSortFilterProxyModel):
    """Shows only the rows a search made visible: matches, everything inside them, their ancestors."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._result: SearchResult | None = None
        self._occ_hits: set[int] = set()
        self.setDynamicSortFilter(False)  # the filter depends on the search, not on the data

    def set_search(self, result: SearchResult | None) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9 replaced invalidateFilter()
            self.beginFilterChange()
        self._result = result
        self._occ_hits = set(result.occurrences) if result is not None else set()
        if hasattr(self, "endFilterChange"):
            self.endFilterChange()
        else:  # pragma: no cover - older Qt
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        result = self._result
        if result is None or not source_parent.isValid():
            return True
        parent = source_parent.internalPointer()
        item = parent.child_at(source_row)
        if isinstance(item, ModuleNode):
            return bool(result.visible[item.index])
        return bool(result.covered[item.parent.index]) or item.occurrence in self._occ_hits

    def hasChildren(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        # Answered from the search result: the default filters the row's children to find out,
        # and the view asks it of every row it lays out (thousands when a search matches widely).
        result = self._result
        if result is None or not parent.isValid():
            return super().hasChildren(parent)
        source = self.mapToSource(parent)
        node = source.internalPointer()
        if not isinstance(node, ModuleNode):
            return False
        i = node.index
        if result.covered[i]:  # everything under it is shown
            return self.sourceModel().hasChildren(source)
        return bool(result.param_owners[i] or result.visible[i + 1 : node.end].any())
