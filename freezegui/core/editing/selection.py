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
from typing import TYPE_CHECKING

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


@dataclass
class _Edit:
    label: str
    indices: np.ndarray
    before: np.ndarray
    after: np.ndarray
    # LoRA: the modules whose adapted flag this edit changed (None: the edit touched no adapter).
    modules: np.ndarray | None = None
    adapted_before: np.ndarray | None = None
    adapted_after: np.ndarray | None = None
    # LoRA settings this edit changed (None: it changed none).
    settings_before: LoraSettings | None = None
    settings_after: LoraSettings | None = None
    scales: bool = False  # an edit of the lr scales rather than of the trainable flags
    # Besides the flags (opening a rule file): the lr scales it changed, as (indices, before, after).
    scale_edit: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    # The gradual-unfreezing stages before and after (None: the edit left the schedule alone).
    schedule_before: tuple[Stage, ...] | None = None
    schedule_after: tuple[Stage, ...] | None = None


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

    def training_memory_bytes(self) -> int:
        """Rough memory to train this selection with AdamW: weights + gradients + 2 moments (model dtype)."""
        weights = int((self.tree.numel * self._elsize).sum())
        train = int((self.tree.numel * self._elsize)[self.trainable].sum())
        # LoRA adapters: their own weights, gradients and moments, in the model's first dtype.
        adapters = self.lora_parameters() * (int(self._elsize[0]) if self._elsize.size else 4)
        return weights + 3 * train + 4 * adapters

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
        self._check_exclusive(trainable, self.adapted)
        self._record(_Edit(label, diff, self.trainable[diff].copy(), trainable[diff].copy()))
        self._assign(diff, trainable[diff])
        return True

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
        scales = np.asarray(scales, dtype=np.float64)
        diff = np.flatnonzero(scales != self.scales)
        if diff.size == 0:
            return False
        self._record(_Edit(label, diff, self.scales[diff].copy(), scales[diff].copy(), scales=True))
        self._replay(self._undo[-1], forward=True)
        return True

    # ------------------------------------------------------------------------------------ schedule
    def set_schedule(self, stages: Sequence[Stage], *, label: str) -> bool:
        """Replace the gradual-unfreezing stages as one undoable edit (callers validate them first:
        see :meth:`freezegui.core.editing.document.Document.set_schedule`). False when nothing changed."""
        new = tuple(stages)
        if list(new) == self.schedule:
            return False
        none = np.zeros(0, dtype=np.int64)
        edit = _Edit(label, none, np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))
        edit.schedule_before, edit.schedule_after = tuple(self.schedule), new
        self._record(edit)
        self._replay(edit, forward=True)
        return True

    def to_rules(self) -> RuleSet:
        """The shortest exact rule file for this selection and its scales."""
        from freezegui.core.rules.writer import rules_with_scales

        return rules_with_scales(self.tree, self.trainable, self.scales)

    # -------------------------------------------------------------------------------------- internals
    def _replay(self, edit: _Edit, *, forward: bool) -> None:
        """Put every part of ``edit`` in its after (``forward``) or before state, and say so."""
        values = edit.after if forward else edit.before
        stages = edit.schedule_after if forward else edit.schedule_before
        if stages is not None:
            self.schedule = list(stages)
        if edit.scale_edit is not None:
            idx, before, after = edit.scale_edit
            self.scales[idx] = after if forward else before
        if edit.scales:
            self.scales[edit.indices] = values
            self.changed.emit(Change(full=True))
        elif edit.indices.size or edit.modules is not None or edit.settings_after is not None:
            adapted = edit.adapted_after if forward else edit.adapted_before
            settings = edit.settings_after if forward else edit.settings_before
            self._assign(edit.indices, values, edit.modules, adapted, settings)
        else:  # the schedule or the scales only: no check box moved
            self.changed.emit(Change(full=edit.scale_edit is not None))

    def _push(self, label: str, changed: np.ndarray, trainable: bool) -> None:
        after = np.full(changed.size, trainable, dtype=bool)
        self._record(_Edit(label, changed.copy(), ~after, after))

    def _record(self, edit: _Edit) -> None:
        if self._saved_depth is not None and self._saved_depth > len(self._undo):
            self._saved_depth = None  # the saved state lived on the redo branch this edit discards
        self._undo.append(edit)
        self._redo.clear()
        self.history_changed.emit()

    def _assign(
        self,
        indices: np.ndarray,
        values: np.ndarray,
        modules: np.ndarray | None = None,
        adapted: np.ndarray | None = None,
        settings: LoraSettings | None = None,
    ) -> None:
        self.trainable[indices] = values
        if modules is not None and adapted is not None:
            self.adapted[modules] = adapted
        if settings is not None:
            self.lora_settings, self._adapter_sizes = settings, None
        self._recount()
        self.changed.emit(Change(full=True))

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

    def set_lora_settings(self, settings: LoraSettings, *, label: str | None = None) -> None:
        """Change rank, alpha, DoRA or bias (the counts follow; the adapted modules stay).

        With a ``label`` the change is an undoable edit (the app's settings dialog: it then also
        counts as unsaved); without one it is part of a bigger step (opening a rule file)."""
        if label is not None:
            if settings == self.lora_settings:
                return
            none = np.zeros(0, dtype=np.int64)
            edit = _Edit(label, none, np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))
            edit.settings_before, edit.settings_after = self.lora_settings, settings
            self._record(edit)
        self.lora_settings = settings
        self._adapter_sizes = None
        self._lora_recount()
        self.changed.emit(Change(full=True))

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
        schedule and the LoRA settings: a whole rule file, or a fitted choice) as one undoable edit."""
        adapted = np.asarray(adapted, dtype=bool) & adaptable_mask(self.tree)
        train = self.trainable if trainable is None else np.asarray(trainable, dtype=bool)
        self._check_exclusive(train, adapted)
        mods = np.flatnonzero(adapted != self.adapted)
        diff = np.flatnonzero(train != self.trainable)
        new_scales = self.scales if scales is None else np.asarray(scales, dtype=np.float64)
        sdiff = np.flatnonzero(new_scales != self.scales)
        stages = None if schedule is None or list(schedule) == self.schedule else tuple(schedule)
        new_settings = None if settings is None or settings == self.lora_settings else settings
        if mods.size == 0 and diff.size == 0 and sdiff.size == 0 and stages is None and new_settings is None:
            return False
        edit = _Edit(label, diff, self.trainable[diff].copy(), train[diff].copy())
        if new_settings is not None:
            edit.settings_before, edit.settings_after = self.lora_settings, new_settings
        edit.modules, edit.adapted_before, edit.adapted_after = (
            mods,
            self.adapted[mods].copy(),
            adapted[mods].copy(),
        )
        if sdiff.size:
            edit.scale_edit = (sdiff, self.scales[sdiff].copy(), new_scales[sdiff].copy())
        if stages is not None:
            edit.schedule_before, edit.schedule_after = tuple(self.schedule), stages
        self._record(edit)
        self._replay(edit, forward=True)
        return True

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
