"""A LoRA selection as a Hugging Face PEFT ``LoraConfig``, and back, under PEFT's own matching rules.

PEFT matches ``target_modules`` given as a string with ``re.fullmatch`` on a module's name, and as a
list by equality or ``name.endswith("." + entry)`` (then filtered by ``layers_to_transform``); it
matches ``modules_to_save`` by a bare ``name.endswith(entry)``, so ``head`` also hits ``lm_head``.
The export picks the shortest form whose meaning under those rules is exactly the selection, checks
it by replaying the rules over every module name, and refuses (with the reason) what PEFT cannot
express. The import replays the same rules over the model. PEFT itself is not imported here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from freezegui.core import standard_json
from freezegui.core.errors import FreezeguiError, RuleError
from freezegui.core.interop.peft_defaults import ALL_LINEAR, all_linear_names, resolve_config
from freezegui.core.interop.peft_files import check_peft_config, read_safetensors_header
from freezegui.core.interop.quoting import SPEC_NAME, python_spec_statement
from freezegui.core.rules.lora import (
    LoraBias,
    LoraSettings,
    LoraSpec,
    adaptable_mask,
    adapter_sizes,
    bias_mask,
    targets_from_adapted,
)
from freezegui.core.rules.patterns import Pattern
from freezegui.core.rules.regex import (
    BoundedRegex,
    PatternBudgetError,
    RegexSyntaxError,
    budget_source,
    compile_bounded,
)
from freezegui.core.rules.ruleset import RuleSet, rules_from_selection
from freezegui.core.rules.yaml_reader import read_limited
from freezegui.core.structure.tree import ModuleTree

_LAYER_ANY = re.compile(r".*?\.[^.]*\.(?P<idx>\d+)\.")


class PeftExportError(FreezeguiError):
    """A selection PEFT's LoraConfig cannot express; the message says why."""


# ------------------------------------------------------------------------------------- PEFT's rules
def layer_index(key: str, layers_pattern: str | list[str] | None = None) -> int | None:
    """The layer number PEFT reads from a module name for ``layers_to_transform``."""
    if not layers_pattern:
        match = _LAYER_ANY.match(key)
        return int(match.group("idx")) if match else None
    patterns = [layers_pattern] if isinstance(layers_pattern, str) else layers_pattern
    for pattern in patterns:
        regex = _peft_regex(rf"(?:^|.*?\.){pattern}\.(?P<idx>\d+)\.", "layers_pattern", pattern)
        groups = _bounded(regex, "layers_pattern", pattern, key, regex.groups)
        if groups is not None:
            return int(groups["idx"] or 0)
    return None


def _peft_regex(regex: str, key: str, entry: str) -> BoundedRegex:
    """A regex PEFT builds from a config entry, compiled to match in bounded time."""
    try:
        return compile_bounded(regex)
    except RegexSyntaxError as exc:
        raise RuleError(f"`{key}` entry {entry!r} is not a valid regex: {exc.reason}") from None


def _bounded(regex: BoundedRegex, key: str, entry: str, name: str, test: Callable[[str], Any]) -> Any:
    try:
        return test(name)
    except PatternBudgetError:
        raise PatternBudgetError(f"{key}: {entry}", name) from None


def target_matches(config: Mapping[str, Any], key: str) -> bool:
    """Whether PEFT puts an adapter on the module named ``key`` (``check_target_module_exists``)."""
    exclude = config.get("exclude_modules")
    if exclude:
        if isinstance(exclude, str):
            regex = _peft_regex(exclude, "exclude_modules", exclude)
            if _bounded(regex, "exclude_modules", exclude, key, regex.fullmatch):
                return False
        elif key in exclude or any(key.endswith(f".{e}") for e in exclude):
            return False
    saved = config.get("modules_to_save")
    for m in saved or ():
        regex = _peft_regex(rf"(^|.*\.){m}($|\..*)", "modules_to_save", m)
        if _bounded(regex, "modules_to_save", m, key, regex.match):
            return False
    targets = config.get("target_modules")
    if targets is None:
        return False
    if isinstance(targets, str):
        regex = _peft_regex(targets, "target_modules", targets)
        return bool(_bounded(regex, "target_modules", targets, key, regex.fullmatch))
    if key in targets:
        return True
    if not any(key.endswith(f".{t}") for t in targets):
        return False
    layers = config.get("layers_to_transform")
    if layers is None or (isinstance(layers, list) and not layers):
        return True
    index = layer_index(key, config.get("layers_pattern"))
    if index is None:
        return False
    return index == layers if isinstance(layers, int) else index in layers


def saved_matches(modules_to_save: Iterable[str] | None, key: str) -> bool:
    """Whether PEFT's ``modules_to_save`` wraps (trains a copy of) the module named ``key``."""
    return bool(key) and any(key.endswith(m) for m in modules_to_save or ())


# ------------------------------------------------------------------------------------------- export
@dataclass
class PeftExport:
    """An exported config and what it means."""

    config: dict[str, Any]
    adapted: list[str]
    modules_to_save: list[str] = field(default_factory=list)

    def json(self) -> str:
        return standard_json.dumps(self.config) + "\n"

    def python(self) -> str:
        """A ``lora.py`` snippet that builds the same ``LoraConfig``."""
        skip = {"peft_type", "base_model_name_or_path"}
        args = "".join(f"    {k}={v!r},\n" for k, v in self.config.items() if k not in skip)
        spec = self.config.get("base_model_name_or_path")
        return (
            "# LoRA configuration exported by freezegui"
            + (f" for the model in {SPEC_NAME}" if spec else "")
            + ".\n"
            f"# Adapts {len(self.adapted)} module(s); modules_to_save trains {len(self.modules_to_save)} fully.\n"
            "from peft import LoraConfig, get_peft_model\n\n"
            + (python_spec_statement(str(spec)) + "\n" if spec else "")
            + f"config = LoraConfig(\n{args})\n\n"
            "# model = get_peft_model(model, config)\n"
        )


def to_peft(
    tree: ModuleTree,
    trainable: np.ndarray,
    adapted: np.ndarray,
    settings: LoraSettings,
    *,
    spec: str | None = None,
) -> PeftExport:
    """The shortest exact ``LoraConfig`` for a selection; :class:`PeftExportError` when there is none."""
    adapted = np.asarray(adapted, dtype=bool)
    paths = tree.paths
    if not adapted.any():
        raise PeftExportError("no module is adapted: a PEFT LoRA config needs at least one target module")
    saved_idx = _saved_modules(tree, np.asarray(trainable, dtype=bool), adapted, settings)
    saved = [_saved_entry(tree, i, saved_idx) for i in saved_idx]
    config: dict[str, Any] = {"peft_type": "LORA"}
    if spec:
        config["base_model_name_or_path"] = spec
    config.update(
        r=settings.r,
        lora_alpha=settings.as_dict()["lora_alpha"],
        lora_dropout=float(settings.dropout),
        use_dora=bool(settings.use_dora),
        bias=settings.bias.value,
    )
    config.update(_shortest_targets(tree, adapted, saved))
    if saved:
        config["modules_to_save"] = saved
    check = resolve_config(config, tree).config  # `all-linear` replayed as PEFT expands it
    got = np.fromiter((i > 0 and target_matches(check, p) for i, p in enumerate(paths)), dtype=bool)
    if not np.array_equal(got, adapted):
        wrong = [paths[i] for i in np.flatnonzero(got != adapted)[:3].tolist()]
        raise PeftExportError(
            "PEFT's target matching cannot single out these adapters next to modules_to_save "
            f"(it would differ at {', '.join(wrong)})"
        )
    return PeftExport(
        config, [paths[i] for i in np.flatnonzero(adapted).tolist()], [paths[i] for i in saved_idx]
    )


def _saved_modules(
    tree: ModuleTree, trainable: np.ndarray, adapted: np.ndarray, settings: LoraSettings
) -> list[int]:
    """The top-most fully trained modules; refuses tensors PEFT cannot train on their own."""
    extra = bias_mask(tree, adapted, settings.bias)
    want = trainable & ~extra
    # A module trains fully when all its tensors do, some of them biases the bias setting trains.
    ntrain = tree.subtree_sums(trainable | extra, elements=False)
    out: list[int] = []
    covered = np.zeros(len(tree.params), dtype=bool)
    i, n = 1, len(tree.modules)
    while i < n:
        node_params = tree.param_indices(tree.nodes[i]) if ntrain[i] == tree.nparams[i] else None
        if tree.nparams[i] and node_params is not None and want[node_params].any():
            out.append(i)
            covered[tree.param_indices(tree.nodes[i])] = True
            i = int(tree.node_end[i])
        else:
            i += 1
    loose = np.flatnonzero(want & ~covered)
    if loose.size:
        name = tree.primary_name(int(loose[0]))
        owner = name.rsplit(".", 1)[0] if "." in name else "(model)"
        raise PeftExportError(
            f"`{name}` trains but the rest of `{owner}` does not: PEFT trains whole modules "
            f"(modules_to_save), or biases with bias=all/lora_only"
        )
    for p, owners in tree.ties.items():
        if covered[p] and len({_top(tree, o, out) for o in owners}) > 1:
            names = " and ".join(tree.params[p].names)
            raise PeftExportError(
                f"{names} are one tied tensor: PEFT's modules_to_save copies each module, untying them"
            )
    return out


def _top(tree: ModuleTree, node: int, tops: list[int]) -> int:
    for t in tops:
        if t <= node < tree.node_end[t]:
            return t
    return -1


def _saved_entry(tree: ModuleTree, index: int, saved: list[int]) -> str:
    """The shortest ``modules_to_save`` entry whose bare-suffix match hits only selected modules."""
    paths = tree.paths
    chosen = set(saved)
    segs = paths[index].split(".")
    for k in range(1, len(segs) + 1):
        tail = ".".join(segs[-k:])
        for entry in (tail, "." + tail) if k < len(segs) else (tail,):
            hits = {j for j, p in enumerate(paths) if j and p.endswith(entry)}
            if hits <= chosen:
                return entry
    others = [p for j, p in enumerate(paths) if j and j not in chosen and p.endswith(paths[index])]
    raise PeftExportError(
        f"PEFT matches modules_to_save by bare name suffix: training `{paths[index]}` fully would also "
        f"train `{others[0]}`; select that too, or rename the module"
    )


def _shortest_targets(tree: ModuleTree, adapted: np.ndarray, saved: list[str]) -> dict[str, Any]:
    """Candidate ``target_modules`` forms, each exact on its own; the shortest when written.

    ``all-linear`` is a candidate when PEFT's expansion, less what ``modules_to_save`` guards from
    adapters, is exactly the adapted set."""
    paths = tree.paths
    idx = np.flatnonzero(adapted).tolist()
    candidates: list[dict[str, Any]] = []
    guard = {"modules_to_save": saved, "target_modules": all_linear_names(tree)}
    linear = np.fromiter((i > 0 and target_matches(guard, p) for i, p in enumerate(paths)), dtype=bool)
    if np.array_equal(linear, adapted):
        candidates.append({"target_modules": ALL_LINEAR})
    plain = _suffixes(paths, idx, adapted, None)
    if plain is not None:
        candidates.append({"target_modules": plain})
    layers = {layer_index(paths[i]) for i in idx}
    if None not in layers:
        chosen = sorted(int(x) for x in layers if x is not None)
        by_layer = _suffixes(paths, idx, adapted, chosen)
        if by_layer is not None:
            candidates.append({"target_modules": by_layer, "layers_to_transform": chosen})
    candidates.append({"target_modules": _regex(paths, idx)})
    return min(candidates, key=lambda c: len(json.dumps(c)))


def _suffixes(
    paths: list[str], idx: list[int], adapted: np.ndarray, layers: list[int] | None
) -> list[str] | None:
    """Per adapted module the shortest name suffix that matches no module left out (PEFT list rules)."""
    out: list[str] = []
    for i in idx:
        segs = paths[i].split(".")
        for k in range(1, len(segs) + 1):
            entry = ".".join(segs[-k:])
            if entry in out:
                break
            cfg = {"target_modules": [entry], "layers_to_transform": layers}
            if not any(j and not adapted[j] and target_matches(cfg, p) for j, p in enumerate(paths)):
                out.append(entry)
                break
        else:  # pragma: no cover - the full path always works for the list form without layers
            return None
    return sorted(out)


def minimal_target_suffixes(targets: Iterable[str], others: Iterable[str]) -> set[str]:
    """The shortest name suffixes that, as a PEFT ``target_modules`` list, hit every name of
    ``targets`` and none of ``others`` (what PEFT's ``_find_minimal_target_modules`` computes)."""
    wanted = sorted(set(targets))
    names = ["", *wanted, *sorted(set(others))]
    adapted = np.zeros(len(names), dtype=bool)
    adapted[1 : len(wanted) + 1] = True
    return set(_suffixes(names, list(range(1, len(wanted) + 1)), adapted, None) or ())


def _regex(paths: list[str], idx: list[int]) -> str:
    """One regex (``re.fullmatch``) naming exactly the adapted modules; block indices grouped."""
    groups: dict[tuple[str, str], list[str]] = {}
    order: list[tuple[str, str]] = []
    for i in idx:
        m = re.match(r"^(.*?\.)(\d+)(\..*)$", paths[i])
        key = (m.group(1), m.group(3)) if m else (paths[i], "")
        if key not in groups:
            groups[key] = []
            order.append(key)
        if m:
            groups[key].append(m.group(2))
    parts = []
    for pre, post in order:
        nums = groups[(pre, post)]
        if not nums:
            parts.append(re.escape(pre))
        else:
            alt = nums[0] if len(nums) == 1 else "(?:" + "|".join(nums) + ")"
            parts.append(re.escape(pre) + alt + re.escape(post))
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


# ------------------------------------------------------------------------------------------- import
@dataclass
class PeftImport:
    """A PEFT config read against a model: the rule file and what did not fit."""

    rules: RuleSet
    problems: list[str]
    adapted: np.ndarray
    trainable: np.ndarray
    notes: list[str] = field(default_factory=list)  # what PEFT fills in (default targets, task heads)
    saved: list[int] = field(default_factory=list)  # modules modules_to_save wraps (PEFT copies each)


def read_peft_config(text: str, source: str | None = None) -> dict[str, Any]:
    """An ``adapter_config.json``'s mapping; a clear :class:`RuleError` when it is not one."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuleError(f"not valid JSON: {exc.msg} (line {exc.lineno})", source=source) from None
    if not isinstance(data, dict):
        raise RuleError("a PEFT adapter_config.json must be a JSON object", source=source)
    kind = str(data.get("peft_type", "LORA")).upper()
    if kind != "LORA":
        raise RuleError(f"peft_type {kind} is not LoRA; freezegui reads LoRA configs", source=source)
    for key in ("rank_pattern", "alpha_pattern"):
        if data.get(key):
            raise RuleError(f"`{key}` gives modules their own rank/alpha; a rule file has one", source=source)
    if data.get("target_parameters"):
        raise RuleError("`target_parameters` (LoRA on raw parameters) has no rule-file form", source=source)
    check_peft_config(data, source)
    try:  # every regex PEFT builds from the config, compiled now: a bad one names the file
        for key in ("target_modules", "exclude_modules"):
            if isinstance(data.get(key), str):
                _peft_regex(data[key], key, data[key])
        for m in data.get("modules_to_save") or ():
            _peft_regex(rf"(^|.*\.){m}($|\..*)", "modules_to_save", m)
        layers = data.get("layers_pattern")
        for pattern in [layers] if isinstance(layers, str) else layers or ():
            _peft_regex(rf"(?:^|.*?\.){pattern}\.(?P<idx>\d+)\.", "layers_pattern", pattern)
    except RuleError as exc:
        raise RuleError(str(exc), source=source) from None
    return data


def from_peft(config: Mapping[str, Any], tree: ModuleTree, *, source: str | None = None) -> PeftImport:
    """Rules (default freeze, modules_to_save trained, a ``lora:`` section) meaning what PEFT does,
    after PEFT's own preparation (:func:`resolve_config`: default targets, task heads, all-linear)."""
    with budget_source(source):  # a pattern over its time budget names the config file
        return _from_peft(config, tree, source)


def _from_peft(config: Mapping[str, Any], tree: ModuleTree, source: str | None) -> PeftImport:
    paths = tree.paths
    resolved = resolve_config(config, tree)
    cfg = resolved.config
    problems: list[str] = []
    matched = np.fromiter((i > 0 and target_matches(cfg, p) for i, p in enumerate(paths)), dtype=bool)
    able = adaptable_mask(tree)
    for i in np.flatnonzero(matched & ~able).tolist():
        problems.append(
            f"target `{paths[i]}` ({type(tree.modules[i]).__name__}) is not a type LoRA adapts; PEFT would refuse it"
        )
    adapted = matched & able
    problems += _unmatched_entries(cfg, paths)
    saved_entries = list(cfg.get("modules_to_save") or [])
    saved = [i for i, p in enumerate(paths) if saved_matches(saved_entries, p)]
    for entry in config.get("modules_to_save") or []:
        if not any(p.endswith(entry) for p in paths[1:]):
            problems.append(f"modules_to_save entry {entry!r} matches no module")
    trainable = np.zeros(len(tree.params), dtype=bool)
    for i in saved:
        trainable[tree.param_indices(tree.nodes[i])] = True
    rs = rules_from_selection(tree, trainable, prefer="freeze")
    try:
        settings = LoraSettings(
            r=int(config.get("r", 8)),
            lora_alpha=config.get("lora_alpha", 8),
            dropout=float(config.get("lora_dropout", 0.0) or 0.0),
            use_dora=bool(config.get("use_dora", False)),
            bias=LoraBias(config.get("bias", "none")),
        )
    except (FreezeguiError, TypeError, ValueError) as exc:  # absurd values of the right type: r = 10**9
        raise RuleError(str(exc), source=source) from None
    rs.lora = LoraSpec(settings, [Pattern.compile(t) for t in targets_from_adapted(tree, adapted)])
    rs.source = source
    return PeftImport(rs, problems, adapted, trainable, resolved.notes, saved)


def _unmatched_entries(cfg: Mapping[str, Any], paths: list[str]) -> list[str]:
    targets = cfg.get("target_modules")
    out: list[str] = []
    if targets is None:
        return ["target_modules is empty: PEFT would add no adapter"]
    entries = [targets] if isinstance(targets, str) else list(targets)
    for entry in entries:
        one = {**cfg, "target_modules": entry if isinstance(targets, str) else [entry]}
        if not any(target_matches(one, p) for p in paths[1:]):
            unguarded = {**one, "modules_to_save": None}
            guarded = any(target_matches(unguarded, p) for p in paths[1:])
            out.append(
                f"target_modules entry {entry!r} names only modules_to_save modules: PEFT trains them fully "
                "and never adapts them"
                if guarded
                else f"target_modules entry {entry!r} matches no module"
            )
    layers = cfg.get("layers_to_transform")
    if layers is not None and not isinstance(targets, str):
        wanted = [layers] if isinstance(layers, int) else list(layers)
        present = {layer_index(p, cfg.get("layers_pattern")) for p in paths}
        out += [f"layers_to_transform {n} is not a layer of this model" for n in wanted if n not in present]
    return out


def read_adapter_folder(folder: Path, tree: ModuleTree) -> tuple[PeftImport, list[str]]:
    """A saved PEFT adapter (``adapter_config.json``, and ``adapter_model.safetensors`` when there)
    on the base model ``tree``; the saved tensors are checked against the config's adapters."""
    path = folder / "adapter_config.json" if folder.is_dir() else folder
    config = read_peft_config(read_limited(path, "adapter config"), source=str(path))
    imported = from_peft(config, tree, source=str(path))
    problems = list(imported.problems)
    weights = path.parent / "adapter_model.safetensors"
    if weights.is_file():  # checked whole (header, sizes, length) and against the config: an error
        expected = int(adapter_sizes(tree, imported.rules.lora.settings)[imported.adapted].sum())  # type: ignore[union-attr]
        header = read_safetensors_header(weights)
        saved = sum(entry.numel for key, entry in header.items() if "lora_" in key)
        if saved != expected:
            raise RuleError(
                f"holds {saved:,} LoRA parameters; {path.name} on this model gives {expected:,} "
                "(another base model or rank?)",
                source=str(weights),
            )
    return imported, problems
