"""The Open Model dialog's timm tab: timm's architectures, listed off the UI thread.

Listing imports timm (and torch, if the app has not yet): seconds on a slow machine. The names are
read in a superqt worker the first time the tab is shown, so the dialog never freezes for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSortFilterProxyModel, QStringListModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QLineEdit,
    QListView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from freezegui.app.dialogs.source_tabs import Incomplete, _ListKeysToView, _note
from freezegui.core.models.options import LoadOptions

if TYPE_CHECKING:  # mixed into the Open Model dialog, a QDialog
    from PySide6.QtWidgets import QDialog as _DialogBase
else:
    _DialogBase = object


def is_timm_installed() -> bool:
    """Without importing timm or torch (freezegui.core.models.timm imports torch): the dialog asks
    this while it is built."""
    import importlib.util

    return importlib.util.find_spec("timm") is not None


class TimmTab(_DialogBase):
    """Mixed into the dialog (a QDialog with ``tabs``): the timm page and the options it describes."""

    tabs: QTabWidget

    def _update(self, *_: object) -> None: ...
    def _accept_if_valid(self, *_: object) -> None: ...

    def _build_timm_tab(self) -> QWidget:
        page = QWidget()
        self.timmSearch = QLineEdit()
        self.timmSearch.setObjectName("timmSearch")
        self.timmSearch.setPlaceholderText("Search timm models (e.g. convnext, vit_tiny, eva02)")
        self.timmSearch.setClearButtonEnabled(True)
        self.timmModel = QStringListModel([], self)
        self.timmProxy = QSortFilterProxyModel(self)
        self.timmProxy.setSourceModel(self.timmModel)
        self.timmProxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.timmList = QListView()
        self.timmList.setObjectName("timmList")
        self.timmList.setModel(self.timmProxy)
        self.timmList.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.timmList.setUniformItemSizes(True)
        self.timmList.doubleClicked.connect(self._accept_if_valid)
        self.timmList.selectionModel().currentChanged.connect(self._update)
        self.timmSearch.textChanged.connect(self._filter_timm)
        self.timmSearch.installEventFilter(_ListKeysToView(self.timmList))
        self.timmPretrainedCheck = QCheckBox("Pretrained weights (from the local Hugging Face / torch cache)")
        self.timmPretrainedCheck.setObjectName("timmPretrainedCheck")
        self.timmPretrainedCheck.toggled.connect(self._update)
        self.timmStatus = _note("Reading timm's model names…")
        self.timmStatus.setObjectName("timmStatus")
        self.timmStatus.setVisible(False)
        self._timm_worker: Any = None
        layout = QVBoxLayout(page)
        layout.addWidget(self.timmSearch)
        layout.addWidget(self.timmList, 1)
        layout.addWidget(self.timmStatus)
        layout.addWidget(self.timmPretrainedCheck)
        if not is_timm_installed():
            layout.addWidget(_note("timm is not installed: pip install 'freezegui[timm]'"))
            page.setEnabled(False)
        self._timm_page = page
        self.tabs.currentChanged.connect(self._fill_timm)
        return page

    def _fill_timm(self, *_: object) -> None:
        """Start reading the names, once, when the tab is first shown."""
        if self.tabs.currentWidget() is not self._timm_page or self._timm_worker is not None:
            return
        if not is_timm_installed():
            return
        from superqt.utils import create_worker

        from freezegui.core.models.timm import list_timm_models

        self.timmStatus.setText("Reading timm's model names…")
        self.timmStatus.setVisible(True)
        # `errored` connected: superqt does not re-raise the error in the UI thread.
        self._timm_worker = create_worker(
            list_timm_models, _connect={"returned": self._timm_names, "errored": self._timm_failed}
        )

    def _timm_names(self, names: list[str]) -> None:
        self.timmStatus.setVisible(False)
        self.timmModel.setStringList(names)
        self._filter_timm(self.timmSearch.text())

    def _timm_failed(self, exc: BaseException) -> None:
        self.timmStatus.setText(f"Could not list timm's models: {exc}")

    def timm_names_loaded(self) -> bool:
        """Whether the worker delivered the names (tests wait on this)."""
        return bool(self.timmModel.rowCount() > 0)

    def _filter_timm(self, text: str) -> None:
        self.timmProxy.setFilterFixedString(text.strip())
        if not self.timmList.currentIndex().isValid() and self.timmProxy.rowCount():
            self.timmList.setCurrentIndex(self.timmProxy.index(0, 0))
        self._update()

    def _timm_source(self) -> LoadOptions:
        index = self.timmList.currentIndex()
        if not index.isValid():
            if self._timm_worker is not None and not self.timm_names_loaded():
                raise Incomplete("Reading timm's model names…")
            raise Incomplete("Choose a timm model.")
        return LoadOptions(f"timm:{index.data()}", pretrained=self.timmPretrainedCheck.isChecked())


__all__ = ["TimmTab"]
