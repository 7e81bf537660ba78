"""A saved PEFT adapter's files checked before anything is read from them.

``adapter_config.json`` and ``adapter_model.safetensors`` come from the internet: every key the
import uses is checked for its type and range (``r: "abc"``, ``r: Infinity``, ``target_modules: 3``
are one clear :class:`RuleError`, not a TypeError deep in the matching), and a safetensors header is
checked field by field -- its length against the file's size, a JSON object, known dtypes, integer
shapes, offsets that agree with the shapes and lie inside the file -- so a truncated or corrupt
weights file is refused instead of passing silently. No tensor data is read.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freezegui.core.errors import RuleError

MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit
# Bits per element of every dtype the safetensors format defines.
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
    "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64,
    "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}  # fmt: skip
_BOOLS = ("use_dora", "use_rslora", "fan_in_fan_out", "inference_mode")
_STRINGS = ("base_model_name_or_path", "task_type", "revision", "peft_type")


def check_peft_config(data: Mapping[str, Any], source: str | None = None) -> None:
    """Refuse (in one line naming the key) every key of an adapter config the import uses with a
    wrong type or value; the other keys are PEFT's business and are left alone."""

    def refuse(key: str, wants: str) -> RuleError:
        return RuleError(f"`{key}` must be {wants}, got {_shown(data[key])}", source=source)

    if "r" in data and not (_int(data["r"]) and data["r"] >= 1):
        raise refuse("r", "a positive integer")
    if "lora_alpha" in data and not _real(data["lora_alpha"]):
        raise refuse("lora_alpha", "a finite number")
    dropout = data.get("lora_dropout")
    if dropout is not None and not (_real(dropout) and 0 <= dropout < 1):
        raise refuse("lora_dropout", "a number in [0, 1)")
    if "bias" in data and data["bias"] not in ("none", "all", "lora_only"):
        raise refuse("bias", "one of none, all, lora_only")
    for key in _BOOLS:
        if data.get(key) is not None and not isinstance(data[key], bool):
            raise refuse(key, "true or false")
    for key in _STRINGS:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise refuse(key, "a string")
    for key in ("target_modules", "exclude_modules", "layers_pattern"):
        if not _names(data.get(key), allow_str=True):
            raise refuse(key, "a string or a list of strings")
    if not _names(data.get("modules_to_save"), allow_str=False):
        raise refuse("modules_to_save", "a list of strings")
    layers = data.get("layers_to_transform")
    if layers is not None and not (
        (_int(layers) and layers >= 0)
        or (isinstance(layers, list) and all(_int(n) and n >= 0 for n in layers))
    ):
        raise refuse("layers_to_transform", "a layer number or a list of layer numbers")


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a safetensors header: its dtype, shape and byte range in the data section."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def read_safetensors_header(path: str | os.PathLike[str]) -> dict[str, TensorEntry]:
    """The tensors a safetensors file declares, every field checked against the format and the
    file's size; :class:`RuleError` naming the file for anything else (truncated, corrupt)."""
    source = str(path)
    try:
        with Path(path).open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            prefix = f.read(8)
            if len(prefix) < 8:
                raise RuleError(
                    "not a safetensors file (shorter than its 8-byte header length)", source=source
                )
            length = int.from_bytes(prefix, "little")
            if length > min(size - 8, MAX_HEADER_BYTES):
                raise RuleError(
                    f"corrupt safetensors header: it claims {length:,} bytes in a file of {size:,}",
                    source=source,
                )
            raw = f.read(length)
    except OSError as exc:
        raise RuleError(f"cannot read the weights: {exc.strerror or exc}", source=source) from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RuleError("corrupt safetensors header: not valid JSON", source=source) from None
    if not isinstance(header, dict):
        raise RuleError("corrupt safetensors header: not a JSON object", source=source)
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    ):
        raise RuleError("corrupt safetensors header: `__metadata__` is not a string mapping", source=source)
    data_bytes = size - 8 - length
    return {name: _entry(name, meta, data_bytes, source) for name, meta in header.items()}


def _entry(name: str, meta: Any, data_bytes: int, source: str) -> TensorEntry:
    def corrupt(what: str) -> RuleError:
        return RuleError(f"corrupt safetensors header: tensor {name!r} {what}", source=source)

    if not isinstance(meta, dict):
        raise corrupt("is not described by a mapping")
    dtype, shape, offsets = meta.get("dtype"), meta.get("shape"), meta.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise corrupt(f"has an unknown dtype {_shown(dtype)}")
    if not isinstance(shape, list) or not all(_int(n) and n >= 0 for n in shape):
        raise corrupt(f"has a shape that is not a list of sizes: {_shown(shape)}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_int(n) for n in offsets)):
        raise corrupt(f"has bad data_offsets {_shown(offsets)}")
    begin, end = offsets
    entry = TensorEntry(dtype, tuple(shape), begin, end)
    if not 0 <= begin <= end or (end - begin) * 8 != entry.numel * DTYPE_BITS[dtype]:
        raise corrupt(f"of shape {list(shape)} ({dtype}) does not fit its {end - begin:,} bytes")
    if end > data_bytes:
        raise RuleError(
            f"truncated weights: tensor {name!r} ends at byte {end:,} of a {data_bytes:,}-byte data section",
            source=source,
        )
    return entry


def _int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _real(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _names(value: object, *, allow_str: bool) -> bool:
    if value is None or (allow_str and isinstance(value, str)):
        return True
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _shown(value: object) -> str:
    text = (
        json.dumps(value)
        if isinstance(value, str | int | float | bool | type(None))
        else type(value).__name__
    )
    return text if len(text) <= 60 else text[:59] + "…"
