"""``freezegui fit``: the largest selection users choose whose planned peak fits a GPU budget.

The candidates (:mod:`freezegui.core.decide.ladder`) are planned by the cost planner, so the answer
is exact under the plan's model. A bisection over the ladder finds a boundary with about log2(len)
plans: the chosen rung fits and the next one up does not, both planned (so this holds even where the
peak is not monotone along the ladder). Where the model has a gradient checkpointing switch the same
ladder is searched with it on too, and checkpointing is chosen only when it lets more train.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from torch import nn

from freezegui.core.decide.ladder import Candidate, FitError, FitProblem, block_ladder, lora_ladder
from freezegui.core.plan.options import PlanOptions, Shard
from freezegui.core.plan.planner import plan_tree
from freezegui.core.plan.result import Plan
from freezegui.core.plan.state import state_cost
from freezegui.core.rules.lora import LoraSpec
from freezegui.core.rules.ruleset import ModelInfo, RuleSet, rules_from_selection
from freezegui.core.runtime.apply import evaluate_rules
from freezegui.core.structure.counting import format_bytes
from freezegui.core.structure.tree import ModuleTree, build_tree

GIB = 1024**3


@dataclass(frozen=True)
class FitStep:
    """One plan the search ran (the app shows them as progress)."""

    planned: int  # plans run so far
    label: str
    peak_bytes: int
    fits: bool


@dataclass
class FitResult:
    """The chosen rung, its plan, and the next larger rung (which does not fit) with its plan."""

    candidate: Candidate
    gradient_checkpointing: bool
    plan: Plan
    budget_bytes: int
    next_candidate: Candidate | None
    next_checkpointing: bool
    next_plan: Plan | None
    rules: RuleSet
    plans: int  # how many plans the search ran
    candidates: int  # rungs on the ladder
    steps: list[FitStep] = field(default_factory=list, repr=False)

    @property
    def choice(self) -> dict[str, Any]:
        return self.candidate.choice(self.gradient_checkpointing)

    @property
    def peak_bytes(self) -> int:
        """One GPU's planned peak (what the budget is compared with)."""
        return self.plan.per_rank.peak_bytes

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` shape: ``choice``, ``peak_bytes``, ``budget_bytes``, ``next``, ``trainable``."""
        nxt = None
        if self.next_candidate is not None and self.next_plan is not None:
            nxt = {
                "choice": self.next_candidate.choice(self.next_checkpointing),
                "peak_bytes": self.next_plan.per_rank.peak_bytes,
                "trainable": self.next_plan.counts.trainable,
            }
        return {
            "choice": self.choice,
            "peak_bytes": self.peak_bytes,
            "budget_bytes": self.budget_bytes,
            "next": nxt,
            "trainable": self.plan.counts.trainable,
            "total": self.plan.counts.total,
            "plans": self.plans,
            "candidates": self.candidates,
        }

    def lines(self) -> list[str]:
        """What a person reads: the choice against the budget, and what one step more would need."""
        out = [
            f"fits: {self.candidate.describe(self.gradient_checkpointing)} — peak "
            f"{format_bytes(self.peak_bytes)} of {format_bytes(self.budget_bytes)}, "
            f"{self.plan.counts.trainable:,} of {self.plan.counts.total:,} parameters train",
        ]
        if self.next_candidate is not None and self.next_plan is not None:
            out.append(
                f"next:  {self.next_candidate.describe(self.next_checkpointing)} would need "
                f"{format_bytes(self.next_plan.per_rank.peak_bytes)} (does not fit)"
            )
        else:
            out.append("next:  nothing larger to try: the largest candidate fits")
        out.append(f"({self.plans} plans for {self.candidates} candidates)")
        if not self.plan.step_ran:
            out.append(f"note: {self.plan.message}")
        return out

    def rule_text(self) -> str:
        """The chosen selection as a rule file, headed by what the fit planned (a comment)."""
        gc = "on (turn it on in training too)" if self.gradient_checkpointing else "off"
        note = (
            f"# freezegui fit: {self.candidate.describe(self.gradient_checkpointing)}; planned peak "
            f"{format_bytes(self.peak_bytes)} of a {format_bytes(self.budget_bytes)} budget; "
            f"gradient checkpointing {gc}\n"
        )
        return note + self.rules.dumps()


def fit(model: nn.Module, budget_bytes: float, **kwargs: Any) -> FitResult:
    """:func:`fit_steps` run to the end."""
    steps = fit_steps(model, budget_bytes, **kwargs)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: FitResult = done.value
            return result


def fit_steps(
    model: nn.Module,
    budget_bytes: float,
    *,
    options: PlanOptions | None = None,
    start: RuleSet | None = None,
    lora: bool = False,
    checkpointing: bool = True,
    tree: ModuleTree | None = None,
    model_info: ModelInfo | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Generator[FitStep, None, FitResult]:
    """Search the ladder for the largest rung whose planned peak (one GPU) is within ``budget_bytes``.

    ``options``: the plan's settings (batch, length, dtype, optimizer, GPUs; its own
    ``gradient_checkpointing`` is ignored: ``checkpointing`` says whether to try it). ``start``: a rule
    file whose trained tensors stay trained, and whose method, BatchNorm policy and LoRA settings are
    kept. Yields a :class:`FitStep` per plan; raises :class:`FitError` when nothing fits.
    """
    options = replace(options or PlanOptions(), gradient_checkpointing=False)
    if not budget_bytes > 0 or not math.isfinite(budget_bytes):
        raise FitError(
            FitProblem.NOTHING_FITS, f"the GPU budget must be a positive size, got {budget_bytes!r}"
        )
    tree = tree if tree is not None else build_tree(model)
    start_mask, base = _start(tree, start)
    _check_weights(tree, options, budget_bytes)
    ladder = (
        lora_ladder(tree, base.lora.settings if base.lora else None, start_mask)
        if lora
        else (block_ladder(tree, start_mask))
    )
    search = _Search(model, tree, ladder, base, options, budget_bytes, cancel)
    variants = [False] + ([True] if checkpointing and _can_checkpoint(model) else [])
    bounds: dict[bool, tuple[int | None, int | None]] = {}
    for gc in variants:
        hint = bounds[False][0] if gc else None
        if gc and hint is not None and bounds[False][1] is None:
            break  # everything fits without checkpointing
        bounds[gc] = yield from search.boundary(gc, hint=hint)
    return search.result(bounds, budget_bytes, model_info)


class _Search:
    """Plans rungs on demand (each once) and bisects for the boundary of one checkpointing setting."""

    def __init__(
        self,
        model: nn.Module,
        tree: ModuleTree,
        ladder: list[Candidate],
        base: RuleSet,
        options: PlanOptions,
        budget: float,
        cancel: Callable[[], bool] | None,
    ) -> None:
        self.model, self.tree, self.ladder, self.base = model, tree, ladder, base
        self.options, self.budget, self.cancel = options, budget, cancel
        self.plans: dict[tuple[int, bool], Plan] = {}
        self.full: dict[bool, Plan] = {}  # the full fine-tune plan per checkpointing setting, made once
        self.steps: list[FitStep] = []

    def fits(self, i: int, gc: bool) -> Generator[FitStep, None, bool]:
        key = (i, gc)
        if key not in self.plans:
            rung = self.ladder[i]
            rules = replace(self.base, rules=[], lora=None)
            if rung.lora is not None:
                rules.lora = LoraSpec(rung.lora, [])
            options = replace(self.options, gradient_checkpointing=gc)
            plan = plan_tree(
                self.model,
                self.tree,
                rung.mask,
                rules,
                options,
                full_finetune=self.full.get(gc),
                adapted=rung.adapted,
                cancel=self.cancel,
            )
            if plan.full_finetune is not None:
                self.full[gc] = plan.full_finetune
            self.plans[key] = plan
            step = FitStep(
                len(self.plans), rung.describe(gc), plan.per_rank.peak_bytes, plan.fits(self.budget)
            )
            self.steps.append(step)
            yield step
        return self.plans[key].fits(self.budget)

    def boundary(
        self, gc: bool, hint: int | None = None
    ) -> Generator[FitStep, None, tuple[int | None, int | None]]:
        """(largest fitting rung, the rung after it) for one setting; (None, 0) when rung 0 does not
        fit, (last, None) when the last one fits. ``hint``: a rung known to fit without
        checkpointing, so with it (which saves memory) the search starts above it."""
        top = len(self.ladder) - 1
        if hint is not None:
            lo = hint
            if hint == top or not (yield from self.fits(hint + 1, gc)):
                return hint, (hint + 1 if hint < top else None)
            lo = hint + 1
        elif not (yield from self.fits(0, gc)):
            return None, 0
        else:
            lo = 0
        if lo == top or (yield from self.fits(top, gc)):
            return top, None
        return (yield from self._bracket(lo, top, gc))

    def _bracket(self, lo: int, hi: int, gc: bool) -> Generator[FitStep, None, tuple[int, int]]:
        """Narrow ``lo`` (fits) .. ``hi`` (does not) to neighbours. Each round plans the rung a line
        through the bracket's peaks predicts, then its neighbour across the budget: the peak grows
        about linearly with the blocks trained, so a round or two usually ends it. A round that
        does not halve the bracket makes the next one a plain bisection (log2 rounds at worst)."""
        bisect = False
        while hi - lo > 1:
            width = hi - lo
            mid = (lo + hi) // 2 if bisect else self._predict(lo, hi, gc)
            if (yield from self.fits(mid, gc)):
                lo = mid
            else:
                hi = mid
            other = mid + 1 if lo == mid else mid - 1
            if not bisect and lo < other < hi:
                if (yield from self.fits(other, gc)):
                    lo = other
                else:
                    hi = other
            bisect = hi - lo > width // 2
        return lo, hi

    def _predict(self, lo: int, hi: int, gc: bool) -> int:
        """The rung where a line through the bracket's planned peaks meets the budget."""
        a, b = self.plans.get((lo, gc)), self.plans.get((hi, gc))
        if a is None or b is None:
            return (lo + hi) // 2
        pa, pb = a.per_rank.peak_bytes, b.per_rank.peak_bytes
        guess = lo + (self.budget - pa) / (pb - pa) * (hi - lo) if pb > pa else (lo + hi) / 2
        return min(hi - 1, max(lo + 1, int(guess)))

    def result(
        self, bounds: dict[bool, tuple[int | None, int | None]], budget: float, info: ModelInfo | None
    ) -> FitResult:
        """The largest fitting rung over the settings searched (checkpointing only when it lets more
        train), and the next rung up of a setting whose boundary it is (checkpointed if possible)."""
        variants = list(bounds)
        best = max(variants, key=lambda gc: (-1 if bounds[gc][0] is None else bounds[gc][0], not gc))
        chosen = bounds[best][0]
        if chosen is None:
            raise self.nothing_fits()
        nxt_gc = max(
            (gc for gc in variants if bounds[gc][0] == chosen and bounds[gc][1] is not None), default=best
        )
        nxt = bounds[nxt_gc][1]
        return FitResult(
            candidate=self.ladder[chosen],
            gradient_checkpointing=best,
            plan=self.plans[(chosen, best)],
            budget_bytes=int(budget),
            next_candidate=self.ladder[nxt] if nxt is not None else None,
            next_checkpointing=nxt_gc,
            next_plan=self.plans[(nxt, nxt_gc)] if nxt is not None else None,
            rules=_rule_set(self.tree, self.ladder[chosen], self.base, info),
            plans=len(self.plans),
            candidates=len(self.ladder),
            steps=self.steps,
        )

    def nothing_fits(self) -> FitError:
        plans = [p for (i, _), p in self.plans.items() if i == 0]
        smallest = min(plans, key=lambda p: p.per_rank.peak_bytes)
        return FitError(
            FitProblem.NOTHING_FITS,
            f"even the smallest candidate ({self.ladder[0].label}) needs "
            f"{format_bytes(smallest.per_rank.peak_bytes)} per GPU at peak, more than the "
            f"{format_bytes(self.budget)} budget: try a smaller batch size or length, mixed precision or LoRA",
        )


def _start(tree: ModuleTree, start: RuleSet | None) -> tuple[np.ndarray | None, RuleSet]:
    """The start selection's trained tensors (None without one) and the settings every rung keeps."""
    if start is None:
        return None, RuleSet(default="train")
    _, rs, report = evaluate_rules(tree, start)
    assert report.trainable_mask is not None
    base = RuleSet(default="train", method=rs.method, batchnorm=rs.batchnorm, lora=rs.lora)
    return report.trainable_mask, base


def _check_weights(tree: ModuleTree, options: PlanOptions, budget: float) -> None:
    """Refuse, in one line, a budget the frozen weights alone exceed: no rung can fit."""
    nothing = np.zeros(len(tree.tensors), dtype=bool)
    weights = state_cost(tree, nothing, nothing, options).weights_bytes
    if options.shard == Shard.FSDP:
        weights = math.ceil(weights / options.gpus)
    if weights > budget:
        tries = [] if options.dtype in ("bf16", "fp16") else ["a half-precision dtype"]
        tries += ["more GPUs with FSDP" if options.shard != Shard.FSDP else "more GPUs", "a larger GPU"]
        raise FitError(
            FitProblem.WEIGHTS_EXCEED_BUDGET,
            f"the frozen model's weights alone need {format_bytes(weights)} per GPU, more than the "
            f"{format_bytes(budget)} budget: nothing can train (try {', '.join(tries[:-1])} or {tries[-1]})",
        )


def _can_checkpoint(model: nn.Module) -> bool:
    return bool(getattr(model, "supports_gradient_checkpointing", False))


def _rule_set(tree: ModuleTree, rung: Candidate, base: RuleSet, info: ModelInfo | None) -> RuleSet:
    """The rung as the shortest rule file, with the start's method and BatchNorm policy."""
    from freezegui.core.rules.lora import targets_from_adapted
    from freezegui.core.rules.patterns import Pattern

    rs = rules_from_selection(tree, rung.mask)
    rs.method, rs.batchnorm = base.method, base.batchnorm
    if rung.lora is not None and rung.adapted is not None:
        targets = targets_from_adapted(tree, rung.adapted)
        rs.lora = LoraSpec(rung.lora, [Pattern.compile(t) for t in targets])
    info = replace(info) if info is not None else ModelInfo()
    info.fingerprint = info.fingerprint or tree.fingerprint()
    info.parameters = info.parameters or tree.total_params
    rs.model = info
    return rs
