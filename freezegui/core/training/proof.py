"""Proof that frozen weights stayed frozen: exact copies before step 1, a bit-for-bit comparison after.

Frozen parameters and the buffers of frozen normalisation layers (running mean/var, batch counter) are
copied to CPU memory before training (so the copy costs no accelerator memory), and compared byte for
byte at the end. Trainable parameters are copied too, to report how many actually moved.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from freezegui.core.structure.tree import ModuleTree


def _cpu_copy(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", copy=True).contiguous()


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-identical (NaN equal to the same NaN, -0.0 different from 0.0): compares the raw bytes."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    a = a.detach().to("cpu").contiguous().reshape(-1)
    b = b.detach().to("cpu").contiguous().reshape(-1)
    if a.numel() == 0:
        return True
    return torch.equal(a.view(torch.uint8), b.view(torch.uint8))


@dataclass
class StageProof:
    """Tensors a schedule stage unfroze: frozen until ``step``, so bit-identical up to it."""

    stage: int
    step: int
    unfrozen_tensors: int = 0
    unfrozen_elements: int = 0
    verified_tensors: int = 0
    changed: list[str] = field(default_factory=list)
    epoch: int | None = None  # the epoch of an ``at: {epoch: N}`` stage

    def line(self) -> str:
        at = f"step {self.step}" + (f" (epoch {self.epoch})" if self.epoch is not None else "")
        return (
            f"stage {self.stage} at {at}: {self.verified_tensors} of {self.unfrozen_tensors} tensors "
            f"({self.unfrozen_elements:,} values) frozen until then verified bit-identical"
        )


@dataclass
class ProofReport:
    """What the comparison found. ``ok`` is False when any frozen tensor changed."""

    frozen_tensors: int = 0
    frozen_elements: int = 0
    frozen_verified_tensors: int = 0
    frozen_verified_elements: int = 0
    frozen_changed: list[str] = field(default_factory=list)
    buffer_tensors: int = 0
    buffer_elements: int = 0
    buffer_verified_tensors: int = 0
    buffer_verified_elements: int = 0
    buffers_changed: list[str] = field(default_factory=list)
    trainable_tensors: int = 0
    trainable_elements: int = 0
    trainable_changed_tensors: int = 0
    trainable_changed_elements: int = 0
    trainable_unchanged: list[str] = field(default_factory=list)
    stages: list[StageProof] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            not self.frozen_changed and not self.buffers_changed and not any(s.changed for s in self.stages)
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def lines(self) -> list[str]:
        """The proof in words, for the CLI and the app."""
        out = [
            f"frozen parameters verified bit-identical: {self.frozen_verified_elements:,} of "
            f"{self.frozen_elements:,} ({self.frozen_verified_tensors} of {self.frozen_tensors} tensors)",
        ]
        if self.buffer_tensors:
            out.append(
                f"frozen normalisation statistics verified unchanged: {self.buffer_verified_elements:,} values "
                f"({self.buffer_verified_tensors} of {self.buffer_tensors} buffers)"
            )
        out.append(
            f"trainable parameters changed: {self.trainable_changed_elements:,} of {self.trainable_elements:,} "
            f"({self.trainable_changed_tensors} of {self.trainable_tensors} tensors)"
        )
        out += [s.line() for s in self.stages]
        out += [
            f"ERROR: stage {s.stage}: tensors changed before it: {', '.join(s.changed[:10])}"
            for s in self.stages
            if s.changed
        ]
        if self.frozen_changed:
            out.append(f"ERROR: frozen parameters changed: {', '.join(self.frozen_changed[:10])}")
        if self.buffers_changed:
            out.append(
                f"ERROR: frozen normalisation statistics changed: {', '.join(self.buffers_changed[:10])}"
            )
        if self.trainable_unchanged and self.trainable_changed_tensors:
            out.append(
                f"note: trainable tensors that did not move: {', '.join(self.trainable_unchanged[:10])}"
            )
        return out


class FrozenSnapshot:
    """Copies taken before training; :meth:`verify` compares the model against them."""

    def __init__(
        self, model: nn.Module, tree: ModuleTree, trainable: np.ndarray, frozen_norm_layers: list[str]
    ):
        self._params: list[tuple[str, torch.Tensor, torch.Tensor, bool]] = []
        for info, tensor, flag in zip(tree.params, tree.tensors, np.asarray(trainable, dtype=bool).tolist()):
            self._params.append((info.name, tensor, _cpu_copy(tensor), flag))
        self._buffers: list[tuple[str, torch.Tensor, torch.Tensor]] = []
        for path in frozen_norm_layers:
            module = model.get_submodule(path)
            for name, buf in module.named_buffers(recurse=False):
                if buf is not None:
                    full = f"{path}.{name}" if path else name
                    self._buffers.append((full, buf, _cpu_copy(buf)))
        self._stages: list[StageProof] = []

    def transition(
        self, stage: int, step: int, unfrozen: np.ndarray, frozen: np.ndarray, epoch: int | None = None
    ) -> StageProof:
        """A schedule stage at ``step``: check the tensors it unfreezes against their copies (they were
        frozen until now), then count them as trainable; tensors it freezes get a fresh copy."""
        proof = StageProof(stage, step, epoch=epoch)
        for j in np.flatnonzero(unfrozen).tolist():
            name, live, before, _ = self._params[j]
            proof.unfrozen_tensors += 1
            proof.unfrozen_elements += before.numel()
            if same_bits(live, before):
                proof.verified_tensors += 1
            else:
                proof.changed.append(name)
            self._params[j] = (name, live, before, True)
        for j in np.flatnonzero(frozen).tolist():
            name, live, _, _ = self._params[j]
            self._params[j] = (name, live, _cpu_copy(live), False)
        self._release_norms(
            {self._params[j][0].rpartition(".")[0] for j in np.flatnonzero(unfrozen).tolist()}, proof
        )
        self._stages.append(proof)
        return proof

    def _release_norms(self, modules: set[str], proof: StageProof) -> None:
        """The statistics of norm layers a stage unfreezes follow train() from then on: checked
        unchanged up to the stage (in its proof), then no longer held still."""
        kept = []
        for name, live, before in self._buffers:
            if name.rpartition(".")[0] not in modules:
                kept.append((name, live, before))
            elif not same_bits(live, before):
                proof.changed.append(name)
        self._buffers = kept

    def verify(self) -> ProofReport:
        r = ProofReport(stages=list(self._stages))
        for name, live, before, flag in self._params:
            n = before.numel()
            same = same_bits(live, before)
            if flag:
                r.trainable_tensors += 1
                r.trainable_elements += n
                if same:
                    r.trainable_unchanged.append(name)
                else:
                    r.trainable_changed_tensors += 1
                    r.trainable_changed_elements += n
            else:
                r.frozen_tensors += 1
                r.frozen_elements += n
                if same:
                    r.frozen_verified_tensors += 1
                    r.frozen_verified_elements += n
                else:
                    r.frozen_changed.append(name)
        for name, live, before in self._buffers:
            r.buffer_tensors += 1
            r.buffer_elements += before.numel()
            if same_bits(live, before):
                r.buffer_verified_tensors += 1
                r.buffer_verified_elements += before.numel()
            else:
                r.buffers_changed.append(name)
        return r

    def release(self) -> None:
        """Drop the copies (they can be as large as the model)."""
        self._params.clear()
        self._buffers.clear()
