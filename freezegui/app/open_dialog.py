"""The "Open model" dialog: builds a model spec and load options, but never loads anything itself.

Loading can take seconds (or fail), so the main window does it in a worker from the
:class:`~freezegui.core.options.LoadOptions` this dialog returns. The dialog only checks the spec's *syntax* live with
:func:`~freezegui.core.loading.parse_spec` (and that picked files exist), so the user sees a bad spec
before pressing OK, not after a failed load.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSortFilterProxyModel, QStringListModel, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
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
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from freezegui.core.errors import FreezeguiError, SpecError
from freezegui.core.options import LoadOptions

TAB_TORCHVISION, TAB_HF, TAB_PYTHON, TAB_CHECKPOINT, TAB_RECENT = range(5)
MODEL_FILE_FILTER = "Models (*.pt *.pth *.pt2 *.torchscript *.jit *.ckpt);;All files (*)"
WEIGHTS_FILE_FILTER = "Weights (*.pt *.pth *.bin *.safetensors *.ckpt);;All files (*)"
PYTHON_FILE_FILTER = "Python files (*.py);;All files (*)"
_HINT_OK = "color: palette(window-text);"
_HINT_INCOMPLETE = "color: palette(placeholder-text);"
_HINT_ERROR = "color: #c62828;"


class _Incomplete(Exception):
    """The current tab lacks input; the message is a grey hint, not an error."""


class _ListKeysToView(QObject):
    """Up/Down/PageUp/PageDown typed in the search box move the selection in the list below it."""

    _KEYS = (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown)

    def __init__(self, view: QListView) -> None:
        super().__init__(view)
        self._view = view

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # Qt override
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in self._KEYS
        ):
            QCoreApplication.sendEvent(self._view, event)
            return True
        return False


class OpenModelDialog(QDialog):
    """Pick a model from torchvision, Hugging Face, a Python factory, a file, or the recent list."""

    def __init__(self, parent: QWidget | None = None, *, recent_specs: Sequence[str] = ()) -> None:
        super().__init__(parent)
        self._ready = False  # signals fired while the tabs are being built must not read missing widgets
        self.setObjectName("openModelDialog")
        self.setWindowTitle("Open model")
        self.setMinimumSize(600, 500)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("sourceTabs")
        self.tabs.addTab(self._build_torchvision_tab(), "torchvision")
        self.tabs.addTab(self._build_hf_tab(), "Hugging Face")
        self.tabs.addTab(self._build_python_tab(), "Python factory")
        self.tabs.addTab(self._build_checkpoint_tab(), "Checkpoint file")
        self.tabs.addTab(self._build_recent_tab(list(recent_specs)), "Recent")
        options = self._build_options()

        self.hintLabel = QLabel()
        self.hintLabel.setObjectName("specHint")
        self.hintLabel.setWordWrap(True)
        self.hintLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.okButton = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.okButton.setText("Open")
        self.okButton.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(options)
        layout.addWidget(self.hintLabel)
        layout.addWidget(self.buttons)

        for signal in (
            self.tabs.currentChanged,
            self.replaceHeadCheck.toggled,
            self.numClassesSpin.valueChanged,
            self.structureOnlyCheck.toggled,
        ):
            signal.connect(self._update)
        self.searchEdit.setFocus()
        self._ready = True
        self._update()

    def _build_options(self) -> QFormLayout:
        """Options shared by every source: a new head, structure only."""
        options = QFormLayout()
        options.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.replaceHeadCheck = QCheckBox("Replace head:")
        self.replaceHeadCheck.setObjectName("replaceHeadCheck")
        self.replaceHeadCheck.setToolTip("Swap the classification head for a fresh, trainable one")
        self.numClassesSpin = QSpinBox()
        self.numClassesSpin.setObjectName("numClassesSpin")
        self.numClassesSpin.setRange(1, 1_000_000)
        self.numClassesSpin.setValue(10)
        self.numClassesSpin.setSuffix(" classes")
        self.numClassesSpin.setEnabled(False)
        self.numClassesSpin.setMinimumWidth(130)
        self.replaceHeadCheck.toggled.connect(self.numClassesSpin.setEnabled)
        options.addRow(self.replaceHeadCheck, self.numClassesSpin)
        self.structureOnlyCheck = QCheckBox("Structure only (no weights, no memory)")
        self.structureOnlyCheck.setObjectName("structureOnlyCheck")
        self.structureOnlyCheck.setToolTip(
            "Build the model on the meta device: names, shapes, counts and rules work, nothing is allocated"
        )
        options.addRow(self.structureOnlyCheck)
        return options

    # ------------------------------------------------------------------------------------------ tabs
    def _build_torchvision_tab(self) -> QWidget:
        page = QWidget()
        self.searchEdit = QLineEdit()
        self.searchEdit.setObjectName("modelSearch")
        self.searchEdit.setPlaceholderText("Search torchvision models (e.g. resnet, vit, swin)")
        self.searchEdit.setClearButtonEnabled(True)
        from freezegui.core.loading import list_torchvision_models

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
    def _filter_torchvision(self, text: str) -> None:
        text = text.strip()
        self.torchvisionProxy.setFilterFixedString(text)
        # Keep a visible row selected so Enter opens what the user sees highlighted: the exact name
        # typed if there is one, else the row still selected, else the first match.
        visible = self.visible_torchvision_models()
        lowered = [name.lower() for name in visible]
        if text.lower() in lowered:
            self.modelList.setCurrentIndex(self.torchvisionProxy.index(lowered.index(text.lower()), 0))
        elif not self.modelList.currentIndex().isValid() and visible:
            self.modelList.setCurrentIndex(self.torchvisionProxy.index(0, 0))
        self._update()

    def visible_torchvision_models(self) -> list[str]:
        """The names the search box currently lets through, in list order."""
        proxy = self.torchvisionProxy
        return [proxy.index(row, 0).data() for row in range(proxy.rowCount())]

    def _selected_torchvision(self) -> str | None:
        index = self.modelList.currentIndex()
        return index.data() if index.isValid() else None

    def _build_request(self) -> LoadOptions:
        """The options the current input describes; raises _Incomplete or FreezeguiError."""
        from freezegui.core.loading import parse_spec

        source = (
            self._torchvision_source,
            self._hf_source,
            self._python_source,
            self._checkpoint_source,
            self._recent_source,
        )[self.tabs.currentIndex()]
        options = source()
        parse_spec(options.spec)
        structure_only = self.structureOnlyCheck.isChecked()
        if structure_only and (options.weights is not None or options.pretrained):
            raise SpecError("Structure only builds an empty model; it cannot also load weights. Untick one.")
        return options.replace(
            num_classes=self.numClassesSpin.value() if self.replaceHeadCheck.isChecked() else None,
            structure_only=structure_only,
        )

    def _torchvision_source(self) -> LoadOptions:
        name = self._selected_torchvision()
        if name is None:
            query = self.searchEdit.text().strip()
            raise _Incomplete(f"No torchvision model matches {query!r}." if query else "Choose a model.")
        return LoadOptions(f"torchvision:{name}", pretrained=self.pretrainedCheck.isChecked())

    def _hf_source(self) -> LoadOptions:
        source = self.hfEdit.text().strip()
        if not source:
            raise _Incomplete("Type a hub id or choose a model folder.")
        if self.hfConfigOnlyCheck.isChecked():
            _require_path(source, "config folder")
            return LoadOptions(f"hf-config:{source}")
        return LoadOptions(f"hf:{source}")

    def _python_source(self) -> LoadOptions:
        if self.pyModuleRadio.isChecked():
            text = self.pyModuleEdit.text().strip()
            if not text:
                raise _Incomplete("Type py:package.module:factory.")
            return LoadOptions(text if text.startswith("py:") else f"py:{text}")
        path, func = self.pyFileEdit.text().strip(), self.pyFunctionEdit.text().strip()
        if not path:
            raise _Incomplete("Choose a .py file.")
        if not func:
            raise _Incomplete("Name the function that builds the model.")
        _require_path(path, "Python file")
        return LoadOptions(f"{path}:{func}")

    def _checkpoint_source(self) -> LoadOptions:
        trust_pickle = self.trustPickleCheck.isChecked()
        if self.wholeModelRadio.isChecked():
            spec = self.modelFileEdit.text().strip()
            if not spec:
                raise _Incomplete("Choose a TorchScript or pickled model file.")
            _require_path(spec, "model file")
            return LoadOptions(spec, trust_pickle=trust_pickle)
        spec, weights = self.archEdit.text().strip(), self.weightsEdit.text().strip()
        if not spec:
            raise _Incomplete("Give the architecture, e.g. torchvision:resnet18.")
        if not weights:
            raise _Incomplete("Choose the weights file.")
        _require_path(weights, "weights file")
        return LoadOptions(spec, weights=weights, trust_pickle=trust_pickle)

    def _recent_source(self) -> LoadOptions:
        item = self.recentList.currentItem()
        if item is None:
            raise _Incomplete("No recent model selected.")
        return LoadOptions(item.text())

    def _update(self, *_: object) -> None:
        if not self._ready:
            return
        try:
            request = self._build_request()
        except _Incomplete as exc:
            self._show_hint(str(exc), _HINT_INCOMPLETE, ok=False)
        except FreezeguiError as exc:
            self._show_hint(str(exc), _HINT_ERROR, ok=False)
        else:
            self._show_hint(f"Will open: {request.describe()}", _HINT_OK, ok=True)

    def _show_hint(self, text: str, style: str, *, ok: bool) -> None:
        self.hintLabel.setText(text)
        self.hintLabel.setToolTip(text)
        self.hintLabel.setStyleSheet(style)
        self.okButton.setEnabled(ok)

    def is_complete(self) -> bool:
        """Whether the current input makes a valid request (the Open button's state)."""
        return self.okButton.isEnabled()

    def options(self) -> LoadOptions:
        """The chosen model and options; call after ``exec()`` returned Accepted."""
        try:
            return self._build_request()
        except _Incomplete as exc:
            raise SpecError(str(exc)) from None

    def _accept_if_valid(self, *_: object) -> None:
        if self.is_complete():
            self.accept()

    def accept(self) -> None:  # Enter on a disabled Open button must not close the dialog
        if self.is_complete():
            super().accept()


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
    label.setStyleSheet(_HINT_INCOMPLETE)
    return label


def _spacer() -> QSpacerItem:
    return QSpacerItem(0, 8, QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)


__all__ = ["OpenModelDialog"]
