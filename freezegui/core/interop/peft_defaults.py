"""What PEFT fills in before it matches a ``LoraConfig``: per-model-type default targets, the head a
task type keeps out of LoRA, and ``all-linear``; and how ``print_trainable_parameters`` counts.

A config is read here the way ``get_peft_model`` prepares it on a given model, so the import and the
export check replay PEFT's matching on the same config PEFT would use. The default-target table is
PEFT 0.21.2's ``TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING`` (a test compares it with the
installed PEFT's).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from freezegui.core.errors import RuleError
from freezegui.core.rules.lora import all_linear_targets
from freezegui.core.structure.counting import format_percent
from freezegui.core.structure.tree import ModuleTree

ALL_LINEAR = "all-linear"

# PEFT's default ``target_modules`` per transformers ``model_type`` (used when the config has none).
DEFAULT_TARGETS: dict[str, list[str] | str] = {
    "t5": ["q", "v"],
    "mt5": ["q", "v"],
    "bart": ["q_proj", "v_proj"],
    "gpt2": ["c_attn"],
    "bloom": ["query_key_value"],
    "blip-2": ["q", "v", "q_proj", "v_proj"],
    "opt": ["q_proj", "v_proj"],
    "gptj": ["q_proj", "v_proj"],
    "gpt_neox": ["query_key_value"],
    "gpt_neo": ["q_proj", "v_proj"],
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "electra": ["query", "value"],
    "deberta-v2": ["query_proj", "value_proj"],
    "deberta": ["in_proj"],
    "layoutlm": ["query", "value"],
    "llama": ["q_proj", "v_proj"],
    "llama4": ["q_proj", "v_proj"],
    "chatglm": ["query_key_value"],
    "gpt_bigcode": ["c_attn"],
    "mpt": ["Wqkv"],
    "RefinedWebModel": ["query_key_value"],
    "RefinedWeb": ["query_key_value"],
    "falcon": ["query_key_value"],
    "btlm": ["c_proj", "c_attn"],
    "codegen": ["qkv_proj"],
    "mistral": ["q_proj", "v_proj"],
    "mixtral": ["q_proj", "v_proj"],
    "stablelm": ["q_proj", "v_proj"],
    "phi": ["q_proj", "v_proj", "fc1", "fc2"],
    "gemma": ["q_proj", "v_proj"],
    "gemma2": ["q_proj", "v_proj"],
    "gemma3_text": ["q_proj", "v_proj"],
    "gemma4": r".*language_model\..*\.(q_proj|v_proj)",
    "qwen2": ["q_proj", "v_proj"],
    "qwen3": ["q_proj", "v_proj"],
    "nemotron_h": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "rwkv": ["key", "value", "receptance", "output"],
    "rwkv7": ["r_proj", "k_proj", "v_proj", "o_proj", "key", "value"],
}

# Task types whose PeftModel class adds the task head to modules_to_save (trained fully, never adapted).
TASK_HEADS: dict[str, tuple[str, ...]] = {
    "SEQ_CLS": ("classifier", "score"),
    "TOKEN_CLS": ("classifier", "score"),
    "QUESTION_ANS": ("qa_outputs",),
}


def model_type(tree: ModuleTree) -> str | None:
    """The transformers ``config.model_type`` of the tree's model (None for other models)."""
    value = getattr(getattr(tree.modules[0], "config", None), "model_type", None)
    return value if isinstance(value, str) else None


@dataclass
class ResolvedConfig:
    """A config as PEFT applies it on one model, and the notes saying what PEFT filled in."""

    config: dict[str, Any]
    notes: list[str]
    task_heads: list[str]  # modules_to_save entries the task type added (not the user's)


def resolve_config(config: Mapping[str, Any], tree: ModuleTree) -> ResolvedConfig:
    """``config`` with PEFT's task-type heads added to ``modules_to_save``, its default targets when
    ``target_modules`` is missing or null, and ``all-linear`` expanded to module names."""
    cfg = dict(config)
    notes: list[str] = []
    task = str(cfg.get("task_type") or "").upper()
    heads = list(TASK_HEADS.get(task, ()))
    if heads:
        cfg["modules_to_save"] = [*(cfg.get("modules_to_save") or []), *heads]
        notes.append(
            f"task_type {task}: PEFT trains the task head ({' / '.join(heads)}) fully (modules_to_save) "
            "and never adapts it"
        )
    targets = cfg.get("target_modules")
    if targets is None and not cfg.get("target_parameters"):
        kind = model_type(tree)
        default = DEFAULT_TARGETS.get(kind) if kind else None
        if default is None:
            raise RuleError(
                "target_modules is not set and PEFT has no default targets for "
                + (f"model type {kind!r}" if kind else "a model without a transformers config")
                + ": set target_modules (PEFT itself refuses this config)"
            )
        cfg["target_modules"] = list(default) if isinstance(default, list) else default
        notes.append(f"target_modules not set: PEFT's default for model type {kind!r} is {default!r}")
    elif isinstance(targets, str) and targets.lower() == ALL_LINEAR:
        saved = [str(m) for m in cfg.get("modules_to_save") or []]
        cfg["target_modules"] = [  # PEFT never adapts a modules_to_save module (the task head included)
            n for n in all_linear_names(tree) if not any(re.match(rf"(^|.*\.){m}($|\..*)", n) for m in saved)
        ]
    return ResolvedConfig(cfg, notes, heads)


def all_linear_names(tree: ModuleTree) -> list[str]:
    """The module names PEFT's ``all-linear`` stands for on this model."""
    return [tree.paths[i] for i in np.flatnonzero(all_linear_targets(tree)).tolist()]


def saved_copy_elements(tree: ModuleTree, saved_modules: list[int]) -> int:
    """Elements of the trainable copies PEFT's ``ModulesToSaveWrapper`` adds (one per saved module)."""
    seen: set[int] = set()
    for i in saved_modules:
        seen.update(tree.param_indices(tree.nodes[i]).tolist())
    return int(tree.numel[sorted(seen)].sum()) if seen else 0


def peft_count_line(trainable: int, total: int, copies: int) -> str:
    """Both readings of a selection with ``modules_to_save``: freezegui's (each tensor once) and
    PEFT's ``print_trainable_parameters`` (which also counts the frozen original of each saved module)."""
    peft_total = total + copies
    ours = f"{trainable:,} of {total:,} train ({format_percent(trainable / total if total else 0.0)})"
    if not copies:
        return f"PEFT counts as freezegui does: {ours}"
    theirs = trainable / peft_total if peft_total else 0.0
    return (
        f"freezegui: {ours}, each tensor once; PEFT's print_trainable_parameters: trainable params: "
        f"{trainable:,} || all params: {peft_total:,} || trainable%: {100 * theirs:.4f} "
        f"(modules_to_save keeps a frozen original beside each trained copy: +{copies:,})"
    )
