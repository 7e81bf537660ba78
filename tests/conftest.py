"""Test setup: Qt runs headless; shared fixtures for small synthetic models."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest

from tests import models


@pytest.fixture
def mlp():
    return models.MLP()


@pytest.fixture
def tied():
    return models.TiedLM()


@pytest.fixture
def convnet():
    return models.SmallConvNet()


@pytest.fixture
def resnet18_10():
    import freezegui

    return freezegui.load_model("torchvision:resnet18", num_classes=10)


@pytest.fixture(scope="session")
def bert_base_meta():
    """BERT-base (BertConfig() defaults) on the meta device: real shapes, no memory."""
    import torch
    from transformers import BertConfig, BertModel

    with torch.device("meta"):
        return BertModel(BertConfig())
