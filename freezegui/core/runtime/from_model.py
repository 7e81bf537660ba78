"""The rule file a live model's flags say: :func:`rules_from_model`, through every wrapper.

A model inside ``torch.compile`` or DataParallel/DDP is written under its bare names; a PEFT model's
base tensors under the names they had before PEFT wrapped their modules, and its adapter tensors
only where they differ from how PEFT flags a fresh adapter (trainable, scale 1.0), by their own
names past their host module. So ``apply_rules`` on a freshly wrapped model reproduces the flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import nn

from freezegui.core.errors import RuleError
from freezegui.core.models.wrappers import PeftNames, peft_fingerprint, peft_names, unwrap
from freezegui.core.rules.ruleset import Rule, RuleSet, literal_pattern
from freezegui.core.structure.tree import ModuleTree, build_tree


def rules_from_model(
    model: nn.Module,
    *,
    spec: str | None = None,
    scales: Mapping[str, float] | None = None,
    optimizer: Any = None,
    **ruleset_fields: Any,
) -> RuleSet:
    """The shortest rule list that reproduces ``model``'s current ``requires_grad`` flags, with scales.

    ``scales`` maps parameter names (any name of a tied tensor, bare or wrapped) to lr scales;
    ``optimizer`` reads them from its groups' ``lr_scale`` keys instead (a group with scale 0 counts
    as frozen, as under ``lr_zero``). Tensors with scale 1.0 need no ``lr_scale`` in the file.
    """
    from freezegui.core.rules.writer import rules_with_scales

    inner = unwrap(model)
    tree = build_tree(inner.model)
    mask, per_tensor = _flags_and_scales(tree, optimizer, scales, model)
    if inner.peft:
        names = peft_names(tree)
        rs = _peft_rules(tree, names, mask, per_tensor)
        rs.model.fingerprint = peft_fingerprint(tree, names)
        rs.model.parameters = int(sum(tree.numel[j] for j, h in enumerate(names.hosts) if h is None))
    else:
        rs = rules_with_scales(tree, mask, per_tensor)
        rs.model.fingerprint = tree.fingerprint()
        rs.model.parameters = tree.total_params
    rs.model.spec = spec
    for key, value in ruleset_fields.items():
        setattr(rs, key, value)
    return rs


def _flags_and_scales(
    tree: ModuleTree, optimizer: Any, scales: Mapping[str, float] | None, outer: nn.Module
) -> tuple[np.ndarray, np.ndarray]:
    mask = np.fromiter((t.requires_grad for t in tree.tensors), dtype=bool, count=len(tree.tensors))
    per_tensor = np.ones(len(tree.tensors))
    if optimizer is not None:
        where = {id(t): j for j, t in enumerate(tree.tensors)}
        for group in optimizer.param_groups:
            scale = float(group.get("lr_scale", 1.0))
            for p in group["params"]:
                j = where.get(id(p))
                if j is not None:
                    per_tensor[j] = scale
                    mask[j] &= scale > 0
    if scales:
        where = {id(t): j for j, t in enumerate(tree.tensors)}
        by_name = {name: j for j in range(len(tree.params)) for name in tree.params[j].names}
        by_name.update({n: where[id(p)] for n, p in outer.named_parameters() if id(p) in where})
        unknown = [n for n in scales if n not in by_name]
        if unknown:
            raise RuleError(f"scales for unknown parameters: {', '.join(unknown[:5])}")
        for name, scale in scales.items():
            per_tensor[by_name[name]] = float(scale)
    return mask, per_tensor


def _peft_rules(tree: ModuleTree, names: PeftNames, mask: np.ndarray, scales: np.ndarray) -> RuleSet:
    """Rules in bare names for the base tensors, and explicit rules for adapter tensors that PEFT
    would flag otherwise (it trains a fresh adapter at scale 1.0)."""
    from freezegui.core.rules.writer import rules_with_scales

    adapter = np.asarray([h is not None for h in names.hosts], dtype=bool)
    # Adapter tensors are no rule's business below: label them like their host's base tensors (any
    # label would do; this one costs no extra rule), then drop the rules that reach inside adapters.
    base_mask, base_scales = mask.copy(), scales.copy()
    for j in np.flatnonzero(adapter).tolist():
        host = names.hosts[j] or ""
        k = next((b for b in range(len(names.base_names)) if _under(names.base_names[b], host)), None)
        base_mask[j], base_scales[j] = (mask[k], scales[k]) if k is not None else (False, 1.0)
    written = rules_with_scales(tree, base_mask, base_scales)
    rules: list[Rule] = []
    for rule in written.rules:
        path = names.bare_path(rule.pattern.text)
        if path is not None:
            rules.append(Rule.make(rule.action, path, lr_scale=rule.lr_scale))
    for j in np.flatnonzero(adapter).tolist():
        if mask[j] and scales[j] == 1.0:
            continue  # as PEFT flags it
        name = literal_pattern(names.names[j][0])
        rules.append(Rule.make("train", name, lr_scale=scales[j]) if mask[j] else Rule.make("freeze", name))
    return RuleSet(rules=rules, default=written.default)


def _under(bare_names: list[str], host: str) -> bool:
    return any(n.startswith(host + ".") for n in bare_names) if host else bool(bare_names)


__all__ = ["rules_from_model"]
