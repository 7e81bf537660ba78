"""The Open Model dialog's source tabs: torchvision, Hugging Face, Python factory, checkpoint file, recent.

Each tab builds its page and reads the :class:`~freezegui.core.models.options.LoadOptions` its input
describes (raising :class:`Incomplete` while input is missing); the dialog adds the shared options.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSortFilterProxyModel, QStringListModel, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpacerItem,
    QVBoxLayout,
    QWidget,
)

from freezegui.core.errors import FreezeguiError, SpecError
from freezegui.core.models.options import LoadOptions

MODEL_FILE_FILTER = "Models (*.pt *.pth *.pt2 *.torchscript *.jit *.ckpt);;All files (*)"
WEIGHTS_FILE_FILTER = "Weights (*.pt *.pth *.bin *.safetensors *.ckpt);;All files (*)"
PYTHON_FILE_FILTER = "Python files (*.py);;All files (*)"
HINT_INCOMPLETE = "color: palette(placeholder-text);"


class Incomplete(Exception):
    """The current tab lacks input; the message is a grey hint, not an error."""


class _ListKeysToView(QObject):
    """Up/Down/PageUp/PageDown typed in the search box move the selection in the list below it."""

    _KEYS = (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown)

    def __init__(self, view: QListView) -> None:
        super().__init__(view)
        self._view = view

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in self._KEYS
        ):
            QCoreApplication.sendEvent(self._view, event)
            return True
        return False


if TYPE_CHECKING:  # the mixins are only ever mixed into the Open Model dialog, a QDialog
    from PySide6.QtWidgets import QDialog as _DialogBase
else:
    _DialogBase = object


class SourceTabs(_DialogBase):
    """Mixed into the dialog (a QDialog): the tab pages, their browse buttons, their options."""

    def _update(self, *_: object) -> None: ...
    def _accept_if_valid(self, *_: object) -> None: ...
    def _filter_torchvision(self, text: str) -> None: ...

    # ------------------------------------------------------------------------------------------ tabs
    def _build_torchvision_tab(self) -> QWidget:
        page = QWidget()
        self.searchEdit = QLineEdit()
        self.searchEdit.setObjectName("modelSearch")
        self.searchEdit.setPlaceholderText("Search torchvision models (e.g. resnet, vit, swin)")
        self.searchEdit.setClearButtonEnabled(True)
        from freezegui.core.models.loading import list_torchvision_models

        try:
            names = list_torchvision_models()
        except FreezeguiError:  # torchvision missing: the tab stays empty, other sources still work
            names = []
        self.torchvisionModel = QStringListModel(names, self)
        self.torchvisionProxy = QSortFilterProxyModel(self)
        self.torchvisionProxy.setSourceModel(self.torchvisionModel)
        self.torchvisionProxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.modelList = QListView()
        self.modelList.setObjectName("modelList")
        self.modelList.setModel(self.torchvisionProxy)
        self.modelList.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.modelList.setUniformItemSizes(True)
        self.modelList.doubleClicked.connect(self._accept_if_valid)
        self.modelList.selectionModel().currentChanged.connect(self._update)
        self.searchEdit.textChanged.connect(self._filter_torchvision)
        self.searchEdit.installEventFilter(_ListKeysToView(self.modelList))
        self.pretrainedCheck = QCheckBox("Pretrained weights (from the local torch cache)")
        self.pretrainedCheck.setObjectName("pretrainedCheck")
        self.pretrainedCheck.setToolTip(
            "Nothing is downloaded: the weights must already be in the torch hub cache"
        )
        self.pretrainedCheck.toggled.connect(self._update)

        layout = QVBoxLayout(page)
        layout.addWidget(self.searchEdit)
        layout.addWidget(self.modelList, 1)
        layout.addWidget(self.pretrainedCheck)
        if names:
            self.modelList.setCurrentIndex(self.torchvisionProxy.index(0, 0))
        return page

    def _build_hf_tab(self) -> QWidget:
        page = QWidget()
        self.hfEdit = QLineEdit()
        self.hfEdit.setObjectName("hfSource")
        self.hfEdit.setPlaceholderText("hub id (bert-base-uncased) or local folder")
        self.hfEdit.textChanged.connect(self._update)
        browse = _browse_button("Folder…", "hfBrowse")
        browse.clicked.connect(self._browse_hf)
        row = QHBoxLayout()
        row.addWidget(self.hfEdit, 1)
        row.addWidget(browse)
        self.hfConfigOnlyCheck = QCheckBox("Config only (random init): read config.json, no weights")
        self.hfConfigOnlyCheck.setObjectName("hfConfigOnly")
        self.hfConfigOnlyCheck.toggled.connect(self._update)
        note = _note(
            "Hub ids are read from the local Hugging Face cache; nothing is downloaded. "
            "“Config only” needs a local folder with a config.json (or the config file itself)."
        )
        form = QFormLayout(page)
        form.addRow("Model:", row)
        form.addRow("", self.hfConfigOnlyCheck)
        form.addRow(note)
        return page

    def _build_python_tab(self) -> QWidget:
        page = QWidget()
        self.pyModuleRadio = QRadioButton("Factory in an importable module")
        self.pyModuleRadio.setObjectName("pyModuleRadio")
        self.pyFileRadio = QRadioButton("Function in a .py file")
        self.pyFileRadio.setObjectName("pyFileRadio")
        group = QButtonGroup(page)
        group.addButton(self.pyModuleRadio)
        group.addButton(self.pyFileRadio)
        self.pyModuleRadio.setChecked(True)
        group.buttonToggled.connect(self._update)

        self.pyModuleEdit = QLineEdit()
        self.pyModuleEdit.setObjectName("pyModuleSpec")
        self.pyModuleEdit.setPlaceholderText("py:package.module:factory")
        self.pyFileEdit = QLineEdit()
        self.pyFileEdit.setObjectName("pyFilePath")
        self.pyFileEdit.setPlaceholderText("path/to/models.py")
        browse = _browse_button("File…", "pyFileBrowse")
        browse.clicked.connect(self._browse_py_file)
        self.pyFunctionEdit = QLineEdit()
        self.pyFunctionEdit.setObjectName("pyFunction")
        self.pyFunctionEdit.setPlaceholderText("build_model")
        # Typing into a field picks its source, so the radio buttons never disagree with the input.
        self.pyModuleEdit.textEdited.connect(lambda: self.pyModuleRadio.setChecked(True))
        self.pyFileEdit.textEdited.connect(lambda: self.pyFileRadio.setChecked(True))
        self.pyFunctionEdit.textEdited.connect(lambda: self.pyFileRadio.setChecked(True))
        for edit in (self.pyModuleEdit, self.pyFileEdit, self.pyFunctionEdit):
            edit.textChanged.connect(self._update)

        file_row = QHBoxLayout()
        file_row.addWidget(self.pyFileEdit, 1)
        file_row.addWidget(browse)
        form = QFormLayout(page)
        form.addRow(self.pyModuleRadio)
        form.addRow("Factory:", self.pyModuleEdit)
        form.addItem(_spacer())
        form.addRow(self.pyFileRadio)
        form.addRow("File:", file_row)
        form.addRow("Function:", self.pyFunctionEdit)
        form.addRow(_note("The function is called with no arguments and must return a torch.nn.Module."))
        return page

    def _build_checkpoint_tab(self) -> QWidget:
        page = QWidget()
        self.wholeModelRadio = QRadioButton("Whole model file (TorchScript archive or pickled nn.Module)")
        self.wholeModelRadio.setObjectName("wholeModelRadio")
        self.archWeightsRadio = QRadioButton("Architecture + weights file (state dict)")
        self.archWeightsRadio.setObjectName("archWeightsRadio")
        group = QButtonGroup(page)
        group.addButton(self.wholeModelRadio)
        group.addButton(self.archWeightsRadio)
        self.wholeModelRadio.setChecked(True)
        group.buttonToggled.connect(self._update)

        self.modelFileEdit = QLineEdit()
        self.modelFileEdit.setObjectName("checkpointFile")
        self.modelFileEdit.setPlaceholderText("model.pt")
        model_browse = _browse_button("File…", "checkpointBrowse")
        model_browse.clicked.connect(self._browse_model_file)
        self.archEdit = QLineEdit()
        self.archEdit.setObjectName("archSpec")
        self.archEdit.setPlaceholderText("torchvision:resnet18, hf:…, py:pkg.mod:factory")
        self.weightsEdit = QLineEdit()
        self.weightsEdit.setObjectName("weightsFile")
        self.weightsEdit.setPlaceholderText(".pt / .pth / .bin / .safetensors")
        weights_browse = _browse_button("File…", "weightsBrowse")
        weights_browse.clicked.connect(self._browse_weights)
        self.modelFileEdit.textEdited.connect(lambda: self.wholeModelRadio.setChecked(True))
        self.archEdit.textEdited.connect(lambda: self.archWeightsRadio.setChecked(True))
        self.weightsEdit.textEdited.connect(lambda: self.archWeightsRadio.setChecked(True))
        for edit in (self.modelFileEdit, self.archEdit, self.weightsEdit):
            edit.textChanged.connect(self._update)

        self.trustPickleCheck = QCheckBox("Trust pickled code")
        self.trustPickleCheck.setObjectName("trustPickle")
        self.trustPickleCheck.toggled.connect(self._update)
        warning = _note(
            "⚠ Unpickling runs code stored in the file. Tick this only for files from a source you trust; "
            "TorchScript, safetensors and plain state dicts never need it."
        )
        warning.setObjectName("trustPickleWarning")

        model_row = QHBoxLayout()
        model_row.addWidget(self.modelFileEdit, 1)
        model_row.addWidget(model_browse)
        weights_row = QHBoxLayout()
        weights_row.addWidget(self.weightsEdit, 1)
        weights_row.addWidget(weights_browse)
        form = QFormLayout(page)
        form.addRow(self.wholeModelRadio)
        form.addRow("File:", model_row)
        form.addItem(_spacer())
        form.addRow(self.archWeightsRadio)
        form.addRow("Architecture:", self.archEdit)
        form.addRow("Weights:", weights_row)
        form.addItem(_spacer())
        form.addRow(self.trustPickleCheck)
        form.addRow(warning)
        return page

    def _build_recent_tab(self, recent: list[str]) -> QWidget:
        page = QWidget()
        self.recentList = QListWidget()
        self.recentList.setObjectName("recentList")
        self.recentList.addItems(recent)
        self.recentList.itemDoubleClicked.connect(self._accept_if_valid)
        self.recentList.currentRowChanged.connect(self._update)
        layout = QVBoxLayout(page)
        layout.addWidget(self.recentList, 1)
        if recent:
            self.recentList.setCurrentRow(0)
        else:
            self.recentList.setEnabled(False)
            layout.addWidget(_note("No recently opened models yet."))
        return page

    # ---------------------------------------------------------------------------------- file dialogs
    # Small wrappers so tests (and nothing else) can replace the native dialogs.
    def ask_directory(self, title: str) -> str:
        """A folder from the user, or ``""`` when cancelled."""
        return QFileDialog.getExistingDirectory(self, title)

    def ask_open_file(self, title: str, file_filter: str) -> str:
        """An existing file from the user, or ``""`` when cancelled."""
        path, _ = QFileDialog.getOpenFileName(self, title, "", file_filter)
        return path

    def _browse_hf(self) -> None:
        if path := self.ask_directory("Hugging Face model folder"):
            self.hfEdit.setText(path)

    def _browse_py_file(self) -> None:
        if path := self.ask_open_file("Python file with a model factory", PYTHON_FILE_FILTER):
            self.pyFileEdit.setText(path)
            self.pyFileRadio.setChecked(True)
            self.pyFunctionEdit.setFocus()

    def _browse_model_file(self) -> None:
        if path := self.ask_open_file("Model file", MODEL_FILE_FILTER):
            self.modelFileEdit.setText(path)
            self.wholeModelRadio.setChecked(True)

    def _browse_weights(self) -> None:
        if path := self.ask_open_file("Weights file", WEIGHTS_FILE_FILTER):
            self.weightsEdit.setText(path)
            self.archWeightsRadio.setChecked(True)

    # ---------------------------------------------------------------------------------------- state
    def _selected_torchvision(self) -> str | None:
        index = self.modelList.currentIndex()
        return index.data() if index.isValid() else None

    def _torchvision_source(self) -> LoadOptions:
        name = self._selected_torchvision()
        if name is None:
            query = self.searchEdit.text().strip()
            raise Incomplete(f"No torchvision model matches {query!r}." if query else "Choose a model.")
        return LoadOptions(f"torchvision:{name}", pretrained=self.pretrainedCheck.isChecked())

    def _hf_source(self) -> LoadOptions:
        source = self.hfEdit.text().strip()
        if not source:
            raise Incomplete("Type a hub id or choose a model folder.")
        if self.hfConfigOnlyCheck.isChecked():
            _require_path(source, "config folder")
            return LoadOptions(f"hf-config:{source}")
        from freezegui.core.models.hub import hub_problem

        problem = hub_problem(source)  # a missing folder, or a hub id not in the local cache
        if problem:
            raise SpecError(problem)
        return LoadOptions(f"hf:{source}")

    def _python_source(self) -> LoadOptions:
        if self.pyModuleRadio.isChecked():
            text = self.pyModuleEdit.text().strip()
            if not text:
                raise Incomplete("Type py:package.module:factory.")
            return LoadOptions(text if text.startswith("py:") else f"py:{text}")
        path, func = self.pyFileEdit.text().strip(), self.pyFunctionEdit.text().strip()
        if not path:
            raise Incomplete("Choose a .py file.")
        if not func:
            raise Incomplete("Name the function that builds the model.")
        _require_path(path, "Python file")
        return LoadOptions(f"{path}:{func}")

    def _checkpoint_source(self) -> LoadOptions:
        trust_pickle = self.trustPickleCheck.isChecked()
        if self.wholeModelRadio.isChecked():
            spec = self.modelFileEdit.text().strip()
            if not spec:
                raise Incomplete("Choose a TorchScript or pickled model file.")
            _require_path(spec, "model file")
            return LoadOptions(spec, trust_pickle=trust_pickle)
        spec, weights = self.archEdit.text().strip(), self.weightsEdit.text().strip()
        if not spec:
            raise Incomplete("Give the architecture, e.g. torchvision:resnet18.")
        if not weights:
            raise Incomplete("Choose the weights file.")
        _require_path(weights, "weights file")
        return LoadOptions(spec, weights=weights, trust_pickle=trust_pickle)

    def _recent_source(self) -> LoadOptions:
        item = self.recentList.currentItem()
        if item is None:
            raise Incomplete("No recent model selected.")
        return LoadOptions(item.text())


def _browse_button(text: str, name: str) -> QPushButton:
    # Not auto-default: Enter in a text field must press Open, never a hidden tab's Browse button.
    button = QPushButton(text)
    button.setObjectName(name)
    button.setAutoDefault(False)
    return button


def _require_path(path: str, what: str) -> None:
    if not Path(path).exists():
        raise SpecError(f"No such {what}: {path}")


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(HINT_INCOMPLETE)
    return label


def _spacer() -> QSpacerItem:
    return QSpacerItem(0, 8, QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)


__all__ = ["Incomplete", "SourceTabs"]
