"""The module tree: one pure-Python node per module, the single model the CLI and the app render.

Nodes are stored in preorder, so a module's subtree is the contiguous range ``[node.index, node.end)``
and each node's direct parameter occurrences are a contiguous range of the occurrence arrays. That
layout lets the selection count a subtree or set it wholesale with NumPy slices instead of Python
walks. Parameters are identified by object identity: a tied tensor (GPT-2's ``wte``/``lm_head``) is
one :class:`ParamInfo` with two names and two occurrences, and is counted once everywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


@dataclass(eq=False, slots=True)
class ParamInfo:
    """One unique parameter tensor, however many names it has."""

    index: int
    names: list[str]
    shape: tuple[int, ...]
    dtype: torch.dtype
    numel: int

    @property
    def name(self) -> str:
        """The primary (first registered) name."""
        return self.names[0]

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")


class ParamEntry:
    """A parameter as it appears under one module (a tied tensor has one entry per name)."""

    __slots__ = ("name", "info", "parent", "row")

    def __init__(self, name: str, info: ParamInfo, parent: ModuleNode, row: int) -> None:
        self.name = name
        self.info = info
        self.parent = parent
        self.row = row

    @property
    def path(self) -> str:
        return f"{self.parent.path}.{self.name}" if self.parent.path else self.name

    @property
    def aliases(self) -> list[str]:
        """The other names of this tensor (tied weights)."""
        own = self.path
        return [n for n in self.info.names if n != own]


class ModuleNode:
    """One module. Rows under it are its direct parameters first, then its child modules."""

    __slots__ = ("name", "path", "type_name", "parent", "children", "params", "row", "index", "end", "depth")

    def __init__(self, name: str, path: str, type_name: str, parent: ModuleNode | None, row: int, depth: int):
        self.name = name
        self.path = path
        self.type_name = type_name
        self.parent = parent
        self.children: list[ModuleNode] = []
        self.params: list[ParamEntry] = []
        self.row = row
        self.index = 0
        self.end = 0
        self.depth = depth

    def child_count(self) -> int:
        """Rows under this node in a view: parameters, then modules."""
        return len(self.params) + len(self.children)

    def child_at(self, row: int) -> ParamEntry | ModuleNode:
        n = len(self.params)
        return self.params[row] if row < n else self.children[row - n]

    def ancestors(self) -> Iterator[ModuleNode]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def __repr__(self) -> str:
        return f"ModuleNode({self.path or '<root>'!r}, {self.type_name})"


@dataclass(eq=False)
class ModuleTree:
    """A model's modules and unique parameters, with static subtree totals."""

    root: ModuleNode
    nodes: list[ModuleNode]
    params: list[ParamInfo]
    tensors: list[torch.Tensor]
    occ_param: np.ndarray  # param index of each occurrence, in preorder
    occ_start: np.ndarray  # occurrence range of node i is [occ_start[i], occ_start[i + 1])
    node_end: np.ndarray  # node.end for every node
    numel: np.ndarray  # elements per unique parameter
    ties: dict[int, list[int]]  # param index -> node indices of its occurrences (only for tied params)
    total: np.ndarray = field(init=False)  # unique elements in each subtree
    nparams: np.ndarray = field(init=False)  # unique parameters in each subtree
    _by_path: dict[str, ModuleNode] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._tie_overlap = self._compute_tie_overlap()
        self.total = self.subtree_sums(np.ones(len(self.params), dtype=bool), elements=True)
        self.nparams = self.subtree_sums(np.ones(len(self.params), dtype=bool), elements=False)

    # ----------------------------------------------------------------------------------------------
    @property
    def total_params(self) -> int:
        return int(self.numel.sum())

    def node(self, path: str) -> ModuleNode:
        """The module at a dotted path ('' is the root); KeyError if none."""
        if self._by_path is None:
            self._by_path = {n.path: n for n in self.nodes}
        return self._by_path[path]

    def param_indices(self, node: ModuleNode) -> np.ndarray:
        """Indices of the unique parameters in ``node``'s subtree (may repeat for tied ones)."""
        return self.occ_param[self.occ_start[node.index] : self.occ_start[node.end]]

    def param_names(self) -> list[str]:
        """Every parameter name, aliases included, in ``named_parameters(remove_duplicate=False)`` order."""
        return [name for p in self.params for name in p.names]

    def fingerprint(self) -> str:
        """A short hash of the primary parameter names and shapes: identifies the architecture."""
        h = hashlib.sha256()
        for p in self.params:
            h.update(f"{p.name}:{tuple(p.shape)};".encode())
        return h.hexdigest()[:16]

    # ----------------------------------------------------------------------------------------------
    def _compute_tie_overlap(self) -> list[tuple[np.ndarray, np.ndarray, int]]:
        """For each tied parameter: the nodes whose subtree holds it more than once, and how often extra."""
        overlap = []
        for pidx, occ_nodes in self.ties.items():
            extra: dict[int, int] = {}
            for ni in occ_nodes:
                node: ModuleNode | None = self.nodes[ni]
                while node is not None:
                    extra[node.index] = extra.get(node.index, 0) + 1
                    node = node.parent
            hit = {k: v - 1 for k, v in extra.items() if v > 1}
            if hit:
                overlap.append(
                    (np.fromiter(hit.keys(), dtype=np.int64), np.fromiter(hit.values(), dtype=np.int64), pidx)
                )
        return overlap

    def subtree_sums(self, mask: np.ndarray, *, elements: bool) -> np.ndarray:
        """Per node: elements (or parameter count) of the unique parameters in its subtree where ``mask``."""
        weight = np.where(mask, self.numel if elements else 1, 0).astype(np.int64)
        occ_w = weight[self.occ_param]
        cs = np.zeros(len(occ_w) + 1, dtype=np.int64)
        np.cumsum(occ_w, out=cs[1:])
        starts = self.occ_start[:-1]
        ends = self.occ_start[self.node_end]
        sums = cs[ends] - cs[starts]
        for nodes, extra, pidx in self._tie_overlap:
            if weight[pidx]:
                sums[nodes] -= extra * weight[pidx]
        return sums


def build_tree(model: nn.Module) -> ModuleTree:
    """Walk ``model`` once and build its :class:`ModuleTree`.

    A module instance reused at two places appears at both (with its parameters counted once).
    """
    root = ModuleNode("", "", type(model).__name__, None, 0, 0)
    nodes: list[ModuleNode] = []
    params: list[ParamInfo] = []
    tensors: list[torch.Tensor] = []
    by_id: dict[int, ParamInfo] = {}
    occ_param: list[int] = []
    occ_start: list[int] = []
    first_node: list[int] = []  # node index of each parameter's first occurrence
    ties: dict[int, list[int]] = {}

    # Explicit stack (preorder); recursion would hit the limit on deep models.
    stack: list[tuple[ModuleNode, nn.Module]] = [(root, model)]
    while stack:
        node, module = stack.pop()
        node.index = len(nodes)
        nodes.append(node)
        occ_start.append(len(occ_param))
        prefix = node.path + "." if node.path else ""
        for pname, p in module._parameters.items():
            if p is None:
                continue
            info = by_id.get(id(p))
            full = prefix + pname
            if info is None:
                info = ParamInfo(len(params), [full], tuple(p.shape), p.dtype, p.numel())
                by_id[id(p)] = info
                params.append(info)
                tensors.append(p)
                first_node.append(node.index)
            else:
                info.names.append(full)
                ties.setdefault(info.index, [first_node[info.index]]).append(node.index)
            node.params.append(ParamEntry(pname, info, node, len(node.params)))
            occ_param.append(info.index)
        children = [(name, sub) for name, sub in module._modules.items() if sub is not None]
        base = len(node.params)
        depth = node.depth + 1
        for row, (name, sub) in enumerate(children):
            child = ModuleNode(name, prefix + name, type(sub).__name__, node, base + row, depth)
            node.children.append(child)
        for child, (_, sub) in zip(reversed(node.children), reversed(children)):
            stack.append((child, sub))
    occ_start.append(len(occ_param))

    # Subtree ends: a node's subtree ends where its last descendant's does.
    for node in reversed(nodes):
        node.end = node.children[-1].end if node.children else node.index + 1
    node_end = np.fromiter((n.end for n in nodes), dtype=np.int64, count=len(nodes))
    return ModuleTree(
        root=root,
        nodes=nodes,
        params=params,
        tensors=tensors,
        occ_param=np.asarray(occ_param, dtype=np.int64),
        occ_start=np.asarray(occ_start, dtype=np.int64),
        node_end=node_end,
        numel=np.fromiter((p.numel for p in params), dtype=np.int64, count=len(params)),
        ties=ties,
    )
