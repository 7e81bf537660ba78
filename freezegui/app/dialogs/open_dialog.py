"""The "Open model" dialog: builds a model spec and load options, but never loads anything itself.

Loading can take seconds (or fail), so the main window does it in a worker from the
:class:`~freezegui.core.models.options.LoadOptions` this dialog returns. The dialog only checks the spec's
*syntax* live with :func:`~freezegui.core.models.loading.parse_spec` (and that picked files exist), so the user sees a bad spec
before pressing OK, not after a failed load.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from freezegui.app.dialogs.source_tabs import Incomplete, SourceTabs
from freezegui.app.dialogs.timm_tab import TimmTab
from freezegui.core.errors import FreezeguiError, SpecError
from freezegui.core.models.options import LoadOptions

TAB_TORCHVISION, TAB_HF, TAB_PYTHON, TAB_CHECKPOINT, TAB_RECENT, TAB_TIMM = range(6)
_HINT_OK = "color: palette(window-text);"
_HINT_INCOMPLETE = "color: palette(placeholder-text);"
_HINT_ERROR = "color: #c62828;"


class OpenModelDialog(SourceTabs, TimmTab, QDialog):
    """Pick a model from torchvision, Hugging Face, a Python factory, a file, the recent list or timm."""

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
        self.tabs.addTab(self._build_timm_tab(), "timm")
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
            self.modelArgsEdit.textChanged,
        ):
            signal.connect(self._update)
        self.searchEdit.setFocus()
        self._ready = True
        self._update()

    def _build_options(self) -> QFormLayout:
        """Options shared by every source: a new head, structure only, factory arguments."""
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
        self.modelArgsEdit = QLineEdit()
        self.modelArgsEdit.setObjectName("modelArgs")
        self.modelArgsEdit.setPlaceholderText(
            "factory arguments: key=value … (e.g. drop_rate=0.1 img_size=160)"
        )
        self.modelArgsEdit.setToolTip(
            "Keyword arguments for the model constructor or factory; values are YAML"
        )
        self.modelArgsEdit.setMinimumWidth(360)
        options.addRow("Arguments:", self.modelArgsEdit)
        return options

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

    def _build_request(self) -> LoadOptions:
        """The options the current input describes; raises Incomplete or FreezeguiError."""
        from freezegui.core.models.loading import parse_spec

        source = (
            self._torchvision_source,
            self._hf_source,
            self._python_source,
            self._checkpoint_source,
            self._recent_source,
            self._timm_source,
        )[self.tabs.currentIndex()]
        options = source()
        parse_spec(options.spec)
        structure_only = self.structureOnlyCheck.isChecked()
        if structure_only and (options.weights is not None or options.pretrained):
            raise SpecError("Structure only builds an empty model; it cannot also load weights. Untick one.")
        return options.replace(
            kwargs=self._factory_kwargs(),
            num_classes=self.numClassesSpin.value() if self.replaceHeadCheck.isChecked() else None,
            structure_only=structure_only,
        )

    def _factory_kwargs(self) -> dict[str, Any]:
        """The Arguments field: ``key=value`` words (shell quoting), values read as YAML."""
        from freezegui.core.models.args import parse_model_args

        try:
            return parse_model_args(shlex.split(self.modelArgsEdit.text()))
        except ValueError as exc:  # an unclosed quote
            raise SpecError(f"Arguments: {exc}") from None

    def _update(self, *_: object) -> None:
        if not self._ready:
            return
        try:
            request = self._build_request()
        except Incomplete as exc:
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
        except Incomplete as exc:
            raise SpecError(str(exc)) from None

    def _accept_if_valid(self, *_: object) -> None:
        if self.is_complete():
            self.accept()

    def accept(self) -> None:
        if self.is_complete():
            super().accept()


__all__ = ["OpenModelDialog"]
