"""Which reader a run's ``data`` needs, and its held-out part: the one entry the engine calls.

``data`` names synthetic data, an image folder (``train/`` + ``val/`` when it has them), a CSV / TSV /
JSON Lines file (``val.jsonl`` beside ``train.jsonl`` is its own split), a ``datasets`` folder from
``save_to_disk``, or a plain text file. Data without a split of its own holds out ``val_fraction`` of
its examples, chosen with the run's seed (synthetic data holds out nothing).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from freezegui.core.data.disk_dataset import is_disk_dataset, read_disk_dataset
from freezegui.core.data.images import split_folders
from freezegui.core.data.records import is_record_file, read_records, sibling_val_file
from freezegui.core.training.config import SYNTHETIC, TrainingConfig
from freezegui.core.training.data import TrainingData, image_folder_data
from freezegui.core.training.data import make_data as _builtin_data
from freezegui.core.training.evaluation import held_out_of, hold_out
from freezegui.core.training.formats import records_data


def make_data(
    model: nn.Module, config: TrainingConfig, device: torch.device, *, model_dir: str | Path | None = None
) -> TrainingData:
    """The run's batches and held-out examples for ``config.data`` (see the module docstring)."""
    source = (config.data or SYNTHETIC).strip()
    path = Path(source).expanduser()
    if source.lower() == SYNTHETIC or not path.exists():
        return _builtin_data(model, config, device, model_dir=model_dir)
    if is_disk_dataset(path):
        train, val = read_disk_dataset(path)
        data = records_data(model, path, train, val, config, device, model_dir=model_dir)
    elif path.is_dir() and (folders := split_folders(path)) is not None:
        data = _image_split(model, folders, config, device)
    elif path.is_file() and is_record_file(path):
        val_file = sibling_val_file(path)
        val = read_records(val_file) if val_file is not None else None
        data = records_data(model, path, read_records(path), val, config, device, model_dir=model_dir)
    else:
        data = _builtin_data(model, config, device, model_dir=model_dir)
    return data if data.val is not None else hold_out(data, config.val_fraction, config.seed)


def _image_split(
    model: nn.Module, folders: tuple[Path, Path], config: TrainingConfig, device: torch.device
) -> TrainingData:
    train_dir, val_dir = folders
    data = image_folder_data(model, train_dir, config, device)
    val = image_folder_data(model, val_dir, config, device)  # same classes (checked), head already fit
    held = held_out_of(val.get_batch, f"{val_dir.name}/ ({val.description.split(': ', 1)[-1]})")
    return dataclasses.replace(data, val=held)
