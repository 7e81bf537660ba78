"""The module tree: one pure-Python node per module, the single model the CLI and the app render.

Modules are numbered in preorder, so a module's subtree is the contiguous range ``[node.index,
node.end)`` and each module's direct parameter occurrences are a contiguous range of the occurrence
arrays. That layout lets the selection count a subtree or set it wholesale with NumPy slices.
Parameters are identified by object identity: a tied tensor (GPT-2's ``wte``/``lm_head``) is one
:class:`ParamInfo` with two names and two occurrences, and is counted once everywhere.

Building walks the model once into flat lists; the :class:`ModuleNode` objects a view needs are made
on first access (a node's children all at once), so building the tree of a 100,000-module model costs
two to three bare ``named_modules()`` walks and only the rows someone looks at become Python objects.
"""

from __future__ import annotations

import gc
import hashlib
from array import array
from collections.abc import Iterator, Sequence
from itertools import compress, repeat
from typing import Any, NamedTuple, overload

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

    __slots__ = ("name", "info", "parent", "row", "occurrence")

    def __init__(self, name: str, info: ParamInfo, parent: ModuleNode, row: int, occurrence: int) -> None:
        self.name = name
        self.info = info
        self.parent = parent
        self.row = row
        self.occurrence = occurrence  # its number in the tree's occurrence arrays

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

    __slots__ = (
        "tree",
        "index",
        "end",
        "name",
        "path",
        "parent",
        "row",
        "depth",
        "n_params",
        "_children",
        "_params",
    )

    def __init__(self, tree: ModuleTree, index: int, parent: ModuleNode | None, row: int) -> None:
        self.tree = tree
        self.index = index
        self.end: int = tree._end[index]
        self.n_params: int = tree._occ_start[index + 1] - tree._occ_start[index]  # direct parameter rows
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
                ParamEntry(tree.occ_name[o], params[tree._occ_param[o]], self, row, o)
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
            base = self.n_params
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

    def has_rows(self) -> bool:
        """Whether a view shows rows under this node, answered without making them."""
        return self.end > self.index + 1 or self.n_params > 0

    def child_count(self) -> int:
        """Rows under this node in a view: parameters, then modules."""
        if self.end == self.index + 1:  # a leaf: no child modules to make
            return self.n_params
        children = self._children if self._children is not None else self.children
        return self.n_params + len(children)

    def child_at(self, row: int) -> ParamEntry | ModuleNode:
        n = self.n_params
        if row < n:
            return (self._params if self._params is not None else self.params)[row]
        return (self._children if self._children is not None else self.children)[row - n]

    def made_rows(self) -> tuple[int, int] | None:
        """First and last row under this node whose objects exist (a view may show them), or None.

        Parameter rows and child-module rows are made separately, each group all at once."""
        made_params = self._params is not None and self.n_params > 0
        made_kids = bool(self._children)
        if not (made_params or made_kids):
            return None
        first = 0 if made_params else self.n_params
        last = self.n_params + len(self._children or ()) - 1 if made_kids else self.n_params - 1
        return first, last

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
            info = ParamInfo(i, [tree.occurrence_path(o) for o in occs], tree.tensors[i], int(tree.numel[i]))
            self._cache[i] = info
        return info

    def __iter__(self) -> Iterator[ParamInfo]:
        for i in range(len(self)):
            yield self[i]


class ModuleTree:
    """A model's modules and unique parameters, with static subtree totals.

    Arrays (NumPy, indexed by module preorder index, occurrence or unique parameter index):
    ``node_parent``, ``node_end``, ``occ_start``/``occ_param``/``occ_node`` (direct parameter
    occurrences per module: where they start, their tensor, their module), ``first_occ`` (each
    unique tensor's first occurrence), ``numel``, ``total``
    (unique elements per subtree) and ``nparams`` (unique tensors per subtree). Readers outside
    this module use these, the nodes and the methods; the underscore attributes are its own.
    """

    def __init__(
        self,
        modules: list[nn.Module],
        names: list[str],
        parent: np.ndarray,
        node_end: np.ndarray,
        occ_start: np.ndarray,
        occ_param: np.ndarray,
        occ_name: list[str],
        tensors: list[torch.Tensor],
        first_occ: np.ndarray,
        tie_occ: dict[int, list[int]],
    ) -> None:
        self.modules = modules
        self.names = names
        self.occ_name = occ_name
        self.tensors = tensors
        self._tie_occ = tie_occ
        self.node_end = node_end
        self.occ_start = occ_start
        self.occ_param = occ_param
        # Copies as arrays of machine ints for the per-element reads of Python code (a NumPy scalar
        # per read would be slower), with nothing in them for the garbage collector to traverse.
        self._parent = _ints(parent)
        self._end = _ints(node_end)
        self._occ_start = _ints(occ_start)
        self._occ_param = _ints(occ_param)
        self._first_occ = _ints(first_occ)
        # One pass over the tensors for their element counts, the requires_grad flags they had when
        # the tree was built, and their element sizes.
        facts = [(t.numel(), t.requires_grad, t.element_size()) for t in tensors]
        numel, grad, elsize = zip(*facts) if facts else ((), (), ())
        self.numel = np.asarray(numel, dtype=np.int64)
        self.requires_grad = np.asarray(grad, dtype=bool)
        self.element_size = np.asarray(elsize, dtype=np.int64)
        n = len(modules)
        self._node_cache: list[ModuleNode | None] = [None] * n
        # Modules whose rows (children or parameters) have been made: what a view has fetched.
        self.fetched = np.zeros(n, dtype=bool)
        self._paths: list[str] | None = None
        self._occ_paths: list[str] | None = None
        self._index_by_path: dict[str, int] | None = None
        self.nodes: Sequence[ModuleNode] = _LazyNodes(self)
        self.params: Sequence[ParamInfo] = _LazyParams(self)
        self.root = ModuleNode(self, 0, None, 0)
        self._node_cache[0] = self.root
        self._occ_node = self.occurrence_nodes()
        # Public NumPy views of the same numbers, for vectorised readers (the search).
        self.node_parent = _read_only(self._parent)
        self.occ_node = _read_only(self._occ_node)
        self.first_occ = _read_only(self._first_occ)  # each unique tensor's first occurrence
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

    @property
    def occurrence_paths(self) -> list[str]:
        """Full dotted name of every parameter occurrence, in occurrence order (computed once)."""
        if self._occ_paths is None:
            paths = self.paths
            self._occ_paths = [
                f"{paths[m]}.{name}" if m else name for m, name in zip(self._occ_node, self.occ_name)
            ]
        return self._occ_paths

    def index_of(self, path: str) -> int:
        """Preorder index of the module at ``path``; KeyError if none."""
        if self._index_by_path is None:
            self._index_by_path = {p: i for i, p in enumerate(self.paths)}
        return self._index_by_path[path]

    def node(self, path: str) -> ModuleNode:
        """The module at a dotted path ('' is the root); KeyError if none."""
        return self.nodes[self.index_of(path)]

    def occurrence_nodes(self) -> array[int]:
        """Module index of every parameter occurrence."""
        counts = np.diff(self.occ_start)
        return array("q", np.repeat(np.arange(len(self.modules), dtype=np.int64), counts).tobytes())

    def made_node(self, index: int) -> ModuleNode | None:
        """The node of module ``index`` if a reader has made it already (None: nothing to update)."""
        return self._node_cache[index]

    def fetched_under(self, node: ModuleNode) -> np.ndarray:
        """Preorder indices of the modules in ``node``'s subtree whose rows have been made."""
        return np.flatnonzero(self.fetched[node.index : node.end]) + node.index

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
        sums: np.ndarray = cs[self.occ_start[self.node_end]] - cs[self.occ_start[:-1]]
        for nodes, extra, pidx in self._tie_overlap:
            if weight[pidx]:
                sums[nodes] -= extra * weight[pidx]
        return sums


def _read_only(values: array[int]) -> np.ndarray:
    view = np.frombuffer(values, dtype=np.int64)
    view.flags.writeable = False
    return view


def _ints(values: np.ndarray) -> array[int]:
    return array("q", values.astype(np.int64, copy=False).tobytes())


def build_tree(model: nn.Module) -> ModuleTree:
    """Walk ``model`` once and build its :class:`ModuleTree`.

    A module instance reused at two places appears at both (its parameters counted once).
    The cyclic garbage collector is paused during the walk: with ~10^5 new objects it would
    otherwise rescan the whole heap several times.
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(model)
    finally:
        if gc_was_enabled:
            gc.enable()


_CLOSE = object()  # a stack mark: the subtree of the module below it ends here


class _Occurrences(NamedTuple):
    """Parameter occurrences in model order, and the unique tensors behind them."""

    occ_start: np.ndarray  # per module: its first occurrence (one more entry: the end)
    occ_param: np.ndarray  # per occurrence: the number of its unique tensor
    occ_name: list[str]  # per occurrence: its local name
    tensors: list[torch.Tensor]  # unique tensors, numbered by first occurrence
    first_occ: np.ndarray  # per unique tensor: its first occurrence
    tie_occ: dict[int, list[int]]  # per tensor with several names: all its occurrences


def _build(model: nn.Module) -> ModuleTree:
    """One preorder pass with an explicit stack (deep models exceed the recursion limit).

    The pass does as little as possible per module and nothing per parameter in Python: a module's
    parameters and children go into the lists by C-level ``extend`` calls, and identity is sorted
    out afterwards by NumPy. Memory access matters as much as the statement count on 10^5 modules:
    a level-by-level variant with even fewer Python statements, which visits each module's dicts in
    several passes, was slower.
    """
    modules: list[nn.Module] = []
    names: list[str] = []
    parent = array("q")
    occ_start = array("q")
    occ: list[torch.Tensor | None] = []
    occ_name: list[str] = []
    closed, closed_at = array("q"), array("q")  # modules with children, and where their subtree ends
    stack: list[tuple[Any, str, int]] = [(model, "", 0)]  # module, its name, its parent
    pop, push, push_all = stack.pop, stack.append, stack.extend
    add_module, add_name, add_parent, add_start = (
        modules.append,
        names.append,
        parent.append,
        occ_start.append,
    )
    add_occ, add_occ_names, add_closed, add_closed_at = (
        occ.extend,
        occ_name.extend,
        closed.append,
        closed_at.append,
    )
    while stack:
        module, name, up = pop()
        if module is _CLOSE:
            add_closed(up)
            add_closed_at(len(modules))
            continue
        if module is None:  # a submodule slot set to None
            continue
        i = len(modules)
        add_module(module)
        add_name(name)
        add_parent(up)
        add_start(len(occ))
        own = module._parameters
        if own:
            add_occ(own.values())
            add_occ_names(own.keys())
        subs = module._modules
        if subs:
            push((_CLOSE, "", i))
            push_all(zip(reversed(subs.values()), reversed(subs.keys()), repeat(i)))
    add_start(len(occ))
    n = len(modules)
    node_end = np.arange(1, n + 1, dtype=np.int64)  # a leaf's subtree is itself
    node_end[np.frombuffer(closed, dtype=np.int64)] = np.frombuffer(closed_at, dtype=np.int64)
    found = _unique(np.frombuffer(occ_start, dtype=np.int64), occ, occ_name)
    return ModuleTree(modules, names, np.frombuffer(parent, dtype=np.int64), node_end, *found)


def _unique(occ_start: np.ndarray, occ: list[torch.Tensor | None], occ_name: list[str]) -> _Occurrences:
    """Drop parameter slots set to None (``bias=False`` layers register one) and number the unique
    tensors by identity, in order of first occurrence."""
    ids = np.fromiter(map(id, occ), dtype=np.int64, count=len(occ))
    unset = ids == id(None)
    if unset.any():
        keep = ~unset
        lens = np.diff(occ_start)
        lens = np.bincount(np.repeat(np.arange(len(lens)), lens)[keep], minlength=len(lens))
        occ, occ_name, ids = list(compress(occ, keep)), list(compress(occ_name, keep)), ids[keep]
        occ_start = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(lens, out=occ_start[1:])
    tensors: list[torch.Tensor] = occ  # type: ignore[assignment]  # no None left
    unique, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    if len(unique) == len(ids):  # no tensor has two names: occurrences are the tensors
        index = np.arange(len(ids), dtype=np.int64)
        return _Occurrences(occ_start, index, occ_name, tensors, index, {})
    rank = np.argsort(first, kind="stable")  # unique tensors in order of first occurrence
    number = np.empty(len(unique), dtype=np.int64)
    number[rank] = np.arange(len(unique), dtype=np.int64)
    occ_param = number[inverse]
    first_occ = first[rank]
    times = np.bincount(occ_param, minlength=len(unique))
    by_tensor = np.argsort(occ_param, kind="stable")  # occurrences grouped by tensor, in order
    ends = np.cumsum(times)
    tie_occ = {int(p): by_tensor[ends[p] - times[p] : ends[p]].tolist() for p in np.flatnonzero(times > 1)}
    return _Occurrences(
        occ_start, occ_param, occ_name, [tensors[k] for k in first_occ.tolist()], first_occ, tie_occ
    )
