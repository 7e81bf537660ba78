"""The item model's cells: one multiData call per cell a plain view paints (one row_cells call per
row the module view paints), answered from a per-row cache that every change invalidates, agreeing
with data() role by role; columns come from one table."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QModelIndex, QModelRoleData, QModelRoleDataSpan, Qt
from PySide6.QtWidgets import QTreeView

from freezegui.app.tree import model as tree_model
from freezegui.app.tree.columns import COLUMNS, HEADERS
from freezegui.app.tree.model import COL_NAME, COL_TRAINABLE, COL_TYPE, ModuleTreeModel
from freezegui.app.tree.view import ModuleTreeView
from freezegui.core.editing.document import Document
from tests import models

CHECK = Qt.ItemDataRole.CheckStateRole
ROLES = [int(r) for r in Qt.ItemDataRole if int(r) < int(Qt.ItemDataRole.UserRole)]


class CountingModel(ModuleTreeModel):
    """Counts the calls a view makes (the overrides must exist before the first instance)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = {"multiData": 0, "data": 0, "row_cells": 0}

    def multiData(self, index, roleDataSpan) -> None:
        self.calls["multiData"] += 1
        super().multiData(index, roleDataSpan)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        self.calls["data"] += 1
        return super().data(index, role)

    def row_cells(self, index):
        self.calls["row_cells"] += 1
        return super().row_cells(index)


def _all_indexes(m: ModuleTreeModel) -> list[QModelIndex]:
    out, stack = [], [QModelIndex()]
    while stack:
        parent = stack.pop()
        for r in range(m.rowCount(parent)):
            out += [m.index(r, c, parent) for c in range(m.columnCount())]
            stack.append(m.index(r, 0, parent))
    return out


def _multi(m: ModuleTreeModel, index: QModelIndex, role_data: QModelRoleData) -> object:
    m.multiData(index, QModelRoleDataSpan(role_data))
    return role_data.data()


def _painted_calls(qtbot, view: QTreeView) -> tuple[int, dict[str, int]]:
    """Rows on screen, and the model calls of one repaint of the expanded tree."""
    m = CountingModel()
    m.set_document(Document.from_model(models.SmallConvNet()))
    qtbot.addWidget(view)
    view.setUniformRowHeights(True)
    view.setModel(m)
    view.resize(1800, 700)  # every column on screen (the cost columns too)
    with qtbot.waitExposed(view):
        view.show()
    view.expandAll()
    qtbot.wait(10)  # the expanded layout
    rows, index = 0, view.indexAt(view.viewport().rect().topLeft())
    while index.isValid():
        rows, index = rows + 1, view.indexBelow(index)
    m.calls.update(multiData=0, data=0, row_cells=0)
    view.viewport().repaint()
    assert rows > 10
    return rows, m.calls


def test_a_plain_view_paints_every_cell_through_one_multi_data_call(qtbot) -> None:
    rows, calls = _painted_calls(qtbot, QTreeView())
    assert calls["multiData"] >= rows * len(COLUMNS)  # Qt's delegate asks all roles of a cell at once
    assert calls["data"] < rows  # at most a size hint, never seven roles per cell


def test_the_module_view_paints_a_row_with_one_call(qtbot) -> None:
    rows, calls = _painted_calls(qtbot, ModuleTreeView())
    assert rows <= calls["row_cells"] <= rows + 2  # the row painter reads each row's cells once
    assert calls["multiData"] == 0
    assert calls["data"] < rows


def test_multi_data_answers_what_data_answers(resnet18_10) -> None:
    doc = Document.from_model(resnet18_10)
    m = tree_model.ModuleTreeModel()
    m.set_document(doc)
    doc.selection.set_subtree(doc.tree.node("layer1"), False)  # frozen (greyed) and partial rows
    indexes = _all_indexes(m)
    assert len(indexes) > 500
    for index in indexes:
        for role in ROLES:
            if role == int(Qt.ItemDataRole.ToolTipRole):
                continue  # asked one at a time, on hover
            assert _multi(m, index, QModelRoleData(role)) == m.data(index, role), (index.row(), role)
    assert _multi(m, QModelIndex(), QModelRoleData(0)) is None


def test_a_reused_span_does_not_keep_the_previous_cell(resnet18_10) -> None:
    """Qt's delegate passes the same span for every cell: a role the next cell lacks is cleared."""
    m = tree_model.ModuleTreeModel()
    m.set_document(Document.from_model(resnet18_10))
    name, kind = m.index(0, COL_NAME), m.index(0, COL_TYPE)
    check = QModelRoleData(int(CHECK))
    assert _multi(m, name, check) == Qt.CheckState.Checked
    assert _multi(m, kind, check) is None


def test_cached_cells_follow_every_change(resnet18_10) -> None:
    doc = Document.from_model(resnet18_10)
    m = tree_model.ModuleTreeModel()
    m.set_document(doc)
    fc = m.index_of(doc.tree.node("fc"))
    trainable = fc.siblingAtColumn(COL_TRAINABLE)
    assert m.data(trainable) == "5.13 K" and m.data(fc, CHECK) == Qt.CheckState.Checked
    m.setData(fc, Qt.CheckState.Unchecked, CHECK)  # through the model
    assert m.data(trainable) == "0" and m.data(fc, CHECK) == Qt.CheckState.Unchecked
    assert m.data(trainable, Qt.ItemDataRole.ForegroundRole) is not None  # greyed when frozen
    doc.selection.undo()  # outside the model: the selection's change arrives all the same
    assert m.data(trainable) == "5.13 K" and m.data(trainable, Qt.ItemDataRole.ForegroundRole) is None
    m.set_document(Document.from_model(models.MLP()))
    assert m.data(m.index(0, COL_NAME)) != "ResNet"


def test_the_row_cache_is_bounded(monkeypatch: pytest.MonkeyPatch, resnet18_10) -> None:
    monkeypatch.setattr(tree_model, "ROW_CACHE_LIMIT", 16)
    m = tree_model.ModuleTreeModel()
    m.set_document(Document.from_model(resnet18_10))
    texts = [m.data(i) for i in _all_indexes(m)]
    assert len(m._rows) <= 16
    assert [m.data(i) for i in _all_indexes(m)] == texts


def test_columns_come_from_one_table() -> None:
    m = tree_model.ModuleTreeModel()
    m.set_document(Document.from_model(models.MLP()))
    assert m.columnCount() == len(COLUMNS) == len(HEADERS)
    assert [m.headerData(c, Qt.Orientation.Horizontal) for c in range(len(COLUMNS))] == list(HEADERS)
    right = [c for c, col in enumerate(COLUMNS) if col.right_aligned]
    assert right and all(m.data(m.index(0, c), Qt.ItemDataRole.TextAlignmentRole) is not None for c in right)


def test_model_tester_after_edits_and_lock(qtmodeltester) -> None:
    doc = Document.from_model(models.TiedLM())
    m = tree_model.ModuleTreeModel()
    m.set_document(doc)
    _all_indexes(m)
    doc.selection.set_subtree(doc.tree.node("embed"), False)
    qtmodeltester.check(m)
    m.set_locked(True)
    qtmodeltester.check(m)
