"""LoRA adapters as a third state of a module (frozen, trained fully, or adapted), with their sizes.

Which module types PEFT can adapt, how many parameters an adapter of rank ``r`` adds to each (the
counts PEFT's ``get_nb_trainable_parameters`` reports), and the rule file's ``lora:`` section::

    lora:
      r: 8
      lora_alpha: 16
      dropout: 0.05
      use_dora: false
      bias: none          # none | all | lora_only (which biases PEFT trains besides the adapters)
      targets:            # freezegui patterns; every adaptable module they cover gets an adapter
      - model.layers.*.self_attn.q_proj
      - model.layers.*.self_attn.v_proj

Nothing here imports PEFT: the sizes follow PEFT's layer shapes (tested against PEFT itself).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np
import yaml
from torch import nn

from freezegui.core.errors import FreezeguiError, RuleError
from freezegui.core.rules.patterns import Pattern
from freezegui.core.rules.yaml_reader import read_scalar
from freezegui.core.strenum import StrEnum
from freezegui.core.structure.counting import Counts
from freezegui.core.structure.tree import ModuleTree

LORA_KEYS = ("r", "lora_alpha", "dropout", "use_dora", "bias", "targets")
MAX_LORA_RANK = 65_536  # past any layer's width: 1e9 is a typo that would claim 10^11 parameters
MAX_LORA_ALPHA = 1e6


class LoraBias(StrEnum):
    """PEFT's ``bias`` setting: which biases train besides the adapters."""

    NONE = "none"
    ALL = "all"
    LORA_ONLY = "lora_only"


class AdapterKind(StrEnum):
    """The module types PEFT's LoRA can adapt."""

    LINEAR = "linear"
    CONV1D = "conv1d"  # torch.nn.Conv1d
    CONV2D = "conv2d"
    CONV3D = "conv3d"
    EMBEDDING = "embedding"
    HF_CONV1D = "hf_conv1d"  # transformers' Conv1D (GPT-2): a Linear with a transposed weight


class LoraConflictError(FreezeguiError):
    """A module asked to be both trained fully and adapted."""


@dataclass
class LoraSettings:
    """Adapter hyper-parameters, as PEFT's ``LoraConfig`` names them."""

    r: int = 8
    lora_alpha: float = 16
    dropout: float = 0.0
    use_dora: bool = False
    bias: LoraBias = LoraBias.NONE

    def __post_init__(self) -> None:
        # Refused where they are read (CLI, rule file, PEFT config, dialog): all of them build this.
        if not isinstance(self.r, int) or isinstance(self.r, bool) or not 1 <= self.r <= MAX_LORA_RANK:
            raise FreezeguiError(
                f"LoRA rank r must be a positive integer up to {MAX_LORA_RANK:,}, got {self.r!r}"
            )
        if not _real(self.lora_alpha) or not 0 <= self.lora_alpha <= MAX_LORA_ALPHA:
            raise FreezeguiError(
                f"lora_alpha must be a number from 0 to {MAX_LORA_ALPHA:g}, got {self.lora_alpha!r}"
            )
        if not _real(self.dropout) or not 0 <= self.dropout < 1:
            raise FreezeguiError(f"LoRA dropout must be a number in [0, 1), got {self.dropout!r}")
        if not isinstance(self.use_dora, bool):
            raise FreezeguiError(f"use_dora must be true or false, got {self.use_dora!r}")
        if self.bias not in {b.value for b in LoraBias}:
            raise FreezeguiError(f"LoRA bias must be one of none, all, lora_only; got {self.bias!r}")
        self.bias = LoraBias(self.bias)

    def as_dict(self) -> dict[str, Any]:
        alpha = int(self.lora_alpha) if float(self.lora_alpha).is_integer() else float(self.lora_alpha)
        return {
            "r": self.r,
            "lora_alpha": alpha,
            "dropout": float(self.dropout),
            "use_dora": bool(self.use_dora),
            "bias": self.bias.value,
        }


@dataclass
class LoraSpec:
    """The ``lora:`` section of a rule file: settings and the patterns of adapted modules."""

    settings: LoraSettings = field(default_factory=LoraSettings)
    targets: list[Pattern] = field(default_factory=list)

    def adapted(self, tree: ModuleTree) -> np.ndarray:
        """Per module: adaptable and covered by a target pattern."""
        return targets_mask(tree, self.targets)

    def unmatched(self, tree: ModuleTree) -> list[str]:
        """Target patterns that cover no adaptable module."""
        return [p.text for p in self.targets if not targets_mask(tree, [p]).any()]

    def to_dict(self) -> dict[str, Any]:
        return {**self.settings.as_dict(), "targets": [p.text for p in self.targets]}


def _real(x: object) -> bool:
    """A finite int or float (not a bool, a string or NaN)."""
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


# ------------------------------------------------------------------------------------- module types
def adapter_kind(module: nn.Module) -> AdapterKind | None:
    """What kind of LoRA layer PEFT would put on ``module`` (None when it cannot adapt it)."""
    return _class_kind(type(module))


def _class_kind(cls: type) -> AdapterKind | None:
    for base, kind in _KIND_OF_BASE:
        if issubclass(cls, base):
            return kind
    if cls.__name__ == "Conv1D" and cls.__module__.startswith("transformers"):
        return AdapterKind.HF_CONV1D
    return None


_KIND_OF_BASE = (
    (nn.Linear, AdapterKind.LINEAR),
    (nn.Embedding, AdapterKind.EMBEDDING),
    (nn.Conv2d, AdapterKind.CONV2D),
    (nn.Conv1d, AdapterKind.CONV1D),
    (nn.Conv3d, AdapterKind.CONV3D),
)


def adapter_numel(module: nn.Module, r: int, *, use_dora: bool = False) -> int:
    """Parameters a rank-``r`` LoRA adapter adds to ``module`` (0 for a type PEFT cannot adapt).

    Linear/Conv1D ``in -> out``: r·(in + out); Embedding: r·(num + dim); ConvNd: r·(in·k…) for A
    plus out·r/groups for B (a 1×…×1 convolution); DoRA adds a magnitude per output feature.
    """
    kind = adapter_kind(module)
    if kind is None:
        return 0
    if kind is AdapterKind.LINEAR:
        lin: Any = module
        n, out = r * (lin.in_features + lin.out_features), lin.out_features
    elif kind is AdapterKind.HF_CONV1D:
        w: Any = module.weight  # (in, out)
        n, out = r * (int(w.shape[0]) + int(w.shape[1])), int(w.shape[1])
    elif kind is AdapterKind.EMBEDDING:
        emb: Any = module
        n, out = r * (emb.num_embeddings + emb.embedding_dim), emb.embedding_dim
    else:
        conv: Any = module
        k = int(np.prod(conv.kernel_size))
        n = r * conv.in_channels * k + conv.out_channels * r // conv.groups
        out = conv.out_channels
    return int(n + (out if use_dora else 0))


_KINDS: WeakKeyDictionary[ModuleTree, np.ndarray] = WeakKeyDictionary()


def adaptable_mask(tree: ModuleTree) -> np.ndarray:
    """Per module (preorder): whether PEFT's LoRA can adapt it (computed once per tree)."""
    mask = _KINDS.get(tree)
    if mask is None:  # by class, in C-level loops: a 10^5-module tree has a handful of classes
        classes = list(map(type, tree.modules))
        able = {cls: _class_kind(cls) is not None for cls in set(classes)}
        mask = np.fromiter(map(able.__getitem__, classes), dtype=bool, count=len(classes))
        _KINDS[tree] = mask
    return mask


def adapter_sizes(tree: ModuleTree, settings: LoraSettings) -> np.ndarray:
    """Per module: the adapter's parameter count under ``settings`` (0 where not adaptable)."""
    able = adaptable_mask(tree)
    sizes = np.zeros(len(tree.modules), dtype=np.int64)
    for i in np.flatnonzero(able).tolist():
        sizes[i] = adapter_numel(tree.modules[i], settings.r, use_dora=settings.use_dora)
    return sizes


def bias_mask(tree: ModuleTree, adapted: np.ndarray, bias: LoraBias) -> np.ndarray:
    """Unique parameters PEFT's ``bias`` setting trains: ``all`` every parameter whose name holds
    "bias" (PEFT's own substring test), ``lora_only`` the ``bias`` of adapted modules."""
    mask = np.zeros(len(tree.params), dtype=bool)
    if bias is LoraBias.ALL:
        for o, path in enumerate(tree.occurrence_paths):
            if "bias" in path:
                mask[tree.occ_param[o]] = True
    elif bias is LoraBias.LORA_ONLY:
        for i in np.flatnonzero(adapted).tolist():
            lo, hi = int(tree.occ_start[i]), int(tree.occ_start[i + 1])
            for o in range(lo, hi):
                if tree.occ_name[o] == "bias":
                    mask[tree.occ_param[o]] = True
    return mask


def counts_with_adapters(
    tree: ModuleTree, trainable: np.ndarray, adapted: np.ndarray, settings: LoraSettings
) -> Counts:
    """The one LoRA count (``apply_rules``' report, ``summary``, the planner): the trained tensors,
    the biases PEFT's ``bias`` setting trains besides and the adapters' own parameters, as PEFT's
    ``get_nb_trainable_parameters`` reports them."""
    lora = int(adapter_sizes(tree, settings)[adapted].sum())
    effective = np.asarray(trainable, dtype=bool) | bias_mask(tree, adapted, settings.bias)
    return Counts(
        trainable=int(tree.numel[effective].sum()) + lora, total=tree.total_params + lora, lora=lora
    )


def subtree_module_sums(tree: ModuleTree, values: np.ndarray) -> np.ndarray:
    """Per module: the sum of a per-module quantity over its subtree (preorder ranges)."""
    cs = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(values, out=cs[1:])
    sums: np.ndarray = cs[tree.node_end] - cs[:-1]
    return sums


def all_linear_targets(tree: ModuleTree) -> np.ndarray:
    """PEFT's ``all-linear``: every Linear and transformers Conv1D except the output embedding."""
    kinds = (AdapterKind.LINEAR, AdapterKind.HF_CONV1D)
    mask = np.fromiter((adapter_kind(m) in kinds for m in tree.modules), dtype=bool, count=len(tree.modules))
    mask[0] = False
    root = tree.modules[0]
    getter = getattr(root, "get_output_embeddings", None)
    if callable(getter) and type(root).__module__.startswith("transformers"):
        head = getter()
        for i, m in enumerate(tree.modules):
            if m is head:
                mask[i] = False
                break
    return mask


# ------------------------------------------------------------------------------------- patterns
def targets_mask(tree: ModuleTree, targets: list[Pattern]) -> np.ndarray:
    """Adaptable modules covered by any of ``targets`` (a pattern naming a module covers its subtree)."""
    able = adaptable_mask(tree)
    paths = tree.paths
    out = np.zeros(len(paths), dtype=bool)
    for i in np.flatnonzero(able).tolist():
        if i and any(p.matches(paths[i]) for p in targets):
            out[i] = True
    return out


_INDEX = re.compile(r"(?<=\.)\d+(?=\.|$)|^\d+(?=\.|$)")


def targets_from_adapted(tree: ModuleTree, adapted: np.ndarray) -> list[str]:
    """Short patterns covering exactly the adapted modules: a module's path with its block indices
    as ``*`` when that covers no adaptable module left out, else its literal path."""
    adapted = np.asarray(adapted, dtype=bool)
    able = adaptable_mask(tree)
    paths = tree.paths
    out: list[str] = []
    done = np.zeros(len(paths), dtype=bool)
    for i in np.flatnonzero(adapted).tolist():
        if done[i]:
            continue
        path = paths[i]
        general = _INDEX.sub("*", path)
        if general != path and not any(c in path for c in "*?[]") and not path.startswith("re:"):
            cover = targets_mask(tree, [Pattern.compile(general)])
            if not (cover & able & ~adapted).any():
                out.append(general)
                done |= cover
                continue
        out.append(_literal(path))
        done[i] = True
    return out


def _literal(path: str) -> str:
    if any(c in path for c in "*?[]") or path.startswith("re:"):
        return "re:" + re.escape(path)
    return path


# ------------------------------------------------------------------------------------- rule file
def parse_lora_section(node: yaml.Node, source: str | None) -> LoraSpec:
    """The ``lora:`` mapping of a rule file; problems are :class:`RuleError` with the line."""
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        raise RuleError(
            "`lora:` must be a mapping (r, lora_alpha, dropout, use_dora, bias, targets)",
            source=source,
            line=line,
        )
    raw: dict[Any, Any] = {
        read_scalar(k, source): [read_scalar(v, source) for v in vnode.value]
        if isinstance(vnode, yaml.SequenceNode)
        else read_scalar(vnode, source)
        for k, vnode in node.value
    }
    unknown = [k for k in raw if k not in LORA_KEYS]
    if unknown:
        raise RuleError(
            f"unknown key {unknown[0]!r} under `lora:` (expected one of: {', '.join(LORA_KEYS)})",
            source=source,
            line=line,
        )
    targets = raw.get("targets") or []
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise RuleError("`lora.targets` must be a list of module patterns", source=source, line=line)
    bias = raw.get("bias", "none")
    if bias not in {b.value for b in LoraBias}:
        raise RuleError(
            f"`lora.bias` must be one of none, all, lora_only; got {bias!r}", source=source, line=line
        )
    for key, kind in (("lora_alpha", (int, float)), ("dropout", (int, float)), ("use_dora", (bool,))):
        if key in raw and (
            not isinstance(raw[key], kind) or (kind != (bool,) and isinstance(raw[key], bool))
        ):
            raise RuleError(f"`lora.{key}` has the wrong type: {raw[key]!r}", source=source, line=line)
    try:
        settings = LoraSettings(
            r=raw.get("r", 8),
            lora_alpha=raw.get("lora_alpha", 16),
            dropout=raw.get("dropout", 0.0),
            use_dora=raw.get("use_dora", False),
            bias=LoraBias(bias),
        )
        patterns = [Pattern.compile(t) for t in targets]
    except FreezeguiError as exc:
        raise RuleError(str(exc), source=source, line=line) from None
    return LoraSpec(settings=settings, targets=patterns)
