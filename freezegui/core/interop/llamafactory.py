"""LLaMA-Factory's freeze fine-tuning arguments, to and from a selection.

LLaMA-Factory (``finetuning_type: freeze``) trains a block of hidden layers at one end of the model and,
optionally, a few modules outside the layers; everything else is frozen. Its arguments:

* ``freeze_trainable_layers: n`` -- ``n > 0``: the last ``n`` layers; ``n < 0``: the first ``-n``; the
  layer count is the config's ``num_hidden_layers`` (or ``num_layers``/``n_layer``; ``text_config``'s for
  composite models). With ``use_llama_pro`` every ``L // n``-th layer instead.
* ``freeze_trainable_modules: all`` or a comma list of module names right after the layer index
  (``mlp,self_attn``); each layer ``i`` and module ``m`` becomes the substring ``".{i}.{m}"`` (``".{i}."``
  for ``all``).
* ``freeze_extra_modules``: comma list of names of modules outside the layers (``embed_tokens,norm``),
  each also tested as a plain substring of the parameter name.

A parameter (as ``named_parameters()`` names it) trains when any of those substrings occurs in its
name. Substrings reach further than the structure suggests: ``".3."`` also hits expert 3 inside
*every* layer of a mixture-of-experts model with numbered experts, and ``norm`` also hits every
``input_layernorm``. Import reproduces what LLaMA-Factory really trains and warns where that differs
from the structural reading; export checks its arguments the same way and warns when LLaMA-Factory
would train more than the selection. LLaMA-Factory's extra rules for multimodal models (frozen vision
tower and projector) are not modelled.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml
from torch import nn

from freezegui.core.errors import FreezeguiError, FreezeguiWarning, RuleError
from freezegui.core.interop.common import load_yaml_mapping
from freezegui.core.interop.llamafactory_search import exact_llamafactory_args
from freezegui.core.interop.quoting import comment_lines, yaml_scalar
from freezegui.core.rules.ruleset import RuleSet, rules_from_selection
from freezegui.core.structure.tree import ModuleNode, ModuleTree

_NUMBERED = re.compile(r"\.\d+\.")
_KEYS = ("freeze_trainable_layers", "freeze_trainable_modules", "freeze_extra_modules", "use_llama_pro")


class NotExpressibleError(FreezeguiError):
    """The selection cannot be written as LLaMA-Factory freeze arguments (the message says why)."""


@dataclass
class FreezeArgs:
    """LLaMA-Factory's freeze arguments, with its defaults."""

    trainable_layers: int = 2
    trainable_modules: list[str] = field(default_factory=lambda: ["all"])
    extra_modules: list[str] = field(default_factory=list)
    use_llama_pro: bool = False

    def as_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "finetuning_type": "freeze",
            "freeze_trainable_layers": self.trainable_layers,
            "freeze_trainable_modules": ",".join(self.trainable_modules),
        }
        if self.extra_modules:
            out["freeze_extra_modules"] = ",".join(self.extra_modules)
        if self.use_llama_pro:
            out["use_llama_pro"] = True
        return out


def num_layers_of(model: nn.Module) -> int | None:
    """The layer count LLaMA-Factory reads from a transformers model's config (None without one)."""
    config = getattr(model, "config", None)
    if config is None:
        return None
    config = getattr(config, "text_config", None) or config
    for key in ("num_hidden_layers", "num_layers", "n_layer"):
        value = getattr(config, key, None)
        if value:
            return int(value)
    return None


def _split(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",")]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value]
    raise RuleError(f"`{key}` must be a comma-separated string or a list of names, got {value!r}")


def layer_ids(num_layers: int, args: FreezeArgs) -> list[int]:
    """The trainable layer indices, computed as LLaMA-Factory computes them."""
    n = args.trainable_layers
    if args.use_llama_pro:
        if n == 0 or num_layers % n != 0:
            raise RuleError(
                f"use_llama_pro needs num_layers ({num_layers}) divisible by freeze_trainable_layers ({n})"
            )
        stride = num_layers // n
        return list(range(stride - 1, num_layers + stride - 1, stride))
    if n > 0:
        return list(range(max(0, num_layers - n), num_layers))
    return list(range(min(-n, num_layers)))


def module_names(tree: ModuleTree) -> tuple[set[str], set[str]]:
    """LLaMA-Factory's lists of valid names: modules inside layers, and modules outside them."""
    hidden: set[str] = set()
    outside: set[str] = set()
    for info in tree.params:
        name = info.name
        if ".0." in name:
            hidden.add(name.split(".0.")[-1].split(".")[0])
        elif ".1." in name:
            hidden.add(name.split(".1.")[-1].split(".")[0])
        if _NUMBERED.search(name) is None and "." in name:
            outside.add(name.split(".")[-2])
    return hidden, outside


def substrings(tree: ModuleTree, args: FreezeArgs, num_layers: int) -> list[str]:
    """The substrings LLaMA-Factory tests; unknown module names raise as LLaMA-Factory does."""
    hidden, outside = module_names(tree)
    ids = layer_ids(num_layers, args)
    subs: list[str] = []
    for m in args.trainable_modules:
        if m != "all" and m not in hidden:
            raise RuleError(
                f"freeze_trainable_modules: module {m!r} is not found; choose from {', '.join(sorted(hidden))}"
            )
        subs.extend(f".{i}.{'' if m == 'all' else m}" for i in ids)
    for m in args.extra_modules:
        if m not in outside:
            raise RuleError(
                f"freeze_extra_modules: module {m!r} is not found; choose from {', '.join(sorted(outside))}"
            )
        subs.append(m)
    return subs


def llamafactory_mask(tree: ModuleTree, args: FreezeArgs, num_layers: int) -> np.ndarray:
    """What LLaMA-Factory trains on this model: its substring test over the primary names."""
    subs = substrings(tree, args, num_layers)
    return np.fromiter(
        (any(s in info.name for s in subs) for info in tree.params), dtype=bool, count=len(tree.params)
    )


# ------------------------------------------------------------------------------ structure
def find_layers(tree: ModuleTree, num_layers: int) -> ModuleNode | None:
    """The container of the hidden layers: children named 0..L-1, the one holding the most parameters."""
    want = [str(i) for i in range(num_layers)]
    best: ModuleNode | None = None
    for node in tree.nodes:
        fits = len(node.children) == num_layers and [c.name for c in node.children] == want
        if fits and (best is None or tree.total[node.index] > tree.total[best.index]):
            best = node
    return best


def structural_mask(tree: ModuleTree, args: FreezeArgs, num_layers: int) -> np.ndarray | None:
    """What the arguments mean by whole segments: the chosen modules of the chosen layers, and the named
    modules outside the layers. None when the model has no block of numbered layers."""
    layers = find_layers(tree, num_layers)
    if layers is None:
        return None
    mask = np.zeros(len(tree.params), dtype=bool)
    for i in layer_ids(num_layers, args):
        layer = layers.children[i]
        if "all" in args.trainable_modules:
            mask[tree.param_indices(layer)] = True
            continue
        for child in layer.children:
            if child.name in args.trainable_modules:
                mask[tree.param_indices(child)] = True
        for entry in layer.params:
            if entry.name in args.trainable_modules:
                mask[entry.info.index] = True
    extras = set(args.extra_modules)
    for info in tree.params:
        parts = info.name.split(".")
        if len(parts) > 1 and parts[-2] in extras and _NUMBERED.search(info.name) is None:
            mask[info.index] = True
    return mask


def _explain_extra(tree: ModuleTree, extra: np.ndarray, subs: list[str], limit: int = 3) -> str:
    shown = []
    for i in np.flatnonzero(extra)[:limit]:
        name = tree.params[i].name
        hit = next((s for s in subs if s in name), "?")
        shown.append(f"{name} (contains {hit!r})")
    return "; ".join(shown)


# ------------------------------------------------------------------------------ import
def read_llamafactory_config(text: str, *, source: str | None = "<llamafactory>") -> FreezeArgs:
    """The freeze arguments of a whole LLaMA-Factory config (other keys are ignored)."""
    data = load_yaml_mapping(text, source=source, what="a LLaMA-Factory config")
    kind = data.get("finetuning_type", "lora")
    if kind != "freeze":
        raise RuleError(
            f"finetuning_type is {kind!r}: the freeze_* arguments only apply with `finetuning_type: freeze`",
            source=source,
        )
    n = data.get("freeze_trainable_layers", 2)
    if isinstance(n, bool) or not isinstance(n, int):
        raise RuleError(f"freeze_trainable_layers must be an integer, got {n!r}", source=source)
    try:
        return FreezeArgs(
            trainable_layers=n,
            trainable_modules=_split(data.get("freeze_trainable_modules", "all"), "freeze_trainable_modules"),
            extra_modules=_split(data.get("freeze_extra_modules"), "freeze_extra_modules"),
            use_llama_pro=bool(data.get("use_llama_pro", False)),
        )
    except RuleError as exc:
        raise RuleError(str(exc), source=source) from None


def from_llamafactory(
    text: str, tree: ModuleTree, num_layers: int, *, source: str | None = "<llamafactory>"
) -> RuleSet:
    """Rules that train exactly what LLaMA-Factory would train on this model with this config.

    Warns (:class:`FreezeguiWarning`) when its substring matching trains tensors outside the chosen
    layers and modules (numbered experts, ``norm`` inside ``input_layernorm``...).
    """
    args = read_llamafactory_config(text, source=source)
    try:
        mask = llamafactory_mask(tree, args, num_layers)
    except RuleError as exc:
        raise RuleError(str(exc), source=source) from None
    for problem in layer_count_problems(tree, args, num_layers, mask):
        warnings.warn(f"{source}: {problem}", FreezeguiWarning, stacklevel=2)
    _warn_substrings(tree, args, num_layers, mask, source, "trains")
    rs = rules_from_selection(tree, mask)
    rs.source = source
    return rs


def layer_count_problems(tree: ModuleTree, args: FreezeArgs, num_layers: int, mask: np.ndarray) -> list[str]:
    """What makes an import silently all-frozen or all-trained: a layer count that does not fit the
    model, ``freeze_trainable_layers`` of 0 or beyond the layer count, nothing (or everything) trained."""
    out: list[str] = []
    n = args.trainable_layers
    if find_layers(tree, num_layers) is None:
        out.append(
            f"the model has no block of {num_layers} numbered layers (children named 0..{num_layers - 1}); "
            f"check --num-layers: the layer indices may hit the wrong modules"
        )
    if n == 0:
        out.append("freeze_trainable_layers is 0: no hidden layer trains")
    elif abs(n) > num_layers and not args.use_llama_pro:
        out.append(f"freeze_trainable_layers is {n} but the model has {num_layers} layers: all of them train")
    if mask.size and not mask.any():
        out.append("nothing trains: every parameter is frozen")
    elif mask.size and mask.all():
        out.append("every parameter trains: nothing is frozen")
    return out


def _warn_substrings(
    tree: ModuleTree, args: FreezeArgs, num_layers: int, actual: np.ndarray, source: str | None, verb: str
) -> None:
    meant = structural_mask(tree, args, num_layers)
    if meant is None:
        return
    extra = actual & ~meant
    if extra.any():
        subs = substrings(tree, args, num_layers)
        warnings.warn(
            f"{source}: LLaMA-Factory matches by substring, so it also {verb} {int(extra.sum())} tensor(s) "
            f"({int(tree.numel[extra].sum()):,} parameters) outside the chosen layers/modules, e.g. "
            f"{_explain_extra(tree, extra, subs)}",
            FreezeguiWarning,
            stacklevel=3,
        )


# ------------------------------------------------------------------------------ export
def llamafactory_args(tree: ModuleTree, trainable: np.ndarray, num_layers: int) -> FreezeArgs:
    """Freeze arguments for ``trainable``; :class:`NotExpressibleError` (saying why) when there are none.

    Extra modules are read first (the names of trained modules outside the layers); whatever their
    substrings already reach inside the layers is not asked of the layer arguments. The result may
    still train more than ``trainable`` under LLaMA-Factory's substring test: :func:`to_llamafactory`
    checks and warns.
    """
    mask = np.asarray(trainable, dtype=bool)
    layers = find_layers(tree, num_layers)
    if layers is None:
        raise NotExpressibleError(
            f"no block of {num_layers} numbered layers (children named 0..{num_layers - 1}) in this model; "
            f"LLaMA-Factory freeze tuning selects hidden layers by index"
        )
    extras = _extra_modules(tree, layers, mask)
    explained = np.fromiter(
        (any(e in info.name for e in extras) for info in tree.params), dtype=bool, count=len(tree.params)
    )
    rest = mask & ~explained  # what the layer arguments must add
    trained_layers = [i for i, c in enumerate(layers.children) if rest[tree.param_indices(c)].any()]
    k = len(trained_layers)
    if k and trained_layers == list(range(num_layers - k, num_layers)):
        n = k
    elif trained_layers == list(range(k)):
        n = -k
    else:
        raise NotExpressibleError(
            f"the trained layers {_ranges(trained_layers)} are not the first or the last n of "
            f"{num_layers}; LLaMA-Factory trains a block of layers at one end"
        )
    modules = _layer_modules(tree, layers, trained_layers, mask, rest)
    return FreezeArgs(trainable_layers=n, trainable_modules=modules, extra_modules=extras)


def _layer_modules(
    tree: ModuleTree, layers: ModuleNode, trained: list[int], mask: np.ndarray, rest: np.ndarray
) -> list[str]:
    if not trained:
        return ["all"]
    chosen: list[str] | None = None
    every: list[str] = []
    for i in trained:
        layer = layers.children[i]
        names: list[str] = []
        units: list[tuple[str, np.ndarray]] = [(e.name, np.array([e.info.index])) for e in layer.params]
        units += [(c.name, tree.param_indices(c)) for c in layer.children if tree.nparams[c.index]]
        every = [name for name, _ in units]
        for name, idx in units:
            if not rest[idx].any():
                continue
            if not mask[idx].all():
                raise NotExpressibleError(
                    f"only part of {layers.path}.{i}.{name} trains; LLaMA-Factory trains whole modules "
                    f"(the name right after the layer index)"
                )
            names.append(name)
        if chosen is None:
            chosen = names
        elif names != chosen:
            raise NotExpressibleError(
                f"layers train different modules ({layers.path}.{trained[0]}: {', '.join(chosen)}; "
                f"{layers.path}.{i}: {', '.join(names)}); LLaMA-Factory uses one module list for all layers"
            )
    assert chosen is not None
    return ["all"] if chosen == every else chosen


def _extra_modules(tree: ModuleTree, layers: ModuleNode, mask: np.ndarray) -> list[str]:
    inside = np.zeros(len(tree.params), dtype=bool)
    inside[tree.param_indices(layers)] = True
    groups: dict[str, list[int]] = {}
    for info in tree.params:
        if inside[info.index]:
            continue
        parts = info.name.split(".")
        if len(parts) < 2 or _NUMBERED.search(info.name):
            if mask[info.index]:
                raise NotExpressibleError(
                    f"{info.name} trains, but LLaMA-Factory's extra modules can only name a module outside "
                    f"numbered layers (the segment before the parameter name)"
                )
            continue
        groups.setdefault(parts[-2], []).append(info.index)
    extras = []
    for key, idx in groups.items():
        sel = mask[idx]
        if sel.all():
            extras.append(key)
        elif sel.any():
            on = [tree.params[i].name for i in idx if mask[i]][:2]
            off = [tree.params[i].name for i in idx if not mask[i]][:2]
            raise NotExpressibleError(
                f"{', '.join(on)} train(s) but {', '.join(off)} (same module name {key!r}) do(es) not; "
                f"freeze_extra_modules names modules by their last name only"
            )
    return extras


def _ranges(ids: list[int]) -> str:
    if not ids:
        return "(none)"
    parts, start, prev = [], ids[0], ids[0]
    for i in [*ids[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ",".join(parts)


def _exact_or_structural(tree: ModuleTree, mask: np.ndarray, num_layers: int) -> FreezeArgs:
    """The structural reading when LLaMA-Factory's substrings train exactly that; else the shortest
    arguments that do (llama-pro strides, T5's ``layer.N``, numbered experts); else the structural
    reading (the caller warns what more it trains), or its refusal."""
    try:
        args: FreezeArgs | None = llamafactory_args(tree, mask, num_layers)
        refusal: NotExpressibleError | None = None
    except NotExpressibleError as exc:
        args, refusal = None, exc
    if args is not None:
        try:
            if np.array_equal(llamafactory_mask(tree, args, num_layers), mask):
                return args
        except RuleError:  # a module name LLaMA-Factory's own lists lack: it would refuse these
            args = None
    if find_layers(tree, num_layers) is not None:
        exact = exact_llamafactory_args(tree, mask, num_layers, *module_names(tree))
        if exact is not None:
            return FreezeArgs(*exact)
    if args is None:
        raise refusal or NotExpressibleError(
            "LLaMA-Factory's substring matching cannot express this selection"
        )
    return args


def to_llamafactory(
    tree: ModuleTree, trainable: np.ndarray, num_layers: int, *, spec: str | None = None
) -> str:
    """YAML lines for a LLaMA-Factory config; raises :class:`NotExpressibleError` (saying why) when
    the selection has no such form, and warns when LLaMA-Factory's substring matching would train more."""
    mask = np.asarray(trainable, dtype=bool)
    if mask.shape != (len(tree.params),):
        raise FreezeguiError(
            f"the selection has {mask.size} flags but the model has {len(tree.params)} tensors"
        )
    args = _exact_or_structural(tree, mask, num_layers)
    actual = llamafactory_mask(tree, args, num_layers)
    lines = [
        "# Paste into your LLaMA-Factory config. Made by freezegui"
        + (f" for {yaml_scalar(spec)}" if spec else "")
        + ".",
        f"# {int(mask.sum())} of {len(tree.params)} tensors train, "
        f"{int(tree.numel[mask].sum()):,} of {tree.total_params:,} parameters.",
    ]
    if (mask & ~actual).any():  # pragma: no cover - the arguments are built to cover the selection
        raise FreezeguiError("internal error: the LLaMA-Factory arguments miss part of the selection")
    if not np.array_equal(actual, mask):
        extra = actual & ~mask
        subs = substrings(tree, args, num_layers)
        message = (
            f"LLaMA-Factory matches by substring, so these arguments also train {int(extra.sum())} tensor(s) "
            f"({int(tree.numel[extra].sum()):,} parameters) the selection freezes, e.g. "
            f"{_explain_extra(tree, extra, subs)}"
        )
        warnings.warn(message, FreezeguiWarning, stacklevel=2)
        lines.append(comment_lines("WARNING: " + message).removesuffix("\n"))
    body = yaml.safe_dump(args.as_config(), sort_keys=False, default_flow_style=False, width=1000)
    return "\n".join(lines) + "\n" + body
