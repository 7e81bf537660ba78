"""The module tree: one pure-Python node per module, the single model the CLI and the app render.

Modules are numbered in preorder, so a module's subtree is the contiguous range ``[node.index,
node.end)`` and each module's direct parameter occurrences are a contiguous range of the occurrence
arrays. That layout lets the selection count a subtree or set it wholesale with NumPy slices.
Parameters are identified by object identity: a tied tensor (GPT-2's ``wte``/``lm_head``) is one
:class:`ParamInfo` with two names and two occurrences, and is counted once everywhere.

Building walks the model once into flat lists; the :class:`ModuleNode` objects a view needs are made
on first access (a node's children all at once), so opening a 100,000-module model costs about two
bare ``named_modules()`` walks and only the rows someone looks at become Python objects.
"""

from __future__ import annotations

import gc
import hashlib
from array import array
from collections.abc import Iterator, Sequence
from typing import overload

import numpy as np
import torch
from torch import nn


class ParamInfo:
    """One unique parameter tensor, however many names it has."""

    __slots__ = ("index", "names", "tensor", "numel")

    def __init__(self, index: int, names: list[str], tensor: torch.Tensor, numel: int) -> None:
        self.index = index
        self.names = names
        self.tensor = tensor
        self.numel = numel

    @property
    def name(self) -> str:
        """The primary (first registered) name."""
        return self.names[0]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tensor.shape)

    @property
    def dtype(self) -> torch.dtype:
        return self.tensor.dtype

    @property
    def dtype_name(self) -> str:
        return str(self.tensor.dtype).removeprefix("torch.")

    def __repr__(self) -> str:
        return f"ParamInfo({self.name!r}, shape={self.shape}, numel={self.numel})"


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

    def __repr__(self) -> str:
        return f"ParamEntry({self.path!r})"


class ModuleNode:
    """One module. Rows under it are its direct parameters first, then its child modules."""

    __slots__ = ("tree", "index", "end", "name", "path", "parent", "row", "depth", "_children", "_params")

    def __init__(self, tree: ModuleTree, index: int, parent: ModuleNode | None, row: int) -> None:
        self.tree = tree
        self.index = index
        self.end = tree._end[index]
        self.name = tree.names[index]
        self.parent = parent
        self.row = row
        if parent is None:
            self.path, self.depth = "", 0
        else:
            self.path = f"{parent.path}.{self.name}" if parent.path else self.name
            self.depth = parent.depth + 1
        self._children: list[ModuleNode] | None = None
        self._params: list[ParamEntry] | None = None

    @property
    def module(self) -> nn.Module:
        return self.tree.modules[self.index]

    @property
    def type_name(self) -> str:
        return type(self.tree.modules[self.index]).__name__

    @property
    def params(self) -> list[ParamEntry]:
        """Direct parameters (with their local names)."""
        if self._params is None:
            tree = self.tree
            lo, hi = tree._occ_start[self.index], tree._occ_start[self.index + 1]
            params = tree.params
            self._params = [
                ParamEntry(tree.occ_name[o], params[tree._occ_param[o]], self, row)
                for row, o in enumerate(range(lo, hi))
            ]
            tree.fetched[self.index] = True
        return self._params

    @property
    def children(self) -> list[ModuleNode]:
        """Direct child modules, in registration order."""
        if self._children is None:
            tree = self.tree
            end = tree._end
            cache = tree._node_cache
            base = tree._occ_start[self.index + 1] - tree._occ_start[self.index]
            kids: list[ModuleNode] = []
            c = self.index + 1
            while c < self.end:
                node = ModuleNode(tree, c, self, base + len(kids))
                cache[c] = node
                kids.append(node)
                c = end[c]
            self._children = kids
            tree.fetched[self.index] = True
        return self._children

    def child_count(self) -> int:
        """Rows under this node in a view: parameters, then modules."""
        tree = self.tree
        n_params = tree._occ_start[self.index + 1] - tree._occ_start[self.index]
        return n_params + (len(self.children) if self.end > self.index + 1 else 0)

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


class _LazyNodes(Sequence[ModuleNode]):
    """``tree.nodes``: every module in preorder, made into a ModuleNode on first access."""

    def __init__(self, tree: ModuleTree) -> None:
        self._tree = tree

    def __len__(self) -> int:
        return len(self._tree.modules)

    @overload
    def __getitem__(self, i: int) -> ModuleNode: ...
    @overload
    def __getitem__(self, i: slice) -> list[ModuleNode]: ...
    def __getitem__(self, i: int | slice) -> ModuleNode | list[ModuleNode]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        cache = self._tree._node_cache
        if i < 0:
            i += len(cache)
        node = cache[i]
        if node is None:
            parent = self[self._tree._parent[i]]
            parent.children  # noqa: B018 - materialises i and its siblings into the cache
            node = cache[i]
            assert node is not None
        return node

    def __iter__(self) -> Iterator[ModuleNode]:
        for i in range(len(self)):
            yield self[i]

    def __reversed__(self) -> Iterator[ModuleNode]:
        nodes = list(self)
        return reversed(nodes)


class _LazyParams(Sequence[ParamInfo]):
    """``tree.params``: every unique parameter, made into a ParamInfo on first access."""

    def __init__(self, tree: ModuleTree) -> None:
        self._tree = tree
        self._cache: list[ParamInfo | None] = [None] * len(tree.tensors)

    def __len__(self) -> int:
        return len(self._cache)

    @overload
    def __getitem__(self, i: int) -> ParamInfo: ...
    @overload
    def __getitem__(self, i: slice) -> list[ParamInfo]: ...
    def __getitem__(self, i: int | slice) -> ParamInfo | list[ParamInfo]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self._cache)
        info = self._cache[i]
        if info is None:
            tree = self._tree
            occs = tree._tie_occ.get(i) or [tree._first_occ[i]]
            info = ParamInfo(i, [tree.occurrence_path(o) for o in occs], tree.tensors[i], tree._numel_list[i])
            self._cache[i] = info
        return info

    def __iter__(self) -> Iterator[ParamInfo]:
        for i in range(len(self)):
            yield self[i]


class ModuleTree:
    """A model's modules and unique parameters, with static subtree totals.

    Arrays (NumPy, indexed by module preorder index or unique parameter index): ``node_end``,
    ``occ_start``/``occ_param`` (direct parameter occurrences per module), ``numel``, ``total``
    (unique elements per subtree) and ``nparams`` (unique tensors per subtree).
    """

    def __init__(
        self,
        modules: list[nn.Module],
        names: list[str],
        parent: Sequence[int],
        occ_start: Sequence[int],
        occ_param: Sequence[int],
        occ_name: list[str],
        tensors: list[torch.Tensor],
        numel: list[int],
        first_occ: Sequence[int],
        tie_occ: dict[int, list[int]],
        requires_grad: list[bool],
        element_size: list[int],
    ) -> None:
        self.modules = modules
        self.names = names
        self._parent = parent
        self._occ_start = occ_start
        self._occ_param = occ_param
        self.occ_name = occ_name
        self.tensors = tensors
        self._numel_list = numel
        self._first_occ = first_occ
        self._tie_occ = tie_occ
        n = len(modules)
        size = [1] * n
        for i in range(n - 1, 0, -1):
            size[parent[i]] += size[i]
        self._end = array("q", [i + s for i, s in enumerate(size)])
        self.node_end = np.asarray(self._end, dtype=np.int64)
        self.occ_start = np.asarray(occ_start, dtype=np.int64)
        self.occ_param = np.asarray(occ_param, dtype=np.int64)
        self.numel = np.asarray(numel, dtype=np.int64)
        # The tensors' requires_grad flags when the tree was built, and their element sizes.
        self.requires_grad = np.asarray(requires_grad, dtype=bool)
        self.element_size = np.asarray(element_size, dtype=np.int64)
        self._node_cache: list[ModuleNode | None] = [None] * n
        # Modules whose rows (children or parameters) have been made: what a view has fetched.
        self.fetched = np.zeros(n, dtype=bool)
        self._paths: list[str] | None = None
        self._index_by_path: dict[str, int] | None = None
        self.nodes: Sequence[ModuleNode] = _LazyNodes(self)
        self.params: Sequence[ParamInfo] = _LazyParams(self)
        self.root = ModuleNode(self, 0, None, 0)
        self._node_cache[0] = self.root
        self._occ_node = self.occurrence_nodes()
        self.ties: dict[int, list[int]] = {
            p: [self._occ_node[o] for o in occs] for p, occs in tie_occ.items()
        }
        self._tie_overlap = self._compute_tie_overlap()
        everything = np.ones(len(tensors), dtype=bool)
        self.total = self.subtree_sums(everything, elements=True)
        self.nparams = self.subtree_sums(everything, elements=False)

    # ------------------------------------------------------------------------------------- lookups
    @property
    def total_params(self) -> int:
        return int(self.numel.sum())

    @property
    def paths(self) -> list[str]:
        """Dotted path of every module in preorder ('' for the root), computed once without nodes."""
        if self._paths is None:
            names, parent = self.names, self._parent
            paths = [""] * len(names)
            for i in range(1, len(names)):
                pp = paths[parent[i]]
                paths[i] = f"{pp}.{names[i]}" if pp else names[i]
            self._paths = paths
        return self._paths

    def index_of(self, path: str) -> int:
        """Preorder index of the module at ``path``; KeyError if none."""
        if self._index_by_path is None:
            self._index_by_path = {p: i for i, p in enumerate(self.paths)}
        return self._index_by_path[path]

    def node(self, path: str) -> ModuleNode:
        """The module at a dotted path ('' is the root); KeyError if none."""
        return self.nodes[self.index_of(path)]

    def occurrence_nodes(self) -> Sequence[int]:
        """Module index of every parameter occurrence."""
        counts = np.diff(self.occ_start)
        return array("q", np.repeat(np.arange(len(self.modules), dtype=np.int64), counts).tobytes())

    def occurrence_path(self, occ: int) -> str:
        """Full dotted name of one parameter occurrence."""
        node = self._occ_node[occ]
        # All paths at once when they exist; otherwise only this node's chain (no 10^5-path pass).
        path = self._paths[node] if self._paths is not None else self.nodes[node].path
        return f"{path}.{self.occ_name[occ]}" if path else self.occ_name[occ]

    def primary_name(self, param: int) -> str:
        """The first registered name of unique parameter ``param`` (no ParamInfo made)."""
        return self.occurrence_path(self._first_occ[param])

    def param_indices(self, node: ModuleNode) -> np.ndarray:
        """Indices of the unique parameters in ``node``'s subtree (tied ones may repeat)."""
        return self.occ_param[self.occ_start[node.index] : self.occ_start[node.end]]

    def direct_param_indices(self, index: int) -> np.ndarray:
        """Unique parameter indices owned directly by module ``index``."""
        return self.occ_param[self.occ_start[index] : self.occ_start[index + 1]]

    def param_names(self) -> list[str]:
        """Every parameter name, aliases included."""
        return [name for p in self.params for name in p.names]

    def fingerprint(self) -> str:
        """A short hash of the primary parameter names and shapes: identifies the architecture."""
        h = hashlib.sha256()
        path = self.occurrence_path
        h.update(
            "".join(f"{path(o)}:{tuple(t.shape)};" for o, t in zip(self._first_occ, self.tensors)).encode()
        )
        return h.hexdigest()[:16]

    # ------------------------------------------------------------------------------------- counting
    def _compute_tie_overlap(self) -> list[tuple[np.ndarray, np.ndarray, int]]:
        """For each tied parameter: the modules whose subtree holds it more than once, and how often extra."""
        overlap = []
        for pidx, occ_nodes in self.ties.items():
            extra: dict[int, int] = {}
            for ni in occ_nodes:
                i = ni
                while True:
                    extra[i] = extra.get(i, 0) + 1
                    if i == 0:
                        break
                    i = self._parent[i]
            hit = {k: v - 1 for k, v in extra.items() if v > 1}
            if hit:
                overlap.append(
                    (np.fromiter(hit.keys(), dtype=np.int64), np.fromiter(hit.values(), dtype=np.int64), pidx)
                )
        return overlap

    def subtree_sums(self, mask: np.ndarray, *, elements: bool) -> np.ndarray:
        """Per module: elements (or tensor count) of the unique parameters in its subtree where ``mask``."""
        weight = np.where(mask, self.numel if elements else 1, 0).astype(np.int64)
        occ_w = weight[self.occ_param]
        cs = np.zeros(len(occ_w) + 1, dtype=np.int64)
        np.cumsum(occ_w, out=cs[1:])
        sums = cs[self.occ_start[self.node_end]] - cs[self.occ_start[:-1]]
        for nodes, extra, pidx in self._tie_overlap:
            if weight[pidx]:
                sums[nodes] -= extra * weight[pidx]
        return sums


def build_tree(model: nn.Module) -> ModuleTree:
    """Walk ``model`` once and build its :class:`ModuleTree`.

    A module instance reused at two places appears at both (its parameters counted once).
    The cyclic garbage collector is paused during the walk: with ~10^5 new objects it would
    otherwise rescan the whole heap many times and dominate the cost.
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(model)
    finally:
        if gc_was_enabled:
            gc.enable()


def _build(model: nn.Module) -> ModuleTree:
    # Integer columns are arrays of machine ints: NumPy takes them without converting each element,
    # and the garbage collector has nothing in them to traverse.
    modules: list[nn.Module] = []
    names: list[str] = []
    parent = array("q")
    occ_start = array("q")
    occ_param = array("q")
    occ_name: list[str] = []
    tensors: list[torch.Tensor] = []
    first_occ = array("q")
    tie_occ: dict[int, list[int]] = {}
    by_id: dict[int, int] = {}
    stack: list[tuple[nn.Module, str, int]] = [(model, "", 0)]  # explicit stack: deep models exceed recursion
    # Bound methods: this loop runs once per module and parameter of models with 10^5 of them.
    pop, push = stack.pop, stack.append
    add_module, add_name, add_parent, add_start = (
        modules.append,
        names.append,
        parent.append,
        occ_start.append,
    )
    add_occ, add_occ_name, add_tensor, add_first = (
        occ_param.append,
        occ_name.append,
        tensors.append,
        first_occ.append,
    )
    get_index = by_id.get
    while stack:
        module, name, up = pop()
        i = len(modules)
        add_module(module)
        add_name(name)
        add_parent(up)
        add_start(len(occ_param))
        own = module._parameters
        if own:
            for pname, p in own.items():
                if p is None:
                    continue
                key = id(p)
                j = get_index(key)
                if j is None:
                    j = by_id[key] = len(tensors)
                    add_tensor(p)
                    add_first(len(occ_param))
                elif j in tie_occ:
                    tie_occ[j].append(len(occ_param))
                else:
                    tie_occ[j] = [first_occ[j], len(occ_param)]
                add_occ(j)
                add_occ_name(pname)
        subs = module._modules
        if subs:
            for cname, sub in reversed(subs.items()):
                if sub is not None:
                    push((sub, cname, i))
    add_start(len(occ_param))
    facts = [(t.numel(), t.requires_grad, t.element_size()) for t in tensors]
    numel, grad, elsize = (list(col) for col in zip(*facts)) if facts else ([], [], [])
    return ModuleTree(
        modules,
        names,
        parent,
        occ_start,
        occ_param,
        occ_name,
        tensors,
        numel,
        first_occ,
        tie_occ,
        grad,
        elsize,
    )
