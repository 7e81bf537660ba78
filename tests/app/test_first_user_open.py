"""Issue 22, item 9: Open Model never offers to open a folder that does not exist, and a hub id that
is not in the local cache says so (and how to get it there), not "couldn't connect to huggingface.co"."""

from __future__ import annotations

import pytest

from freezegui.app.dialogs.open_dialog import OpenModelDialog
from freezegui.core.errors import LoadError


@pytest.fixture
def hf_dialog(qtbot):
    dlg = OpenModelDialog()
    qtbot.addWidget(dlg)
    dlg.tabs.setCurrentIndex(1)  # Hugging Face
    return dlg


def test_item9_a_missing_folder_cannot_be_opened(hf_dialog, tmp_path) -> None:
    missing = tmp_path / "no-such-model"
    hf_dialog.hfEdit.setText(str(missing))
    assert not hf_dialog.okButton.isEnabled()  # before: "Will open: hf:/…/no-such-model", Open enabled
    assert hf_dialog.hintLabel.text() == f"No such folder: {missing}"
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text('{"model_type": "bert"}')
    hf_dialog.hfEdit.setText(str(tmp_path / "model"))
    assert hf_dialog.okButton.isEnabled()


def test_item9_a_hub_id_not_in_the_cache_says_how_to_get_it(hf_dialog, monkeypatch) -> None:
    monkeypatch.setattr("freezegui.core.models.hub.is_cached", lambda repo_id: False)
    hf_dialog.hfEdit.setText("some-org/uncached-model")
    assert not hf_dialog.okButton.isEnabled()
    hint = hf_dialog.hintLabel.text()
    assert "not in the local Hugging Face cache" in hint and "hf download some-org/uncached-model" in hint
    monkeypatch.setattr("freezegui.core.models.hub.is_cached", lambda repo_id: True)
    hf_dialog.hfEdit.setText("some-org/cached-model")
    assert hf_dialog.okButton.isEnabled()


def test_item9_the_loader_says_not_cached_instead_of_a_connection_error(monkeypatch) -> None:
    import transformers

    from freezegui.core.models.loading import load_model

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", offline)
    monkeypatch.setattr("freezegui.core.models.hub.is_cached", lambda repo_id: False)
    with pytest.raises(LoadError) as info:
        load_model("hf:some-org/uncached-model")
    message = str(info.value)
    assert "not in the local Hugging Face cache" in message and "couldn't connect" not in message
    assert "hf download some-org/uncached-model" in message


def test_item9_is_cached_reads_the_real_cache(tmp_path, monkeypatch) -> None:
    from freezegui.core.models import hub

    assert hub.is_cached("freezegui-test/surely-not-downloaded-anywhere") is False
    assert hub.is_cached("not a valid id!") is None
