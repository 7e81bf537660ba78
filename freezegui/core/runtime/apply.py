"""Applying rules to a live model: the one call a training script makes."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

from freezegui.core.errors import FingerprintWarning, FreezeguiWarning, RuleError
from freezegui.core.models.wrappers import Unwrapped, evaluate_on_peft, peft_fingerprint, peft_names, unwrap
from freezegui.core.rules.lora import counts_with_adapters
from freezegui.core.rules.problems import Problem, of_kind
from freezegui.core.rules.problems import ProblemKind as K
from freezegui.core.rules.ruleset import RuleMatch, RuleSet
from freezegui.core.structure.counting import Counts
from freezegui.core.structure.norms import freeze_norm_stats, has_running_stats, release_norm_stats
from freezegui.core.structure.tree import ModuleTree, build_tree

if TYPE_CHECKING:
    from freezegui.core.lr.evaluate import StageState
    from freezegui.core.lr.groups import NoDecay

RulesLike = RuleSet | str | os.PathLike[str] | dict[str, Any]


def as_ruleset(rules: RulesLike) -> RuleSet:
    """Accept a :class:`RuleSet`, a path to a rule file, or the parsed mapping."""
    if isinstance(rules, RuleSet):
        return rules
    if isinstance(rules, dict):
        import yaml

        return RuleSet.loads(yaml.safe_dump(rules), source="<dict>")
    if isinstance(rules, (str, os.PathLike)):
        return RuleSet.load(rules)
    raise TypeError(f"rules must be a RuleSet, a path or a dict, not {type(rules).__name__}")


@dataclass
class ApplyReport:
    """What :func:`apply_rules` did: counts, per-rule matches and anything suspicious."""

    counts: Counts
    matches: list[RuleMatch]
    method: str
    frozen_norm_layers: list[str] = field(default_factory=list)
    fingerprint_expected: str | None = None
    fingerprint_actual: str | None = None
    trainable_mask: np.ndarray | None = field(default=None, repr=False)
    # Wrappers the rules were applied through, outermost first ("torch.compile (_orig_mod.)"...).
    wrappers: list[str] = field(default_factory=list)
    adapters_kept: int = 0  # PEFT adapter tensors whose flags no rule touched
    adapted: np.ndarray | None = field(default=None, repr=False)  # per module, from a `lora:` section
    lora_unmatched: list[str] = field(default_factory=list)  # lora targets covering no adaptable module
    lora_conflicts: list[str] = field(default_factory=list)  # adapted modules whose tensors also train

    @property
    def unmatched(self) -> list[RuleMatch]:
        return [m for m in self.matches if m.params == 0]

    @property
    def fingerprint_ok(self) -> bool:
        return self.fingerprint_expected is None or self.fingerprint_expected == self.fingerprint_actual

    @property
    def trainable(self) -> int:
        return self.counts.trainable

    @property
    def frozen(self) -> int:
        return self.counts.frozen

    @property
    def total(self) -> int:
        return self.counts.total

    def issues(self) -> list[Problem]:
        """What is wrong (empty when clean), each with a kind to branch on."""
        out = [
            Problem(
                K.UNMATCHED_RULE,
                f"rule `{m.rule}`{_at(m.rule.line)} matches no parameter",
                (str(m.rule),),
                m.rule.line,
            )
            for m in self.unmatched
        ]
        out += [
            Problem(K.UNMATCHED_LORA_TARGET, f"lora target `{t}` matches no module LoRA can adapt", (t,))
            for t in self.lora_unmatched
        ]
        if self.lora_conflicts:
            shown = ", ".join(self.lora_conflicts[:3]) + (" ..." if len(self.lora_conflicts) > 3 else "")
            message = (
                f"{len(self.lora_conflicts)} adapted module(s) also train fully ({shown}): a module is "
                "trained or adapted, not both; freeze them in the rules"
            )
            out.append(Problem(K.LORA_CONFLICT, message, tuple(self.lora_conflicts)))
        if not self.fingerprint_ok:
            message = (
                f"the rule file was made for another architecture (fingerprint {self.fingerprint_expected}, "
                f"this model {self.fingerprint_actual})"
            )
            out.append(
                Problem(
                    K.FINGERPRINT, message, (str(self.fingerprint_expected), str(self.fingerprint_actual))
                )
            )
        return out

    def problems(self) -> list[str]:
        """The lines of :meth:`issues`, for people."""
        return [p.message for p in self.issues()]

    def __str__(self) -> str:
        if not self.wrappers:
            return str(self.counts)
        kept = f"; {self.adapters_kept} adapter tensor(s) kept as PEFT set them" if self.adapters_kept else ""
        return f"{self.counts} (applied through {' -> '.join(self.wrappers)} to the bare model's names{kept})"


def _at(line: int | None) -> str:
    return f" (line {line})" if line is not None else ""


def bare_model(model: nn.Module) -> nn.Module:
    """``model`` without its DDP / DataParallel / ``torch.compile`` wrappers, whose names the rules use
    (a PEFT model stays: its names are mapped tensor by tensor)."""
    inner = unwrap(model)
    return model if inner.peft else inner.model


def evaluate_rules(
    model_or_tree: nn.Module | ModuleTree, rules: RulesLike
) -> tuple[ModuleTree, RuleSet, ApplyReport]:
    """Evaluate rules without touching the model: the tree, the parsed rules and a report.

    A ``lora:`` section adds its adapters to the counts (``lora`` and ``trainable``)."""
    if not isinstance(model_or_tree, ModuleTree):
        model_or_tree = bare_model(model_or_tree)
    tree = model_or_tree if isinstance(model_or_tree, ModuleTree) else build_tree(model_or_tree)
    rs = as_ruleset(rules)
    return tree, rs, apply_report(tree, rs)


def apply_report(tree: ModuleTree, rs: RuleSet, state: StageState | None = None) -> ApplyReport:
    """The report of ``rs`` on ``tree`` (stage 0): counts with adapters, per-rule matches, problems.

    ``state``: stage 0 already evaluated (:func:`freezegui.core.lr.evaluate.evaluate_stage`), so the
    rules are matched once."""
    if state is None:
        mask, matches = rs.evaluate(tree)
        adapted = rs.lora.adapted(tree) if rs.lora is not None else None
    else:
        mask, adapted = state.trainable, state.adapted
        matches = [RuleMatch(rule, *c) for rule, c in zip(rs.rules, state.matched)]
    counts = Counts(trainable=int(tree.numel[mask].sum()), total=tree.total_params)
    if rs.lora is not None and adapted is not None:
        counts = counts_with_adapters(tree, mask, adapted, rs.lora.settings)
    return ApplyReport(
        counts=counts,
        matches=matches,
        method=rs.method,
        fingerprint_expected=rs.model.fingerprint,
        fingerprint_actual=tree.fingerprint(),
        trainable_mask=mask,
        adapted=adapted,
        lora_unmatched=rs.lora.unmatched(tree) if rs.lora is not None else [],
        lora_conflicts=_conflicts(tree, mask, adapted),
    )


def _conflicts(tree: ModuleTree, trainable: np.ndarray, adapted: np.ndarray | None) -> list[str]:
    if adapted is None:
        return []
    paths = tree.paths
    return [
        paths[i] for i in np.flatnonzero(adapted).tolist() if trainable[tree.direct_param_indices(i)].any()
    ]


def _refuse_or_warn(report: ApplyReport, source: str | None, *, strict: bool, stacklevel: int) -> None:
    """Strict mode refuses unmatched rules before anything changes; a fingerprint only warns."""
    unmatched = of_kind(report.issues(), K.UNMATCHED_RULE)
    if unmatched:
        message = "; ".join(p.message for p in unmatched)
        if strict:
            raise RuleError(message + ". Nothing was changed.", source=source)
        warnings.warn(message, FreezeguiWarning, stacklevel=stacklevel + 1)
    for p in of_kind(report.issues(), K.FINGERPRINT):
        warnings.warn(p.message, FingerprintWarning, stacklevel=stacklevel + 1)


def apply_rules(model: nn.Module, rules: RulesLike, *, strict: bool = True) -> ApplyReport:
    """Freeze ``model`` as the rules say and return a report.

    With ``method: requires_grad`` frozen parameters get ``requires_grad=False``; with ``lr_zero``
    every parameter keeps ``requires_grad=True`` and :func:`param_groups` gives frozen ones lr 0.
    Frozen normalisation layers keep their running statistics unless ``batchnorm: update_stats``.
    In strict mode a rule that matches nothing raises :class:`RuleError` before anything changes
    (a typo must not silently train the whole model); otherwise it warns.
    A model inside ``torch.compile``, DataParallel/DDP or PEFT is handled under its bare names
    (:mod:`freezegui.core.models.wrappers`); the report lists the wrappers.
    """
    inner = unwrap(model)
    if inner.peft:
        return _apply_peft(inner, rules, strict=strict)
    if inner.layers:
        report = apply_rules(inner.model, rules, strict=strict)
        report.wrappers = inner.layers
        return report
    tree, rs, report = evaluate_rules(model, rules)
    _refuse_or_warn(report, rs.source, strict=strict, stacklevel=2)
    mask = report.trainable_mask
    assert mask is not None
    for tensor, flag in zip(tree.tensors, mask.tolist()):
        want = flag or rs.method == "lr_zero"
        if tensor.requires_grad != want:
            tensor.requires_grad_(want)
    report.frozen_norm_layers = apply_norm_policy(model, tree, mask, rs)
    return report


def _apply_peft(inner: Unwrapped, rules: RulesLike, *, strict: bool) -> ApplyReport:
    """Rules written for the bare model, on the PEFT-injected model inside ``inner``."""
    tree = build_tree(inner.model)
    rs = as_ruleset(rules)
    names = peft_names(tree)
    want, decided, matches = evaluate_on_peft(tree, rs, names)
    flags = np.fromiter((t.requires_grad for t in tree.tensors), dtype=bool, count=len(tree.tensors))
    flags[decided] = want[decided]
    report = ApplyReport(
        counts=Counts(trainable=int(tree.numel[flags].sum()), total=tree.total_params),
        matches=matches,
        method=rs.method,
        fingerprint_expected=rs.model.fingerprint,
        fingerprint_actual=peft_fingerprint(tree, names),
        trainable_mask=flags,
        wrappers=inner.layers,
        adapters_kept=sum(1 for j, h in enumerate(names.hosts) if h is not None and not decided[j]),
    )
    _refuse_or_warn(report, rs.source, strict=strict, stacklevel=3)
    for tensor, flag, host in zip(tree.tensors, flags.tolist(), names.hosts):
        want_grad = flag or (rs.method == "lr_zero" and host is None)
        if tensor.requires_grad != want_grad:
            tensor.requires_grad_(want_grad)
    return report


def apply_norm_policy(model: nn.Module, tree: ModuleTree, trainable: np.ndarray, rules: RuleSet) -> list[str]:
    """Keep frozen norm layers in eval mode (``frozen_stats``); returns their paths."""
    frozen: list[str] = []
    for path, module in model.named_modules():
        if not has_running_stats(module):
            continue
        own = tree.direct_param_indices(tree.index_of(path))
        # A norm layer without affine parameters is frozen when the rules would freeze its path.
        is_frozen = not trainable[own].any() if own.size else not rules.resolve(path)
        if is_frozen and rules.batchnorm == "frozen_stats":
            freeze_norm_stats(module)
            frozen.append(path)
        else:
            release_norm_stats(module)
    return frozen


def param_groups(
    model: nn.Module,
    rules: RulesLike,
    *,
    lr: float,
    weight_decay: float | None = None,
    no_decay: NoDecay = None,
    timm_scheduler: bool = False,
    **opt_kwargs: Any,
) -> list[dict[str, Any]]:
    """Optimizer param groups: one per distinct (lr scale, weight decay), frozen tensors at lr 0.

    Each group has ``lr`` = ``lr`` x its scale, an ``lr_scale`` key and a stable ``name``. Frozen
    tensors (method ``lr_zero``, or later stages of a schedule) sit at lr 0 and weight decay 0;
    ``no_decay="bias_and_norm"`` exempts biases and norm layers from weight decay. With a
    ``schedule:`` the groups cover every stage (see :class:`freezegui.Schedule`). Every parameter
    appears once (tied tensors too); a DDP or compiled model is grouped under its bare names.
    ``torch.optim.AdamW(param_groups(model, rules, lr=1e-4))``.

    ``timm_scheduler=True`` for a timm scheduler, which sets each group's lr to the group's starting
    value times its ``lr_scale``: the groups then also carry ``initial_lr`` = ``lr`` (the unscaled
    base). A torch scheduler starts from ``lr`` x scale instead, so it takes the default groups.
    """
    from freezegui.core.lr.groups import group_dict, plan_groups

    tree = build_tree(bare_model(model))
    rs = as_ruleset(rules)
    extra = {**opt_kwargs, "initial_lr": lr} if timm_scheduler else opt_kwargs
    return [
        group_dict(tree, plan, 0, lr=lr, weight_decay=weight_decay, opt_kwargs=extra)
        for plan in plan_groups(tree, rs, no_decay=no_decay)
    ]
