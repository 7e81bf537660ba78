"""The Open model dialog builds the right spec and load options from each source, and never loads."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from freezegui.app.dialogs.open_dialog import (
    TAB_CHECKPOINT,
    TAB_HF,
    TAB_PYTHON,
    TAB_RECENT,
    TAB_TORCHVISION,
    OpenModelDialog,
)
from freezegui.core.models.loading import list_torchvision_models, load_model
from freezegui.core.models.options import LoadOptions


@pytest.fixture
def dialog(qtbot):
    dlg = OpenModelDialog(recent_specs=["torchvision:vgg11", "py:tests.models:MLP"])
    qtbot.addWidget(dlg)
    return dlg


def select_model(dlg: OpenModelDialog, name: str) -> None:
    dlg.searchEdit.setText(name)
    assert dlg.modelList.currentIndex().data() == name


def non_defaults(options: LoadOptions) -> dict:
    """The load options that differ from LoadOptions' defaults."""
    defaults = LoadOptions().load_kwargs()
    return {k: v for k, v in options.load_kwargs().items() if defaults.get(k, object()) != v}


# ---------------------------------------------------------------------------------------- torchvision
def test_search_filters_case_insensitively(dialog):
    names = list_torchvision_models()
    assert dialog.visible_torchvision_models() == names
    dialog.searchEdit.setText("ResNet1")
    visible = dialog.visible_torchvision_models()
    assert visible == [n for n in names if "resnet1" in n.lower()]
    assert "resnet18" in visible and "resnet152" in visible and "vgg11" not in visible
    # The highlighted row is always a visible one, so Enter opens what the user sees.
    assert dialog.modelList.currentIndex().data() in visible


def test_exact_name_is_selected_and_no_match_disables_ok(dialog):
    dialog.searchEdit.setText("RESNET18")
    assert dialog.options() == LoadOptions("torchvision:resnet18")
    assert dialog.okButton.isEnabled()
    dialog.searchEdit.setText("no-such-model-xyz")
    assert dialog.visible_torchvision_models() == []
    assert not dialog.okButton.isEnabled()
    assert "no-such-model-xyz" in dialog.hintLabel.text()


def test_arrow_keys_in_search_move_the_list(dialog, qtbot):
    dialog.searchEdit.setText("resnet")
    first = dialog.modelList.currentIndex().row()
    qtbot.keyClick(dialog.searchEdit, Qt.Key.Key_Down)
    assert dialog.modelList.currentIndex().row() == first + 1
    assert dialog.searchEdit.text() == "resnet"


def test_torchvision_request_with_common_options(dialog):
    select_model(dialog, "resnet18")
    dialog.pretrainedCheck.setChecked(True)
    dialog.replaceHeadCheck.setChecked(True)
    dialog.numClassesSpin.setValue(7)
    request = dialog.options()
    assert request == LoadOptions("torchvision:resnet18", num_classes=7, pretrained=True)
    assert non_defaults(request) == {"num_classes": 7, "pretrained": True}
    assert dialog.hintLabel.text() == "Will open: torchvision:resnet18 (pretrained, 7 classes)"


def test_head_spin_only_counts_when_checked(dialog):
    select_model(dialog, "resnet18")
    assert not dialog.numClassesSpin.isEnabled()
    dialog.numClassesSpin.setValue(3)
    assert dialog.options().num_classes is None
    dialog.replaceHeadCheck.setChecked(True)
    assert dialog.numClassesSpin.isEnabled()
    assert dialog.options().num_classes == 3


def test_structure_only_goes_through_and_the_request_loads(dialog):
    select_model(dialog, "resnet18")
    dialog.replaceHeadCheck.setChecked(True)
    dialog.numClassesSpin.setValue(10)
    dialog.structureOnlyCheck.setChecked(True)
    request = dialog.options()
    assert non_defaults(request) == {"num_classes": 10, "structure_only": True}
    assert "(10 classes, structure only)" in dialog.hintLabel.text()
    model = load_model(request.spec, **request.load_kwargs())  # what the main window will do
    assert model.fc.out_features == 10 and model.fc.weight.is_meta


def test_structure_only_with_pretrained_is_refused(dialog):
    select_model(dialog, "resnet18")
    dialog.pretrainedCheck.setChecked(True)
    dialog.structureOnlyCheck.setChecked(True)
    assert not dialog.okButton.isEnabled()
    assert "cannot also load weights" in dialog.hintLabel.text()
    assert "c62828" in dialog.hintLabel.styleSheet()  # shown as an error, not a grey hint
    dialog.pretrainedCheck.setChecked(False)
    assert dialog.okButton.isEnabled()


def test_focus_enter_and_escape(dialog, qtbot):
    assert dialog.focusWidget() is dialog.searchEdit
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    dialog.searchEdit.setFocus()
    dialog.searchEdit.setText("vit_b_16")
    qtbot.keyClick(dialog.searchEdit, Qt.Key.Key_Return)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.options().spec == "torchvision:vit_b_16"

    other = OpenModelDialog()
    qtbot.addWidget(other)
    other.show()
    qtbot.waitExposed(other)
    qtbot.keyClick(other.searchEdit, Qt.Key.Key_Escape)
    assert other.result() == QDialog.DialogCode.Rejected and not other.isVisible()


def test_enter_does_nothing_while_incomplete(dialog, qtbot):
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.searchEdit.setText("zzz-nothing")
    qtbot.keyClick(dialog.searchEdit, Qt.Key.Key_Return)
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted


def test_double_click_accepts(dialog, qtbot):
    select_model(dialog, "alexnet")
    index = dialog.modelList.currentIndex()
    dialog.modelList.doubleClicked.emit(index)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.options().spec == "torchvision:alexnet"


# --------------------------------------------------------------------------------------- Hugging Face
def test_hf_hub_id_and_folder_picker(dialog, tmp_path, monkeypatch):
    dialog.tabs.setCurrentIndex(TAB_HF)
    assert not dialog.okButton.isEnabled()
    monkeypatch.setattr("freezegui.core.models.hub.is_cached", lambda repo_id: True)  # as if downloaded
    dialog.hfEdit.setText("bert-base-uncased")
    assert dialog.options() == LoadOptions("hf:bert-base-uncased")

    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    monkeypatch.setattr(dialog, "ask_directory", lambda title: str(tmp_path))
    dialog.findChild(type(dialog.okButton), "hfBrowse").click()
    assert dialog.hfEdit.text() == str(tmp_path)
    assert dialog.options().spec == f"hf:{tmp_path}"
    dialog.hfConfigOnlyCheck.setChecked(True)
    assert dialog.options().spec == f"hf-config:{tmp_path}"


def test_hf_config_only_needs_a_local_path(dialog):
    dialog.tabs.setCurrentIndex(TAB_HF)
    dialog.hfEdit.setText("org/not-a-local-folder")
    dialog.hfConfigOnlyCheck.setChecked(True)
    assert not dialog.okButton.isEnabled()
    assert "org/not-a-local-folder" in dialog.hintLabel.text()


def test_cancelled_folder_picker_keeps_the_text(dialog, monkeypatch):
    dialog.tabs.setCurrentIndex(TAB_HF)
    dialog.hfEdit.setText("gpt2")
    monkeypatch.setattr(dialog, "ask_directory", lambda title: "")
    dialog.findChild(type(dialog.okButton), "hfBrowse").click()
    assert dialog.hfEdit.text() == "gpt2"


# ------------------------------------------------------------------------------------- Python factory
def test_python_module_factory(dialog):
    dialog.tabs.setCurrentIndex(TAB_PYTHON)
    assert not dialog.okButton.isEnabled()
    dialog.pyModuleEdit.setText("tests.models:MLP")  # the py: prefix is optional
    assert dialog.options() == LoadOptions("py:tests.models:MLP")
    dialog.pyModuleEdit.setText("py:tests.models")  # no factory name: a syntax error, shown live
    assert not dialog.okButton.isEnabled()
    assert "py:package.module:factory" in dialog.hintLabel.text()


def test_python_file_factory(dialog, tmp_path, monkeypatch):
    script = tmp_path / "build.py"
    script.write_text("import torch\n\ndef make():\n    return torch.nn.Linear(2, 3)\n")
    dialog.tabs.setCurrentIndex(TAB_PYTHON)
    monkeypatch.setattr(dialog, "ask_open_file", lambda title, flt: str(script))
    dialog.findChild(type(dialog.okButton), "pyFileBrowse").click()
    assert dialog.pyFileRadio.isChecked()
    assert not dialog.okButton.isEnabled()  # function name still missing
    dialog.pyFunctionEdit.setText("not an identifier")
    assert not dialog.okButton.isEnabled()
    dialog.pyFunctionEdit.setText("make")
    request = dialog.options()
    assert request == LoadOptions(f"{script}:make")
    assert isinstance(load_model(request.spec, **request.load_kwargs()), torch.nn.Linear)


def test_python_missing_file_is_an_error(dialog, tmp_path):
    dialog.tabs.setCurrentIndex(TAB_PYTHON)
    dialog.pyFileRadio.setChecked(True)
    dialog.pyFileEdit.setText(str(tmp_path / "missing.py"))
    dialog.pyFunctionEdit.setText("make")
    assert not dialog.okButton.isEnabled()
    assert "No such Python file" in dialog.hintLabel.text()


# ------------------------------------------------------------------------------------ checkpoint file
def test_whole_model_file_with_trust_pickle(dialog, tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    dialog.tabs.setCurrentIndex(TAB_CHECKPOINT)
    assert not dialog.okButton.isEnabled()
    monkeypatch.setattr(dialog, "ask_open_file", lambda title, flt: str(path))
    dialog.findChild(type(dialog.okButton), "checkpointBrowse").click()
    assert dialog.options() == LoadOptions(str(path))
    dialog.trustPickleCheck.setChecked(True)
    request = dialog.options()
    assert non_defaults(request) == {"trust_pickle": True}
    assert isinstance(load_model(request.spec, **request.load_kwargs()), torch.nn.Linear)


def test_architecture_plus_weights(dialog, tmp_path, monkeypatch):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"")
    dialog.tabs.setCurrentIndex(TAB_CHECKPOINT)
    dialog.archWeightsRadio.setChecked(True)
    dialog.archEdit.setText("torchvision:resnet18")
    assert not dialog.okButton.isEnabled()  # weights still missing
    monkeypatch.setattr(dialog, "ask_open_file", lambda title, flt: str(weights))
    dialog.findChild(type(dialog.okButton), "weightsBrowse").click()
    request = dialog.options()
    assert request == LoadOptions("torchvision:resnet18", weights=str(weights))
    assert non_defaults(request) == {"weights": str(weights)}
    assert "+ weights w.safetensors" in dialog.hintLabel.text()
    dialog.structureOnlyCheck.setChecked(True)  # the loader refuses this pair; so does the dialog
    assert not dialog.okButton.isEnabled()


def test_bad_architecture_spec_is_shown(dialog, tmp_path):
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"")
    dialog.tabs.setCurrentIndex(TAB_CHECKPOINT)
    dialog.archWeightsRadio.setChecked(True)
    dialog.archEdit.setText("resnet18")
    dialog.weightsEdit.setText(str(weights))
    assert not dialog.okButton.isEnabled()
    assert "cannot understand model spec" in dialog.hintLabel.text()


def test_typing_picks_the_matching_radio(dialog, qtbot):
    dialog.tabs.setCurrentIndex(TAB_CHECKPOINT)
    qtbot.keyClicks(dialog.archEdit, "torchvision:resnet18")
    assert dialog.archWeightsRadio.isChecked()
    qtbot.keyClicks(dialog.modelFileEdit, "m.pt")
    assert dialog.wholeModelRadio.isChecked()


# --------------------------------------------------------------------------------------------- recent
def test_recent_list(dialog):
    dialog.tabs.setCurrentIndex(TAB_RECENT)
    assert [dialog.recentList.item(i).text() for i in range(dialog.recentList.count())] == [
        "torchvision:vgg11",
        "py:tests.models:MLP",
    ]
    assert dialog.options() == LoadOptions("torchvision:vgg11")
    dialog.recentList.setCurrentRow(1)
    dialog.structureOnlyCheck.setChecked(True)
    assert dialog.options() == LoadOptions("py:tests.models:MLP", structure_only=True)
    dialog.recentList.itemDoubleClicked.emit(dialog.recentList.item(1))
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_empty_recent_list(qtbot):
    dlg = OpenModelDialog()
    qtbot.addWidget(dlg)
    dlg.tabs.setCurrentIndex(TAB_RECENT)
    assert not dlg.okButton.isEnabled()
    dlg.tabs.setCurrentIndex(TAB_TORCHVISION)
    assert dlg.okButton.isEnabled()  # the first model is preselected


def test_screenshot(dialog, qtbot):
    dialog.resize(dialog.sizeHint())
    dialog.show()
    qtbot.waitExposed(dialog)
    select_model(dialog, "resnet18")
    dialog.replaceHeadCheck.setChecked(True)
    assert not dialog.grab().isNull()
    dialog.grab().save("/tmp/open_dialog.png")


# --------------------------------------------------------------------------------- timm and factory args
def test_timm_tab_lists_models_when_first_shown(dialog, qtbot):
    pytest.importorskip("timm")
    from freezegui.app.dialogs.open_dialog import TAB_TIMM

    assert dialog.timmModel.rowCount() == 0  # timm is imported only when the tab is shown
    dialog.tabs.setCurrentIndex(TAB_TIMM)
    assert not dialog.is_complete()  # the names arrive from a worker; until then Open is disabled
    qtbot.waitUntil(dialog.timm_names_loaded, timeout=60_000)
    assert dialog.timmModel.rowCount() > 500 and not dialog.timmStatus.isVisible()
    dialog.timmSearch.setText("convnext_atto")
    dialog.timmList.setCurrentIndex(dialog.timmProxy.index(0, 0))
    assert dialog.timmList.currentIndex().data().startswith("convnext_atto")
    dialog.modelArgsEdit.setText("drop_rate=0.1 img_size=160 name='a b'")
    request = dialog.options()
    assert request.spec.startswith("timm:convnext_atto")
    assert request.kwargs == {"drop_rate": 0.1, "img_size": 160, "name": "a b"}
    assert non_defaults(request) == dict(request.kwargs)
    assert "drop_rate=0.1" in dialog.hintLabel.text()
    dialog.grab().save("/tmp/open_timm.png")


@pytest.mark.parametrize("text", ["oops", "num_classes=3", "x='unclosed"])
def test_bad_factory_args_disable_open(dialog, text):
    dialog.modelArgsEdit.setText(text)
    assert not dialog.is_complete()
    assert any(s in dialog.hintLabel.text() for s in ("KEY=VALUE", "--num-classes", "Arguments:"))
