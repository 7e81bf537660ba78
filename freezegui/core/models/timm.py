"""``timm:NAME`` specs: build a timm model, with pretrained weights from the local cache only.

timm fetches weights from the Hugging Face hub (or a URL) the first time; freezegui never downloads
while it loads (an app must not hang on a network), so ``pretrained=True`` looks the file up in the
local caches and hands it to timm as a file, or fails with a message saying how to fetch it once.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from freezegui.core.errors import LoadError, MissingDependencyError, SpecError
from freezegui.core.structure.heads import find_head, remember_head

# The files timm reads from a hub repository, in the order it tries them.
_HUB_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.bin",
)


def _timm() -> Any:
    try:
        return importlib.import_module("timm")
    except ImportError as exc:
        raise MissingDependencyError(
            f"timm: specs need the `timm` package: pip install 'freezegui[timm]' ({exc})"
        ) from None


def is_timm_installed() -> bool:
    """Without importing timm (which imports torch): the app asks this before painting."""
    import importlib.util

    return importlib.util.find_spec("timm") is not None


def list_timm_models() -> list[str]:
    """Every architecture timm can build (``timm:NAME``; a ``.tag`` suffix picks pretrained weights)."""
    return sorted(_timm().list_models())


def load_timm(
    name: str,
    structure_only: bool,
    num_classes: int | None,
    pretrained: bool,
    download: bool,
    kwargs: dict[str, Any],
) -> nn.Module:
    """``timm.create_model(name, **kwargs)``; ``num_classes`` goes to timm, which builds the head."""
    timm = _timm()
    if not timm.is_model(name):
        names = timm.list_models()
        close = difflib.get_close_matches(name.lower(), names, n=5, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else " `freezegui models --timm` lists them."
        raise SpecError(f"timm has no model named {name!r}.{hint}")
    ctor = dict(kwargs)
    pretrained = bool(ctor.pop("pretrained", False)) or pretrained
    if structure_only and pretrained:
        raise SpecError("structure_only builds an empty (meta) model: it cannot also load pretrained weights")
    if num_classes is not None:
        ctor["num_classes"] = num_classes
    if pretrained and not download:
        overlay = dict(ctor.pop("pretrained_cfg_overlay", None) or {})
        overlay.update(file=str(cached_weights(name)), source="timm")
        ctor["pretrained_cfg_overlay"] = overlay
    with torch.device("meta") if structure_only else contextlib.nullcontext():
        model = timm.create_model(name, pretrained=pretrained, **ctor)
    if num_classes is not None:
        head = find_head(model)
        if head is not None:
            remember_head(model, head)
    return model  # type: ignore[no-any-return]


def cached_weights(name: str) -> Path:
    """The local file timm would load for ``name``'s pretrained weights; LoadError if none is cached."""
    timm = _timm()
    arch, tag = timm.models.split_model_name_tag(name)
    cfg = timm.models.resolve_pretrained_cfg(arch, pretrained_cfg=tag or None)
    if cfg is None or not (cfg.file or cfg.hf_hub_id or cfg.url):
        raise LoadError(f"timm has no pretrained weights for {name}; build it with pretrained=False")
    looked: list[str] = []
    if cfg.file:
        if Path(cfg.file).is_file():
            return Path(cfg.file)
        looked.append(str(cfg.file))
    if cfg.hf_hub_id:
        found = _hub_cached(cfg.hf_hub_id, cfg.hf_hub_filename, looked)
        if found is not None:
            return found
    if cfg.url:
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(cfg.url).path).name
        if cached.is_file():
            return cached
        looked.append(str(cached))
    raise LoadError(
        f"pretrained weights for timm:{name} are not in the local cache (looked for {'; '.join(looked)}). "
        f"freezegui does not download while loading: fetch them once where the internet is reachable with "
        f"`python -c \"import timm; timm.create_model('{name}', pretrained=True)\"` (and copy the Hugging Face "
        f"cache, ~/.cache/huggingface/hub, to this machine), or pass download=True from Python."
    )


def _hub_cached(hub_id: str, filename: str | None, looked: list[str]) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:  # timm without huggingface_hub reads URLs only
        return None
    repo, _, revision = hub_id.partition("@")
    files = (filename,) if filename else _HUB_FILES
    for file in files:
        hit = try_to_load_from_cache(repo, file, cache_dir=HF_HUB_CACHE, revision=revision or None)
        if isinstance(hit, str):
            return Path(hit)
    looked.append(f"the Hugging Face repo {repo} in {HF_HUB_CACHE}")
    return None
