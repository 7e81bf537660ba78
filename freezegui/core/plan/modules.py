"""Per-module numbers of the planner's meta step: output shape, forward / backward FLOPs, saved bytes.

Each op of the step is charged to one module: in the forward, the innermost module running (its
forward hooks keep a call stack); in the backward, the module whose forward created the autograd
node now running (nodes are numbered as they are made, and the stack's changes are noted by that
number). Ops outside every module (the loss) are the root's own. A module's numbers include its
children's (sums over its subtree), so the root's equal the plan's totals and a module called
several times adds up. Nothing is allocated: it is the same meta step the plan runs.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import torch
from torch import nn

from freezegui.core.structure.tree import ModuleTree

# A tensor's shape (a tuple), a list of shapes (a tuple or list output, None where an item is not
# a tensor) or a dict of shapes (a dict or transformers ModelOutput).
Shape: TypeAlias = tuple[int, ...] | list["Shape | None"] | dict[str, "Shape"]


@dataclass(frozen=True)
class ModuleCost:
    """What one module does in the planned step (per GPU), its children included."""

    name: str
    type: str
    output_shape: Shape | None
    forward_flops: int
    backward_flops: int
    activations_bytes: int
    calls: int

    @property
    def flops(self) -> int:
        return self.forward_flops + self.backward_flops

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` object: name, type, output_shape (lists), FLOPs and saved bytes."""
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": shape_json(self.output_shape),
            "forward_flops": self.forward_flops,
            "backward_flops": self.backward_flops,
            "activations_bytes": self.activations_bytes,
        }


def shape_of(out: Any) -> Shape | None:
    """The shape structure of a module's output (None for a value that holds no tensor)."""
    if isinstance(out, torch.Tensor):
        return tuple(int(d) for d in out.shape)
    if isinstance(out, Mapping):
        found = {str(k): shape_of(v) for k, v in out.items()}
        return {k: v for k, v in found.items() if v is not None}
    if isinstance(out, (tuple, list)):
        return [shape_of(v) for v in out]
    return None


def shape_json(shape: Shape | None) -> Any:
    if isinstance(shape, tuple):
        return list(shape)
    if isinstance(shape, list):
        return [shape_json(s) for s in shape]
    if isinstance(shape, dict):
        return {k: shape_json(v) for k, v in shape.items()}
    return None


def format_shape(shape: Shape | None) -> str:
    """``[2, 64, 16, 16]``; a tuple output as ``([2, 4], [2, 4])``; a dict as ``{logits: [2, 10]}``."""
    if shape is None:
        return ""
    if isinstance(shape, tuple):
        return "[" + ", ".join(map(str, shape)) + "]"
    if isinstance(shape, list):
        return "(" + ", ".join(format_shape(s) or "None" for s in shape) + ")"
    return "{" + ", ".join(f"{k}: {format_shape(v)}" for k, v in shape.items()) + "}"


class ModuleStats:
    """Charges the step's FLOPs and saved bytes to modules of a (meta) model; see the module docstring.

    ``tree`` is the model's own tree (built before any adapter was added): its preorder indices
    name the modules. Call :meth:`attach` before the step, :meth:`detach` after it.
    """

    def __init__(self, model: nn.Module, tree: ModuleTree) -> None:
        self._model = model
        self._tree = tree
        n = len(tree.modules)
        self.forward_flops = [0] * n
        self.backward_flops = [0] * n
        self.saved = [0] * n
        self.calls = [0] * n
        self.shapes: list[Shape | None] = [None] * n
        self.backward = False
        self._stack: list[int] = []
        self._starts: list[int] = [0]  # autograd sequence numbers where the stack's top changed ...
        self._owners: list[int] = [0]  # ... and the module on top from there
        self._handles: list[Any] = []

    def attach(self) -> None:
        index: dict[int, int] = {}
        for i, m in enumerate(self._tree.modules):
            index.setdefault(id(m), i)  # a module reused at two places: charged at its first
        for i in sorted(set(index.values())):
            m = self._tree.modules[i]
            self._handles.append(m.register_forward_pre_hook(self._pre(i)))
            self._handles.append(m.register_forward_hook(self._post(i)))

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _moved(self) -> None:
        self._starts.append(torch._C._autograd._get_sequence_nr())
        self._owners.append(self._stack[-1] if self._stack else 0)

    def _pre(self, i: int) -> Any:
        def pre(module: nn.Module, args: Any) -> None:
            self._stack.append(i)
            self._moved()

        return pre

    def _post(self, i: int) -> Any:
        def post(module: nn.Module, args: Any, out: Any) -> None:
            if i in self._stack:  # normally the top; unwinds past a module whose hook did not run
                while self._stack.pop() != i:
                    pass
            self._moved()
            if not self.backward:  # a checkpointed block's recompute is not another call
                self.calls[i] += 1
                if self.shapes[i] is None:
                    self.shapes[i] = shape_of(out)

        return post

    def _owner(self) -> int:
        if self._stack or not self.backward:
            return self._stack[-1] if self._stack else 0
        node: Any = torch._C._current_autograd_node()  # None outside a node (typed as never None)
        if node is None:
            return 0
        k = bisect.bisect_right(self._starts, node._sequence_nr()) - 1
        return self._owners[k] if k >= 0 else 0

    def add_flops(self, n: int) -> None:
        if n:
            (self.backward_flops if self.backward else self.forward_flops)[self._owner()] += n

    def add_saved(self, nbytes: int) -> None:
        self.saved[self._stack[-1] if self._stack else 0] += nbytes

    def costs(self, tree: ModuleTree | None = None) -> dict[str, ModuleCost]:
        """Every module's numbers, its subtree's included, by path in tree order ('' is the root)."""
        tree = tree or self._tree
        ends = tree.node_end.tolist()
        sums = [_prefix(v) for v in (self.forward_flops, self.backward_flops, self.saved, self.calls)]
        out: dict[str, ModuleCost] = {}
        for i, path in enumerate(tree.paths):
            fwd, bwd, saved, _ = (s[ends[i]] - s[i] for s in sums)
            kind = type(tree.modules[i]).__name__
            out[path] = ModuleCost(path, kind, self.shapes[i], fwd, bwd, saved, self.calls[i])
        return out


def _prefix(values: list[int]) -> list[int]:
    out = [0]
    for v in values:
        out.append(out[-1] + v)
    return out
