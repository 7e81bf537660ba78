"""Instruction data for causal LMs: ``{"messages": [...]}`` or ``{"prompt": ..., "completion": ...}``.

A chat row goes through the tokenizer's own chat template; its last message (the assistant's) is the
completion. The loss is on the completion only: every prompt and padding position gets label -100
(the ignore index of PyTorch's cross entropy and of transformers' causal-LM loss).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from freezegui.core.data.problems import DataError, DataProblem
from freezegui.core.data.records import Record, field
from freezegui.core.messages import reason

IGNORE_INDEX = -100


@dataclass(frozen=True)
class PromptCompletion:
    """One example: the prompt (or the chat before the last message) and the completion to learn."""

    where: str
    prompt: Any  # str, or the list of messages before the completion
    completion: Any  # str, or the last message


@dataclass(frozen=True)
class Encoded:
    """Token ids, attention mask and labels (-100 outside the completions), each ``(n, seq_len)``."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor


def is_chat(record: Record) -> bool:
    return "messages" in record.fields or ("prompt" in record.fields and "completion" in record.fields)


def examples(records: Sequence[Record]) -> list[PromptCompletion]:
    """Each row as prompt + completion; a row without them (or with a malformed chat) raises, naming it."""
    out = []
    for r in records:
        if "messages" not in r.fields:
            prompt, completion = field(r, "prompt"), field(r, "completion")
            if not isinstance(prompt, str) or not isinstance(completion, str):
                raise DataError(DataProblem.BAD_VALUE, r.where, "'prompt' and 'completion' must be text")
            out.append(PromptCompletion(r.where, prompt, completion))
            continue
        messages = r.fields["messages"]
        if not isinstance(messages, list) or len(messages) < 2:
            why = "'messages' must be a list of at least two {role, content} messages"
            raise DataError(DataProblem.BAD_VALUE, r.where, why)
        for m in messages:
            if not isinstance(m, dict) or not isinstance(m.get("role"), str) or "content" not in m:
                raise DataError(
                    DataProblem.BAD_VALUE, r.where, "every message needs a 'role' and a 'content'"
                )
        if messages[-1]["role"] != "assistant":
            why = f"the last message is the {messages[-1]['role']!r}'s; it must be the assistant's (the completion)"
            raise DataError(DataProblem.BAD_VALUE, r.where, why)
        out.append(PromptCompletion(r.where, messages[:-1], messages[-1]))
    return out


def _pieces(tok: Any, ex: PromptCompletion) -> tuple[list[int], list[int]]:
    """Prompt ids and completion ids of one example (their concatenation is the sequence)."""
    if isinstance(ex.prompt, str):
        prompt = list(tok(ex.prompt, verbose=False)["input_ids"])
        completion = list(tok(ex.completion, add_special_tokens=False, verbose=False)["input_ids"])
        if tok.eos_token_id is not None:
            completion.append(int(tok.eos_token_id))
        return prompt, completion
    try:
        head = tok.apply_chat_template(ex.prompt, tokenize=False, add_generation_prompt=True)
        whole = tok.apply_chat_template([*ex.prompt, ex.completion], tokenize=False)
    except Exception as exc:  # the template's own error (a role it does not know...)
        raise DataError(DataProblem.BAD_VALUE, ex.where, f"the chat template fails: {reason(exc)}") from None
    if not whole.startswith(head):
        why = "the chat template renders the conversation so that it does not begin with its prompt"
        raise DataError(DataProblem.MISMATCH, ex.where, why)
    prompt = list(tok(head, add_special_tokens=False, verbose=False)["input_ids"])
    completion = list(tok(whole[len(head) :], add_special_tokens=False, verbose=False)["input_ids"])
    return prompt, completion


def encode(tok: Any, items: Sequence[PromptCompletion], seq_len: int) -> Encoded:
    """Prompt + completion ids cut or padded to ``seq_len``; labels only where the completion is."""
    if any(not isinstance(ex.prompt, str) for ex in items) and not getattr(tok, "chat_template", None):
        raise DataError(
            DataProblem.MISMATCH,
            items[0].where,
            "chat messages need a tokenizer with a chat template; this one has none "
            "(use prompt/completion rows, or a tokenizer folder that has one)",
        )
    pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    ids = torch.full((len(items), seq_len), int(pad), dtype=torch.long)
    mask = torch.zeros((len(items), seq_len), dtype=torch.long)
    labels = torch.full((len(items), seq_len), IGNORE_INDEX, dtype=torch.long)
    for row, ex in enumerate(items):
        prompt, completion = _pieces(tok, ex)
        if len(prompt) >= seq_len or not completion:
            why = (
                f"the prompt is {len(prompt)} tokens, no room for the completion in a sequence of {seq_len} "
                "(raise the sequence length)"
                if completion
                else "the completion is empty"
            )
            raise DataError(DataProblem.TOO_LONG, ex.where, why)
        seq = (prompt + completion)[:seq_len]
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
        labels[row, len(prompt) : len(seq)] = torch.tensor(seq[len(prompt) :])
    return Encoded(ids, mask, labels)
