"""Models inside the wrappers users meet: ``torch.compile``, DataParallel/DDP and PEFT.

A rule file saved from the bare model names ``layer4.0.conv1``; the same tensor is
``_orig_mod.layer4.0.conv1`` after ``torch.compile``, ``module.layer4.0.conv1`` inside DDP and
``base_model.model.layer4.0.conv1.base_layer`` once PEFT has put an adapter on it. Rules are applied
to the wrapped module under its bare names; PEFT's adapter tensors keep their flags unless a rule
names them (a pattern that reaches them past their host module, such as ``**.lora_A``).
No wrapper library is imported: wrappers are recognised by type name and attributes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from freezegui.core.rules.ruleset import RuleMatch, RuleSet
from freezegui.core.structure.tree import ModuleTree

_MODULE_WRAPPERS = ("DataParallel", "DistributedDataParallel")


@dataclass
class Unwrapped:
    """The bare model inside its wrappers, outermost first in ``layers``."""

    model: nn.Module
    layers: list[str] = field(default_factory=list)
    peft: bool = False


def unwrap(model: nn.Module) -> Unwrapped:
    """Peel ``torch.compile``, DataParallel/DDP and PEFT wrappers off ``model`` (in any nesting)."""
    out = Unwrapped(model)
    m = model
    while True:
        cls = type(m)
        if cls.__name__ == "OptimizedModule" and isinstance(getattr(m, "_orig_mod", None), nn.Module):
            out.layers.append("torch.compile (_orig_mod.)")
            m = m._orig_mod  # type: ignore[assignment]
        elif cls.__name__ in _MODULE_WRAPPERS and isinstance(getattr(m, "module", None), nn.Module):
            out.layers.append(f"{cls.__name__} (module.)")
            m = m.module  # type: ignore[assignment]
        elif cls.__module__.startswith("peft.tuners") and isinstance(m._modules.get("model"), nn.Module):
            out.layers.append("PEFT (base_model.model.)")
            out.peft = True
            m = m._modules["model"]  # type: ignore[assignment]
        elif cls.__module__.startswith("peft") and isinstance(m._modules.get("base_model"), nn.Module):
            m = m._modules["base_model"]  # type: ignore[assignment]  # PeftModel -> its tuner (LoraModel)
        else:
            break
    out.model = m
    return out


@dataclass
class PeftNames:
    """Per unique tensor of a PEFT-injected model: its bare-model names, or its adapter host."""

    base_names: list[list[str]]  # bare names of base tensors ([] for adapter tensors)
    hosts: list[str | None]  # the adapted (or saved) module's path for adapter tensors, else None
    names: list[list[str]]  # the tensor's names in the injected model
    base_child: dict[str, str] = field(default_factory=dict)  # wrapper path -> child with the original
    adapter_children: dict[str, tuple[str, ...]] = field(default_factory=dict)  # wrapper -> adapter slots

    def bare_path(self, path: str) -> str | None:
        """A module or parameter path of the injected model as the bare model names it (None: a
        path inside an adapter, which the bare model does not have)."""
        if path.startswith("re:"):
            return path
        bare, host = _bare_name(path, self.base_child, self.adapter_children)
        return None if host is not None else bare


def peft_names(tree: ModuleTree) -> PeftNames:
    """Map each tensor of a PEFT-injected model to the names it had before PEFT wrapped its module.

    A LoRA layer keeps the original module as ``base_layer`` and its adapters in ``lora_A`` and the
    other ``adapter_layer_names``; ``modules_to_save`` keeps the original as ``original_module`` and
    the trained copy under ``modules_to_save``."""
    paths = tree.paths
    base_child: dict[str, str] = {}  # wrapper path -> the child holding the original module
    adapter_children: dict[str, tuple[str, ...]] = {}
    for i, m in enumerate(tree.modules):
        names = getattr(type(m), "adapter_layer_names", None)
        if names and "base_layer" in m._modules:
            base_child[paths[i]] = "base_layer"
            adapter_children[paths[i]] = tuple(names)
        elif "original_module" in m._modules and "modules_to_save" in m._modules:
            base_child[paths[i]] = "original_module"
            adapter_children[paths[i]] = ("modules_to_save",)
    out = PeftNames([], [], [], base_child, adapter_children)
    for info in tree.params:
        bare: list[str] = []
        host: str | None = None
        for name in info.names:
            mapped, h = _bare_name(name, base_child, adapter_children)
            if h is not None:
                host = h
            elif mapped is not None:
                bare.append(mapped)
        out.base_names.append([] if host is not None else bare)
        out.hosts.append(host)
        out.names.append(list(info.names))
    return out


def _bare_name(
    name: str, base_child: dict[str, str], adapter_children: dict[str, tuple[str, ...]]
) -> tuple[str | None, str | None]:
    """(bare name, None) for a base tensor, (None, host path) for an adapter tensor."""
    segs = name.split(".")
    out: list[str] = []
    i = 0
    while i < len(segs):
        here = ".".join(segs[:i])
        if i and here in base_child and i < len(segs):
            if segs[i] == base_child[here]:
                i += 1
                continue
            if segs[i] in adapter_children[here]:
                return None, ".".join(out)
        out.append(segs[i])
        i += 1
    return ".".join(out), None


def evaluate_on_peft(
    tree: ModuleTree, rules: RuleSet, names: PeftNames
) -> tuple[np.ndarray, np.ndarray, list[RuleMatch]]:
    """Flags a bare-model rule set gives a PEFT-injected model's tensors.

    Returns (wanted flag per tensor, whether a rule decided it, per-rule matches). Base tensors
    start at the rules' default and are matched by their bare names; an adapter tensor is decided
    only by a rule that matches its own name but not its host module's (``**.lora_A`` does,
    ``model.layers`` does not), so rules written for the bare model leave adapters as PEFT set them.
    """
    n = len(tree.params)
    want = np.zeros(n, dtype=bool)
    decided = np.zeros(n, dtype=bool)
    for j in range(n):
        if names.hosts[j] is None:
            want[j] = rules.default == "train"
            decided[j] = True
    matches: list[RuleMatch] = []
    for rule in rules.rules:
        hit = np.zeros(n, dtype=bool)
        match = rule.pattern.matches
        for j in range(n):
            host = names.hosts[j]
            if host is None:
                hit[j] = any(match(b) for b in names.base_names[j])
            else:
                hit[j] = any(match(nm) for nm in names.names[j]) and not (host and match(host))
        want[hit] = rule.trainable
        decided |= hit
        matches.append(RuleMatch(rule, int(hit.sum()), int(tree.numel[hit].sum())))
    return want, decided, matches


def peft_fingerprint(tree: ModuleTree, names: PeftNames) -> str:
    """The bare model's fingerprint (:meth:`ModuleTree.fingerprint`) from a PEFT-injected tree."""
    h = hashlib.sha256()
    for j, t in enumerate(tree.tensors):
        if names.hosts[j] is None and names.base_names[j]:
            h.update(f"{names.base_names[j][0]}:{tuple(t.shape)};".encode())
    return h.hexdigest()[:16]
