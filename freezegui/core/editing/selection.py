"""The freeze selection over a module tree: which unique parameters train, with live counts and undo.

This is the state the app edits and the rule exporter reads. It is a boolean per unique parameter
plus per-node trainable counts kept up to date incrementally: ticking a module sets its subtree with
array slices and walks only its ancestors (and the other owners of tied tensors), so a click on the
root of a 100,000-module tree costs milliseconds. The model's ``requires_grad`` flags are written
only when asked (:meth:`Selection.apply_to_model`), never per click.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import Signal

from freezegui.core.rules.lora import (
    LoraConflictError,
    LoraSettings,
    adaptable_mask,
    adapter_sizes,
    bias_mask,
    subtree_module_sums,
)
from freezegui.core.rules.ruleset import Method, NormPolicy
from freezegui.core.structure.counting import Counts
from freezegui.core.structure.tree import ModuleNode, ModuleTree, ParamEntry

if TYPE_CHECKING:
    from freezegui.core.rules.keys import Stage
    from freezegui.core.rules.ruleset import RuleSet


class CheckState(enum.Enum):
    """What a row's checkbox shows (ticked = trains)."""

    TRAIN = "train"
    FREEZE = "freeze"
    PARTIAL = "partial"
    EMPTY = "empty"  # a module with no parameters in its subtree


@dataclass
class Change:
    """What a mutation touched, so a view can repaint just that.

    ``subtrees``: every node in these subtrees may have changed; ``nodes``: these single nodes
    changed; ``param_rows``: these modules' own parameter rows changed (the other names of tied
    tensors, outside ``subtrees``); ``full``: anything may have changed.
    """

    subtrees: list[ModuleNode] = field(default_factory=list)
    nodes: list[ModuleNode] = field(default_factory=list)
    param_rows: list[ModuleNode] = field(default_factory=list)
    full: bool = False


@dataclass(frozen=True)
class FlagDiff:
    """Trainable flags of some tensors (unique parameter indices), before and after."""

    indices: np.ndarray
    before: np.ndarray
    after: np.ndarray


@dataclass(frozen=True)
class ScaleDiff:
    """The lr scales of some tensors, before and after."""

    indices: np.ndarray
    before: np.ndarray
    after: np.ndarray


@dataclass(frozen=True)
class AdaptedDiff:
    """The LoRA-adapted flag of some modules (``indices``: preorder module indices), before and after."""

    indices: np.ndarray
    before: np.ndarray
    after: np.ndarray


# The rule-file values a selection keeps beside its arrays, each edited as a whole.
VALUE_KEYS = ("lora_settings", "schedule", "method", "batchnorm", "layer_decay")


@dataclass(frozen=True)
class ValueDiff:
    """One of :data:`VALUE_KEYS` (LoRA settings, schedule, method, batchnorm policy, layer decay)."""

    key: str
    before: Any
    after: Any


Diff = FlagDiff | ScaleDiff | AdaptedDiff | ValueDiff


@dataclass(frozen=True)
class _Edit:
    """One undo step: a label and the per-kind diffs it made."""

    label: str
    diffs: tuple[Diff, ...]


class _Keep:
    """Sentinel: :meth:`Selection.set_state` leaves this part alone (``layer_decay=None`` is a value)."""


KEEP: Any = _Keep()


MIXED = "mixed"  # a module whose trainable tensors train at different lr scales


class Selection:
    """Which parameters train. Counts are unique elements (tied tensors count once)."""

    changed = Signal(object)  # Change, after every mutation (undo/redo included)
    history_changed = Signal()  # undo/redo availability or the saved marker moved

    def __init__(
        self, tree: ModuleTree, trainable: np.ndarray | None = None, scales: np.ndarray | None = None
    ) -> None:
        self.tree = tree
        if trainable is None:
            trainable = tree.requires_grad
        self.trainable = np.asarray(trainable, dtype=bool).copy()
        # LoRA: per module (preorder), whether it gets an adapter; exclusive with training it fully.
        self.adapted = np.zeros(len(tree.modules), dtype=bool)
        self.lora_settings = LoraSettings()
        self._adapter_sizes: np.ndarray | None = None
        self.node_lora = np.zeros(len(tree.modules), dtype=np.int64)
        self.node_bias = np.zeros(len(tree.modules), dtype=np.int64)
        # The lr scale of every tensor (kept while it is frozen, so unfreezing it restores its scale).
        self.scales = (
            np.ones(len(tree.params)) if scales is None else np.asarray(scales, dtype=np.float64).copy()
        )
        # The rule file's ``schedule:`` (gradual unfreezing), edited and undone with the rest.
        self.schedule: list[Stage] = []
        # The rest of what a rule file says, in the history too.
        self.method: Method = Method.REQUIRES_GRAD
        self.batchnorm: NormPolicy = NormPolicy.FROZEN_STATS
        self.layer_decay: float | None = (
            None  # the decay the scales were set from (written as `layer_decay:`)
        )
        self._elsize = tree.element_size
        self._undo: list[_Edit] = []
        self._redo: list[_Edit] = []
        self._saved_depth: int | None = 0
        self._recount()

    # ---------------------------------------------------------------------------------------- reading
    def counts(self, node: ModuleNode | None = None) -> Counts:
        """Counts for ``node``'s subtree (the whole model by default)."""
        i = (node or self.tree.root).index
        lora = int(self.node_lora[i])
        return Counts(
            trainable=int(self.node_trainable[i]) + int(self.node_bias[i]) + lora,
            total=int(self.tree.total[i]) + lora,
            lora=lora,
        )

    def check_state(self, node: ModuleNode | ParamEntry) -> CheckState:
        if isinstance(node, ParamEntry):
            return CheckState.TRAIN if self.trainable[node.info.index] else CheckState.FREEZE
        i = node.index
        n = self.tree.nparams[i]
        if n == 0:
            return CheckState.EMPTY
        k = self.node_ntrain[i]
        return CheckState.TRAIN if k == n else CheckState.FREEZE if k == 0 else CheckState.PARTIAL

    def trainable_names(self) -> list[str]:
        """Primary names of the trainable parameters, in model order."""
        return [self.tree.primary_name(j) for j in np.flatnonzero(self.trainable).tolist()]

    # ---------------------------------------------------------------------------------------- editing
    def set_subtree(self, node: ModuleNode, trainable: bool, *, label: str | None = None) -> bool:
        """Train or freeze everything under ``node``. Returns False when nothing changed."""
        tree = self.tree
        if trainable and self.adapted[node.index : node.end].any():
            raise LoraConflictError(
                self._conflict_message(
                    np.flatnonzero(self.adapted[node.index : node.end]) + node.index, "adapted"
                )
            )
        idx = tree.param_indices(node)
        changed = idx[self.trainable[idx] != trainable]
        if tree.ties:
            changed = np.unique(changed)
        if changed.size == 0:
            return False
        self._push(label or f"{'Train' if trainable else 'Freeze'} {node.path or 'all'}", changed, trainable)
        self.trainable[changed] = trainable
        lo, hi = node.index, node.end
        self.node_trainable[lo:hi] = tree.total[lo:hi] if trainable else 0
        self.node_ntrain[lo:hi] = tree.nparams[lo:hi] if trainable else 0
        sign = 1 if trainable else -1
        d_elems = sign * int(tree.numel[changed].sum())
        d_count = sign * int(changed.size)
        ancestors = list(node.ancestors())
        for a in ancestors:
            self.node_trainable[a.index] += d_elems
            self.node_ntrain[a.index] += d_count
        touched = list(ancestors)
        owners: list[ModuleNode] = []
        if tree.ties:
            touched += self._update_tie_owners(
                changed, sign, inside=(lo, hi), done={a.index for a in ancestors}, owning=owners
            )
        if self._lora_active:
            self._lora_recount()
        self.changed.emit(Change(subtrees=[node], nodes=touched, param_rows=owners))
        return True

    def set_param(self, entry: ParamEntry, trainable: bool) -> bool:
        """Train or freeze one tensor (all its tied names with it)."""
        return self.set_state_of(
            np.array([entry.info.index]),
            trainable,
            label=f"{'Train' if trainable else 'Freeze'} {entry.path}",
        )

    def set_state_of(self, indices: np.ndarray, trainable: bool, *, label: str) -> bool:
        """Set the given parameter indices to one state."""
        new = self.trainable.copy()
        new[indices] = trainable
        return self.set_mask(new, label=label)

    def set_mask(self, trainable: np.ndarray, *, label: str) -> bool:
        """Replace the whole selection (bulk actions, rule files). Returns False when nothing changed."""
        trainable = np.asarray(trainable, dtype=bool)
        diff = np.flatnonzero(trainable != self.trainable)
        if diff.size == 0:
            return False
        return self.set_state(label=label, trainable=trainable)

    def invert(self, node: ModuleNode | None = None) -> bool:
        """Swap train and freeze under ``node`` (the whole model by default)."""
        new = self.trainable.copy()
        idx = np.unique(self.tree.param_indices(node or self.tree.root))
        new[idx] = ~new[idx]
        return self.set_mask(new, label="Invert selection")

    # ------------------------------------------------------------------------------------- undo/redo
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_label(self) -> str | None:
        return self._undo[-1].label if self._undo else None

    @property
    def redo_label(self) -> str | None:
        return self._redo[-1].label if self._redo else None

    def undo(self) -> bool:
        if not self._undo:
            return False
        edit = self._undo.pop()
        self._redo.append(edit)
        self._replay(edit, forward=False)
        self.history_changed.emit()
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        edit = self._redo.pop()
        self._undo.append(edit)
        self._replay(edit, forward=True)
        self.history_changed.emit()
        return True

    @property
    def is_modified(self) -> bool:
        """True when the selection differs from the last :meth:`mark_saved` point in history."""
        return self._saved_depth != len(self._undo)

    def mark_saved(self) -> None:
        """Remember the current point in history as saved (the title's unsaved marker clears)."""
        self._saved_depth = len(self._undo)
        self.history_changed.emit()

    # ---------------------------------------------------------------------------------------- model
    def apply_to_model(self) -> None:
        """Write the selection to the model's ``requires_grad`` flags."""
        for t, flag in zip(self.tree.tensors, self.trainable.tolist()):
            if t.requires_grad != flag:
                t.requires_grad_(flag)

    # ------------------------------------------------------------------------------------ lr scales
    def lr_scale_of(self, node: ModuleNode | ParamEntry) -> float | str | None:
        """A tensor's lr scale (None when frozen); a module's common scale, :data:`MIXED`, or None
        when nothing under it trains."""
        if isinstance(node, ParamEntry):
            j = node.info.index
            return float(self.scales[j]) if self.trainable[j] else None
        idx = self.tree.param_indices(node)
        values = np.unique(self.scales[idx[self.trainable[idx]]])
        if values.size == 0:
            return None
        return float(values[0]) if values.size == 1 else MIXED

    def effective_scales(self) -> np.ndarray:
        """The scale each tensor trains at: 0.0 where frozen."""
        return np.where(self.trainable, self.scales, 0.0)

    def set_lr_scale(self, node: ModuleNode | ParamEntry, scale: float, *, label: str | None = None) -> bool:
        """Train everything under ``node`` (or one tensor) at ``scale`` x the base lr, as one undoable edit."""
        if not (scale > 0 and np.isfinite(scale)):
            raise ValueError(f"an lr scale must be a finite number > 0, got {scale!r}")
        if isinstance(node, ParamEntry):
            idx = np.array([node.info.index])
        else:
            idx = np.unique(self.tree.param_indices(node))
        new = self.scales.copy()
        new[idx] = scale
        return self.set_scales(new, label=label or f"LR x{scale:g} {node.path or 'all'}")

    def set_scales(self, scales: np.ndarray, *, label: str) -> bool:
        """Replace every tensor's lr scale (one undoable edit). Returns False when nothing changed."""
        return self.set_state(label=label, scales=scales)

    # ------------------------------------------------------------------------------------ schedule
    def set_schedule(self, stages: Sequence[Stage], *, label: str) -> bool:
        """Replace the gradual-unfreezing stages as one undoable edit (callers validate them first:
        see :meth:`freezegui.core.editing.document.Document.set_schedule`). False when nothing changed."""
        return self.set_state(label=label, schedule=stages)

    def set_method(self, method: str, *, label: str | None = None) -> bool:
        """``requires_grad`` or ``lr_zero``, as one undoable edit."""
        return self.set_state(label=label or f"Method {method}", method=Method(method))

    def set_batchnorm(self, policy: str, *, label: str | None = None) -> bool:
        """What frozen norm layers do with their statistics, as one undoable edit."""
        return self.set_state(label=label or f"Norm statistics {policy}", batchnorm=NormPolicy(policy))

    def set_state(
        self,
        *,
        label: str,
        trainable: np.ndarray | None = None,
        scales: np.ndarray | None = None,
        adapted: np.ndarray | None = None,
        lora_settings: LoraSettings | None = None,
        schedule: Sequence[Stage] | None = None,
        method: Method | None = None,
        batchnorm: NormPolicy | None = None,
        layer_decay: float | None = KEEP,
    ) -> bool:
        """Change any parts of what a rule file holds as ONE undoable edit (None / KEEP: leave that
        part). Opening a file, a suggestion that adapts and freezes, a layer decay: one step each.
        Raises :class:`LoraConflictError` (nothing changes) when a module would train and be adapted.
        Returns False when nothing changed."""
        train = self.trainable if trainable is None else np.asarray(trainable, dtype=bool)
        adapt = (
            self.adapted if adapted is None else np.asarray(adapted, dtype=bool) & adaptable_mask(self.tree)
        )
        if trainable is not None or adapted is not None:
            self._check_exclusive(train, adapt)
        diffs: list[Diff] = []
        for kind, old, new in (
            (FlagDiff, self.trainable, train),
            (ScaleDiff, self.scales, None if scales is None else np.asarray(scales, np.float64)),
            (AdaptedDiff, self.adapted, adapt),
        ):
            if new is None or new is old:
                continue
            idx = np.flatnonzero(new != old)
            if idx.size:
                diffs.append(kind(idx, old[idx].copy(), new[idx].copy()))
        values: dict[str, Any] = {
            "lora_settings": lora_settings,
            "schedule": None if schedule is None else list(schedule),
            "method": method,
            "batchnorm": batchnorm,
        }
        if layer_decay is not KEEP:
            values["layer_decay"] = layer_decay
        for key in VALUE_KEYS:
            if key in values and (key == "layer_decay" or values[key] is not None):
                old_value = getattr(self, key)
                if values[key] != old_value:
                    diffs.append(ValueDiff(key, old_value, values[key]))
        if not diffs:
            return False
        edit = _Edit(label, tuple(diffs))
        self._record(edit)
        self._replay(edit, forward=True)
        return True

    def to_rules(self) -> RuleSet:
        """Everything this selection says as a rule file (no provenance): the shortest exact rule
        list for the flags and scales (a ``train:`` rule without ``lr_scale`` gives the layer-decay
        scale), method, batchnorm, layer decay, schedule and the ``lora:`` section."""
        from freezegui.core.rules.lora import LoraSpec, targets_from_adapted
        from freezegui.core.rules.patterns import Pattern
        from freezegui.core.rules.writer import rules_with_scales

        rs = rules_with_scales(self.tree, self.trainable, self.scales, base=self.base_scales())
        rs.method, rs.batchnorm, rs.layer_decay = self.method, self.batchnorm, self.layer_decay
        rs.schedule = list(self.schedule)
        if self.adapted.any():
            targets = targets_from_adapted(self.tree, self.adapted)
            rs.lora = LoraSpec(self.lora_settings, [Pattern.compile(t) for t in targets])
        return rs

    def copy(self) -> Selection:
        """A detached copy of the state (no history): what a worker thread may read while the user
        goes on editing this one."""
        out = Selection(self.tree, self.trainable, self.scales)
        out.adapted, out.lora_settings, out.schedule = (
            self.adapted.copy(),
            self.lora_settings,
            list(self.schedule),
        )
        out.method, out.batchnorm, out.layer_decay = self.method, self.batchnorm, self.layer_decay
        out._recount()
        return out

    def base_scales(self) -> np.ndarray | None:
        """The scale a ``train:`` rule without ``lr_scale`` gives each tensor (None: 1.0 everywhere)."""
        if self.layer_decay is None:
            return None
        from freezegui.core.lr.scales import decay_scales

        return decay_scales(self.tree, self.layer_decay)

    # -------------------------------------------------------------------------------------- internals
    def _replay(self, edit: _Edit, *, forward: bool) -> None:
        """Put every diff of ``edit`` in its after (``forward``) or before state, and say so."""
        recount = False
        for d in edit.diffs:
            if isinstance(d, ValueDiff):
                value = d.after if forward else d.before
                setattr(self, d.key, list(value) if d.key == "schedule" else value)
                if d.key == "lora_settings":
                    self._adapter_sizes, recount = None, True
                continue
            target = (
                self.trainable
                if isinstance(d, FlagDiff)
                else self.scales
                if isinstance(d, ScaleDiff)
                else self.adapted
            )
            target[d.indices] = d.after if forward else d.before
            recount = recount or not isinstance(d, ScaleDiff)
        if recount:
            self._recount()
        self.changed.emit(Change(full=True))

    def _push(self, label: str, changed: np.ndarray, trainable: bool) -> None:
        after = np.full(changed.size, trainable, dtype=bool)
        self._record(_Edit(label, (FlagDiff(changed.copy(), ~after, after),)))

    def _record(self, edit: _Edit) -> None:
        if self._saved_depth is not None and self._saved_depth > len(self._undo):
            self._saved_depth = None  # the saved state lived on the redo branch this edit discards
        self._undo.append(edit)
        self._redo.clear()
        self.history_changed.emit()

    def _recount(self) -> None:
        self.node_trainable = self.tree.subtree_sums(self.trainable, elements=True)
        self.node_ntrain = self.tree.subtree_sums(self.trainable, elements=False)
        self._lora_recount()

    # ------------------------------------------------------------------------------------------ LoRA
    @property
    def _lora_active(self) -> bool:
        return bool(self.adapted.any()) or self.lora_settings.bias.value == "all"

    def _lora_recount(self) -> None:
        """Adapter parameters per subtree, and the biases PEFT's ``bias`` setting trains besides."""
        if not self._lora_active:
            self.node_lora[:] = 0
            self.node_bias[:] = 0
            return
        if self._adapter_sizes is None:
            self._adapter_sizes = adapter_sizes(self.tree, self.lora_settings)
        self.node_lora = subtree_module_sums(self.tree, np.where(self.adapted, self._adapter_sizes, 0))
        extra = bias_mask(self.tree, self.adapted, self.lora_settings.bias) & ~self.trainable
        self.node_bias = self.tree.subtree_sums(extra, elements=True)

    def _conflict_message(self, modules: np.ndarray, state: str) -> str:
        paths = [self.tree.paths[i] or "(model)" for i in modules[:3].tolist()]
        more = f" and {modules.size - 3} more" if modules.size > 3 else ""
        return (
            f"{', '.join(paths)}{more} {'is' if modules.size == 1 else 'are'} {state}: a module is frozen, "
            f"trained fully or adapted with LoRA, not two at once ("
            + ("remove the adapter first)" if state == "adapted" else "freeze it first)")
        )

    def _check_exclusive(self, trainable: np.ndarray, adapted: np.ndarray) -> None:
        """A module that owns a trained tensor cannot also get an adapter."""
        mods = np.flatnonzero(adapted)
        if mods.size == 0:
            return
        tree = self.tree
        clash = [i for i in mods.tolist() if trainable[tree.direct_param_indices(i)].any()]
        if clash:
            raise LoraConflictError(self._conflict_message(np.asarray(clash), "trained fully"))

    def adaptable(self, node: ModuleNode | None = None) -> np.ndarray:
        """Indices of the modules PEFT can adapt in ``node``'s subtree (the whole model by default)."""
        node = node or self.tree.root
        able = adaptable_mask(self.tree)
        return np.flatnonzero(able[node.index : node.end]) + node.index

    def lora_state(self, node: ModuleNode) -> CheckState:
        """What a LoRA column's checkbox shows: ticked when every adaptable module below is adapted,
        EMPTY where nothing below can be adapted."""
        able = self.adaptable(node)
        if able.size == 0:
            return CheckState.EMPTY
        k = int(self.adapted[able].sum())
        return CheckState.TRAIN if k == able.size else CheckState.FREEZE if k == 0 else CheckState.PARTIAL

    def set_lora_settings(self, settings: LoraSettings, *, label: str = "LoRA settings") -> bool:
        """Change rank, alpha, DoRA or bias as one undoable edit (the counts follow; the adapted
        modules stay). False when the settings are unchanged."""
        return self.set_state(label=label, lora_settings=settings)

    def set_adapted(self, node: ModuleNode, adapted: bool, *, label: str | None = None) -> bool:
        """Put (or remove) a LoRA adapter on every adaptable module under ``node``, as one undoable
        edit. Raises :class:`LoraConflictError` when one of them trains fully."""
        new = self.adapted.copy()
        new[self.adaptable(node)] = adapted
        verb = "Adapt" if adapted else "Remove adapters from"
        return self.set_adapted_mask(new, label=label or f"{verb} {node.path or 'all'}")

    def set_adapted_mask(
        self,
        adapted: np.ndarray,
        *,
        label: str,
        trainable: np.ndarray | None = None,
        scales: np.ndarray | None = None,
        schedule: Sequence[Stage] | None = None,
        settings: LoraSettings | None = None,
    ) -> bool:
        """Replace the adapted modules (and optionally the trained tensors, their lr scales, the
        schedule and the LoRA settings) as one undoable edit: :meth:`set_state` with adapters."""
        return self.set_state(
            label=label,
            adapted=adapted,
            trainable=trainable,
            scales=scales,
            schedule=schedule,
            lora_settings=settings,
        )

    def adapted_names(self) -> list[str]:
        """Paths of the adapted modules, in model order."""
        paths = self.tree.paths
        return [paths[i] for i in np.flatnonzero(self.adapted).tolist()]

    def lora_parameters(self) -> int:
        """Adapter parameters of the whole selection at the current settings."""
        return int(self.node_lora[0])

    def _update_tie_owners(
        self,
        changed: np.ndarray,
        sign: int,
        inside: tuple[int, int],
        done: set[int],
        owning: list[ModuleNode],
    ) -> list[ModuleNode]:
        """Count changed tied tensors in the subtrees of their other owners (outside the edited subtree).

        Returns the modules whose counts changed; the owning modules themselves go into ``owning``."""
        tree = self.tree
        lo, hi = inside
        touched: list[ModuleNode] = []
        for pidx in changed.tolist():
            owners = tree.ties.get(pidx)
            if not owners:
                continue
            seen = set(done)
            numel = int(tree.numel[pidx])
            for ni in owners:
                if lo <= ni < hi:
                    continue
                owning.append(tree.nodes[ni])
                node: ModuleNode | None = tree.nodes[ni]
                while node is not None and node.index not in seen:
                    seen.add(node.index)
                    self.node_trainable[node.index] += sign * numel
                    self.node_ntrain[node.index] += sign
                    touched.append(node)
                    node = node.parent
        return touched
