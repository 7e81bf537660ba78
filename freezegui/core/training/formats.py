"""Row data for transformers models: CSV / JSON Lines / ``datasets`` rows made into a run's batches.

Chat and prompt/completion rows train a causal LM with the loss on the completion only; ``text`` /
``label`` rows train a sequence classifier (its head resized to the class list). The rows are read
and checked by :mod:`freezegui.core.data`; this module tokenizes them and builds the pools.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from freezegui.core.data import chat
from freezegui.core.data.labelled import class_names, labelled_texts
from freezegui.core.data.problems import DataError, DataProblem, at
from freezegui.core.data.records import Record
from freezegui.core.data.tasks import classify_loss as _classify_loss
from freezegui.core.data.tasks import hf_label_loss as _hf_label_loss
from freezegui.core.data.tasks import hf_task as _hf_task
from freezegui.core.data.tasks import is_transformers_model
from freezegui.core.data.tasks import vocab_size as _vocab_size
from freezegui.core.training.config import TrainingConfig
from freezegui.core.training.data import TrainingData, _fit_head, _Pool, load_tokenizer
from freezegui.core.training.evaluation import pool_held_out


def records_data(
    model: nn.Module,
    source: Path,
    train: list[Record],
    val: list[Record] | None,
    config: TrainingConfig,
    device: torch.device,
    *,
    model_dir: str | Path | None = None,
) -> TrainingData:
    """Batches from rows: chat / prompt-completion (causal LM) or text / label (sequence classification)."""
    if not is_transformers_model(model):
        why = f"row data trains transformers models with a tokenizer; {type(model).__name__} is not one"
        raise DataError(DataProblem.MISMATCH, at(source), why)
    task = _hf_task(model)
    wanted = "causal_lm" if chat.is_chat(train[0]) else "sequence_classification"
    if task != wanted:
        kind = "chat / prompt-completion rows" if wanted == "causal_lm" else "text / label rows"
        need = "*ForCausalLM" if wanted == "causal_lm" else "*ForSequenceClassification"
        why = f"{kind} train a {need} model; {type(model).__name__} is not one"
        raise DataError(DataProblem.MISMATCH, train[0].where, why)
    tok = load_tokenizer(config.tokenizer or model_dir)
    if wanted == "causal_lm":
        return _chat_data(model, source, train, val, tok, config, device)
    return _labelled_data(model, source, train, val, tok, config, device)


def _shuffled(values: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    n = next(iter(values.values())).shape[0]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return {k: v[perm] for k, v in values.items()}


def _check_vocab(model: nn.Module, ids: torch.Tensor, where: str) -> None:
    vocab = _vocab_size(getattr(model, "config", None))
    if ids.numel() and int(ids.max()) >= vocab:
        why = f"the tokenizer produces id {int(ids.max())} but the model's vocabulary is {vocab}"
        raise DataError(DataProblem.MISMATCH, where, why)


def _encoded_pool(enc: chat.Encoded, seed: int, bs: int, device: torch.device) -> _Pool:
    parts = _shuffled(
        {"input_ids": enc.input_ids, "attention_mask": enc.attention_mask, "labels": enc.labels}, seed
    )
    inputs = {k: parts[k].to(device) for k in ("input_ids", "attention_mask")}
    return _Pool(inputs, parts["labels"].to(device), bs)


def _chat_data(
    model: nn.Module,
    source: Path,
    train: list[Record],
    val: list[Record] | None,
    tok: Any,
    config: TrainingConfig,
    device: torch.device,
) -> TrainingData:
    items = chat.examples(train)
    enc = chat.encode(tok, items, config.seq_len)
    _check_vocab(model, enc.input_ids, at(source))
    cfg: Any = model.config  # a transformers PretrainedConfig (untyped here)
    if getattr(cfg, "pad_token_id", None) is None and tok.pad_token_id is not None:
        cfg.pad_token_id = tok.pad_token_id
    target = int((enc.labels != chat.IGNORE_INDEX).sum())
    form = "chat" if isinstance(items[0].prompt, list) else "prompt/completion"
    desc = (
        f"{form} rows {source.name}: {len(items)} examples, sequences of {config.seq_len}; loss on the "
        f"completion tokens only ({target:,} of {int(enc.attention_mask.sum()):,} tokens)"
    )
    data = TrainingData(
        "causal_lm", desc, _encoded_pool(enc, config.seed, config.batch_size, device), _hf_label_loss
    )
    if val is not None:
        venc = chat.encode(tok, chat.examples(val), config.seq_len)
        _check_vocab(model, venc.input_ids, val[0].where)
        data.val = pool_held_out(_encoded_pool(venc, config.seed, config.batch_size, device), _val_name(val))
    return data


def _val_name(val: Sequence[Record]) -> str:
    return f"{len(val)} examples of {val[0].where.rsplit(':', 1)[0].split(' row ')[0]}"


def _tokenize(
    tok: Any, texts: list[str], labels: list[int], config: TrainingConfig, device: torch.device
) -> _Pool:
    enc = tok(texts, padding="max_length", truncation=True, max_length=config.seq_len, return_tensors="pt")
    parts = _shuffled(
        {
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "labels": torch.tensor(labels, dtype=torch.long),
        },
        config.seed,
    )
    inputs = {k: parts[k].to(device) for k in ("input_ids", "attention_mask")}
    return _Pool(inputs, parts["labels"].to(device), config.batch_size)


def _labelled_data(
    model: nn.Module,
    source: Path,
    train: list[Record],
    val: list[Record] | None,
    tok: Any,
    config: TrainingConfig,
    device: torch.device,
) -> TrainingData:
    cols = {"text_column": config.text_column, "label_column": config.label_column}
    names = class_names(train, config.label_column, config.classes)
    rows = labelled_texts(train, names, **cols)
    held = labelled_texts(val, names, **cols) if val is not None else None  # checked before any tokenizing
    cfg: Any = model.config  # a transformers PretrainedConfig (untyped here)
    head = _fit_head(model, len(names)) if len(names) != int(cfg.num_labels) else None
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise DataError(
                DataProblem.MISMATCH, at(source), "the tokenizer has no padding token (nor an end token)"
            )
        tok.pad_token = tok.eos_token
    if getattr(cfg, "pad_token_id", None) is None:
        cfg.pad_token_id = tok.pad_token_id
    pool = _tokenize(tok, rows.texts, rows.labels, config, device)
    _check_vocab(model, pool.inputs["input_ids"], at(source))
    desc = (
        f"labelled rows {source.name}: {len(rows.texts)} texts, {len(names)} classes, length {config.seq_len}"
    )
    data = TrainingData("sequence_classification", desc, pool, _classify_loss, len(names), head)
    if held is not None and val is not None:
        data.val = pool_held_out(_tokenize(tok, held.texts, held.labels, config, device), _val_name(val))
    return data
