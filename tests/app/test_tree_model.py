"""The Qt adapter over the core tree: model-tester clean, tri-state checks, range-wise dataChanged."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QModelIndex, Qt

from freezegui.app.tree.model import (
    COL_NAME,
    COL_SHAPE,
    COL_TOTAL,
    COL_TRAINABLE,
    ModuleTreeModel,
    SearchFilterModel,
)
from freezegui.core.editing import presets
from freezegui.core.editing.document import Document
from tests import models

CHECK = Qt.ItemDataRole.CheckStateRole


def _model(doc: Document) -> ModuleTreeModel:
    m = ModuleTreeModel()
    m.set_document(doc)
    return m


def _index(model: ModuleTreeModel, path: str) -> QModelIndex:
    node = model.document.tree.node(path)
    chain = [node, *node.ancestors()][::-1]
    index = QModelIndex()
    for item in chain:
        index = model.index(item.row if item.parent is not None else 0, 0, index)
    return index


@pytest.mark.parametrize("factory", [models.SmallConvNet, models.TiedLM, models.MLP])
def test_model_tester_small(qtmodeltester, factory) -> None:
    qtmodeltester.check(_model(Document.from_model(factory())))


@pytest.mark.parametrize("query", ["layer4.*.bn*", "bias", "re:layer[12]", "conv", "fc.weight"])
def test_model_tester_resnet_with_filter(qtmodeltester, resnet18_10, query: str) -> None:
    doc = Document.from_model(resnet18_10)
    source = _model(doc)
    qtmodeltester.check(source)
    proxy = SearchFilterModel()
    proxy.setSourceModel(source)
    proxy.set_search(presets.search(doc.tree, query))
    qtmodeltester.check(proxy)
    # hasChildren is answered from the search result; it must agree with the filtered rows.
    pending, seen = [QModelIndex()], 0
    while pending:
        parent = pending.pop()
        rows = proxy.rowCount(parent)
        assert proxy.hasChildren(parent) == (rows > 0), proxy.data(parent)
        pending += [proxy.index(r, 0, parent) for r in range(rows)]
        seen += rows
    assert 1 < seen < len(doc.tree.nodes) + len(doc.tree.occ_param)


def test_rows_columns_and_numbers(resnet18_10) -> None:
    m = _model(Document.from_model(resnet18_10))
    root = m.index(0, 0)
    assert (m.rowCount() == 1 and m.data(root) == "resnet18") or m.data(root) == "ResNet"
    fc = _index(m, "fc")
    assert m.data(fc.siblingAtColumn(COL_TOTAL)) == "5.13 K"
    assert (
        m.data(fc.siblingAtColumn(COL_TOTAL), Qt.ItemDataRole.ToolTipRole)
        == "5,130 trainable of 5,130 parameters"
    )
    weight = m.index(0, COL_SHAPE, fc)
    assert m.data(weight) == "10×512 · float32"
    assert m.headerData(COL_NAME, Qt.Orientation.Horizontal).endswith("= Train)")


def test_tristate_and_subtree_toggle(resnet18_10) -> None:
    m = _model(Document.from_model(resnet18_10))
    root = m.index(0, 0)
    assert m.setData(root, Qt.CheckState.Unchecked, CHECK)
    fc = _index(m, "fc")
    m.setData(fc, Qt.CheckState.Checked.value, CHECK)  # ints are accepted too
    assert m.data(root, CHECK) == Qt.CheckState.PartiallyChecked
    assert m.data(fc, CHECK) == Qt.CheckState.Checked
    assert m.data(m.index(0, 0, fc), CHECK) == Qt.CheckState.Checked
    assert m.data(fc.siblingAtColumn(COL_TRAINABLE)) == "5.13 K"
    assert m.document.selection.counts().trainable == 5_130
    relu = _index(m, "relu")
    assert m.data(relu, CHECK) is None  # no parameters: no checkbox
    assert not (m.flags(relu) & Qt.ItemFlag.ItemIsUserCheckable)


def test_tied_parameter_rows_toggle_together() -> None:
    doc = Document.from_model(models.TiedLM())
    m = _model(doc)
    head_w = m.index(0, 0, _index(m, "head"))
    embed_w = m.index(0, 0, _index(m, "embed"))
    assert m.data(head_w.siblingAtColumn(1)) == "Parameter (tied)"
    assert "Tied with: embed.weight" in m.data(head_w, Qt.ItemDataRole.ToolTipRole)
    m.setData(head_w, Qt.CheckState.Unchecked, CHECK)
    assert m.data(embed_w, CHECK) == Qt.CheckState.Unchecked
    assert doc.selection.counts().frozen == 50 * 8


def test_locked_model_is_read_only(resnet18_10) -> None:
    m = _model(Document.from_model(resnet18_10))
    m.set_locked(True)
    root = m.index(0, 0)
    assert not (m.flags(root) & Qt.ItemFlag.ItemIsUserCheckable)
    assert not m.setData(root, Qt.CheckState.Unchecked, CHECK)
    assert m.document.selection.counts().frozen == 0


def _fetch_all(m: ModuleTreeModel) -> int:
    """Fetch every row, as a fully expanded view would; returns the row count."""
    stack, rows = [m.index(0, 0)], 0
    while stack:
        parent = stack.pop()
        for r in range(m.rowCount(parent)):
            rows += 1
            stack.append(m.index(r, 0, parent))
    return rows


def test_data_changed_is_one_range_per_fetched_parent(resnet18_10) -> None:
    doc = Document.from_model(resnet18_10)
    m = _model(doc)
    rows = _fetch_all(m)
    signals = []
    m.dataChanged.connect(lambda a, b, roles: signals.append((a, b, roles)))
    m.setData(m.index(0, 0), Qt.CheckState.Unchecked, CHECK)
    parents = sum(1 for n in doc.tree.nodes if n.child_count())
    assert len(signals) == parents + 1  # the root's own row, then one range per parent
    assert rows > 2 * len(signals)
    assert all(a.parent() == b.parent() and a.row() <= b.row() for a, b, _ in signals)
    assert all(Qt.ItemDataRole.CheckStateRole in roles for _, _, roles in signals)
    # Every fetched row is inside some signalled range.
    covered = {(a.parent().internalPointer(), r) for a, b, _ in signals for r in range(a.row(), b.row() + 1)}
    assert {(n, e.row) for n in doc.tree.nodes for e in n.params} <= {(p, r) for p, r in covered}


def test_huge_changes_send_one_coarse_range(qtbot) -> None:
    from freezegui.app.tree.model import RANGE_SIGNAL_LIMIT

    doc = Document.from_model(models.wide_model(3_000))
    m = _model(doc)
    _fetch_all(m)
    assert int(doc.tree.fetched.sum()) > RANGE_SIGNAL_LIMIT
    signals = []
    m.dataChanged.connect(lambda a, b, roles: signals.append((a, b)))
    m.setData(m.index(0, 0), Qt.CheckState.Unchecked, CHECK)
    assert len(signals) == 2  # the root's row, and the rows under it from the Type column on
    (_, _), (first, last) = signals
    assert first.column() == 1 and last.row() == m.rowCount(m.index(0, 0)) - 1
    assert doc.selection.counts().trainable == 0


def test_long_ranges_start_after_the_name_column() -> None:
    """A range over many rows leaves column 0 out (QTreeView would re-check every row for children)."""
    from freezegui.app.tree.model import COL_TYPE, COLUMN0_ROW_LIMIT

    doc = Document.from_model(models.wide_model(5 * (COLUMN0_ROW_LIMIT + 10), width=2))  # 5 modules a block
    m = _model(doc)
    root = m.index(0, 0)
    assert m.rowCount(root) > COLUMN0_ROW_LIMIT
    m.index(0, 0, root)  # the root's rows are fetched, nothing below them
    signals = []
    m.dataChanged.connect(lambda a, b, roles: signals.append((a, b)))
    m.setData(root, Qt.CheckState.Unchecked, CHECK)
    (row_left, row_right), (first, last) = signals
    assert (row_left.column(), row_right.internalPointer()) == (0, doc.tree.root)  # the root's own row
    assert first.column() == COL_TYPE and (first.row(), last.row()) == (0, m.rowCount(root) - 1)
    # Short ranges still include the check box column.
    block = m.index(0, 0, root)
    m.index(0, 0, block)
    signals.clear()
    m.setData(block, Qt.CheckState.Checked, CHECK)
    assert [a.column() for a, _ in signals[-1:]] == [0]


def _shown_rows(m: ModuleTreeModel) -> dict[tuple[object, int], tuple[object, object]]:
    """(parent node, row) -> (check state, trainable text) for every row the model has made."""
    doc = m.document
    rows = {(None, 0): (m.data(m.index(0, 0), CHECK), m.data(m.index(0, COL_TRAINABLE)))}
    for node in doc.tree.nodes:
        if not doc.tree.fetched[node.index]:
            continue
        parent = m.index_of(node)
        for r in range(m.rowCount(parent)):
            rows[(node, r)] = (
                m.data(m.index(r, 0, parent), CHECK),
                m.data(m.index(r, COL_TRAINABLE, parent)),
            )
    return rows


@pytest.mark.parametrize("factory", [models.TiedLM, models.SmallConvNet])
def test_signals_cover_every_row_that_changed(factory) -> None:
    """Views repaint only what dataChanged covers (or everything on wide_change): no edit may leave
    a changed row outside every signalled range, tied names and undo/redo included."""
    doc = Document.from_model(factory())
    m = _model(doc)
    _fetch_all(m)
    tree = doc.tree
    ranges: list[tuple[object, int, int]] = []
    wide = []
    m.dataChanged.connect(
        lambda a, b, roles: ranges.append(
            (a.parent().internalPointer() if a.parent().isValid() else None, a.row(), b.row())
        )
    )
    m.wide_change.connect(lambda: wide.append(True))
    edits = [(lambda n=n: m.setData(m.index_of(n), Qt.CheckState.Unchecked, CHECK)) for n in tree.nodes[1:]]
    edits += [
        lambda: doc.selection.undo(),
        lambda: doc.selection.redo(),
        lambda: doc.selection.invert(),
        lambda: m.setData(m.index(0, 0), Qt.CheckState.Checked, CHECK),
    ]
    edits += [
        (lambda e=e: m.setData(m.index_of(e), Qt.CheckState.Unchecked, CHECK))
        for n in tree.nodes
        for e in n.params
    ]
    checked = 0
    for edit in edits:
        before = _shown_rows(m)
        ranges.clear()
        wide.clear()
        edit()
        after = _shown_rows(m)
        changed = {key for key in after if after[key] != before[key]}
        covered = {(p, r) for p, lo, hi in ranges for r in range(lo, hi + 1)}
        assert wide or changed <= covered, changed - covered
        checked += len(changed)
    assert checked > 0
    if factory is models.TiedLM:
        assert tree.ties  # the tied rows were exercised
