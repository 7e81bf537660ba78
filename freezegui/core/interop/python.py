"""A self-contained Python snippet that reproduces a selection in a training script without freezegui.

For people who cannot (or will not) add a dependency to their training code: the snippet carries the
selection as an ordered list of exact parameter names or module prefixes, tests them by whole dotted
segments (``name == p or name.startswith(p + ".")``, never substrings: ``fc`` must not hit ``fc1``),
and asserts the resulting counts so a changed model fails loudly instead of training the wrong thing.
"""

from __future__ import annotations

import numpy as np

from freezegui.core.errors import FreezeguiError
from freezegui.core.interop.common import shortest_prefix_rules, summary_line
from freezegui.core.interop.quoting import SPEC_NAME, python_spec_statement
from freezegui.core.structure.tree import ModuleTree

PYTHON_METHODS = ("requires_grad", "lr_zero")
_ALIASES = {"param_groups": "lr_zero", "lr0": "lr_zero"}
_NORM_TYPES = ("BatchNorm", "InstanceNorm")

_COMMON = '''\
import torch

# Applied in order; the last entry that covers a parameter decides ({default_word} by default).
# An entry covers a parameter name that equals it or starts with it followed by "." (whole segments).
DEFAULT_TRAINABLE = {default}
RULES = [  # (trains, exact parameter name or module prefix)
{rules}]
EXPECTED = {{"tensors": {tensors}, "trainable_tensors": {train_tensors}, "trainable_elements": {train_elems}}}


def _covers(prefix, name):
    return name == prefix or name.startswith(prefix + ".")


def trainable_flags(model):
    """[(parameter, trains)] for each unique tensor; a tied tensor is tested under all its names."""
    by_id = {{}}
    for name, p in model.named_parameters(remove_duplicate=False):
        by_id.setdefault(id(p), (p, []))[1].append(name)
    used = set()
    out = []
    for p, names in by_id.values():
        trains = DEFAULT_TRAINABLE
        for i, (rule_trains, prefix) in enumerate(RULES):
            if any(_covers(prefix, n) for n in names):
                trains = rule_trains
                used.add(i)
        out.append((p, trains))
    missed = [prefix for i, (_, prefix) in enumerate(RULES) if i not in used]
    assert not missed, f"these names/prefixes match no parameter (a different model?): {{missed}}"
    got = {{
        "tensors": len(out),
        "trainable_tensors": sum(1 for _, t in out if t),
        "trainable_elements": sum(p.numel() for p, t in out if t),
    }}
    assert got == EXPECTED, f"selection does not fit this model: expected {{EXPECTED}}, got {{got}}"
    return out
'''

_METHOD1 = '''

def apply_freeze(model):
    """Method 1: frozen parameters get requires_grad=False (no gradients, no optimizer state)."""
    flags = trainable_flags(model)
    for p, trains in flags:
        p.requires_grad_(trains)
    return [p for p, trains in flags if trains]


# Usage:
#   trainable = apply_freeze(model)          # before wrapping in DDP/FSDP and before the optimizer
#   optimizer = torch.optim.AdamW(trainable, lr=1e-4)
'''

_METHOD2 = '''

def param_groups(model, lr, weight_decay=0.0):
    """Method 2: every parameter keeps requires_grad=True; frozen ones sit in a group with lr 0 and
    weight decay 0, so the optimizer never moves them (gradients are still computed)."""
    flags = trainable_flags(model)
    for p, _ in flags:
        p.requires_grad_(True)
    train = [p for p, trains in flags if trains]
    frozen = [p for p, trains in flags if not trains]
    groups = []
    if train:
        groups.append({"params": train, "lr": lr, "weight_decay": weight_decay})
    if frozen:
        groups.append({"params": frozen, "lr": 0.0, "weight_decay": 0.0})
    return groups


# Usage:
#   optimizer = torch.optim.AdamW(param_groups(model, lr=1e-4, weight_decay=0.01), lr=1e-4)
# A learning-rate scheduler scales every group's lr; 0 stays 0.
'''

_NORMS = '''

def _keep_eval(module, args):
    module.training = False


def keep_frozen_norms_in_eval(model):
    """Frozen BatchNorm layers still update running statistics in train mode; pin them to eval mode."""
    trains = {id(p): t for p, t in trainable_flags(model)}
    for module in model.modules():
        params = list(module.parameters(recurse=False))
        norm = isinstance(module, torch.nn.modules.batchnorm._NormBase) and module.track_running_stats
        if norm and params and not any(trains[id(p)] for p in params):
            module.register_forward_pre_hook(_keep_eval)
            module.training = False
'''


def _method(method: str) -> str:
    method = _ALIASES.get(method, method)
    if method not in PYTHON_METHODS:
        raise FreezeguiError(
            f"unknown method {method!r} for the Python snippet; use requires_grad (method 1) or lr_zero "
            f"(method 2: optimizer param groups with lr 0)"
        )
    return method


def to_python(
    tree: ModuleTree,
    trainable: np.ndarray,
    method: str = "requires_grad",
    *,
    spec: str | None = None,
    batchnorm: str = "frozen_stats",
) -> str:
    """A snippet that needs only torch and reproduces ``trainable`` on the same architecture.

    ``method``: ``requires_grad`` (method 1) or ``lr_zero`` (method 2, param groups). With
    ``batchnorm="frozen_stats"`` and norm layers in the model, a helper pins frozen ones to eval mode.
    """
    method = _method(method)
    mask = np.asarray(trainable, dtype=bool)
    if mask.shape != (len(tree.params),):
        raise FreezeguiError(
            f"the selection has {mask.size} flags but the model has {len(tree.params)} tensors"
        )
    default, rules = shortest_prefix_rules(tree, mask)
    rule_lines = "".join(f"    ({trains!r}, {path!r}),\n" for trains, path in rules)
    header = [
        "# Freeze selection exported by freezegui" + (f" for the model in {SPEC_NAME}" if spec else "") + ".",
        f"# {summary_line(tree, mask)}; architecture fingerprint {tree.fingerprint()}.",
        "# Self-contained: needs only torch. Run it after building `model` and before the optimizer.",
    ]
    body = _COMMON.format(
        default_word="trainable" if default else "frozen",
        default=default,
        rules=rule_lines,
        tensors=len(tree.params),
        train_tensors=int(mask.sum()),
        train_elems=int(tree.numel[mask].sum()),
    )
    body += _METHOD1 if method == "requires_grad" else _METHOD2
    has_norms = any(t in node.type_name for node in tree.nodes for t in _NORM_TYPES)
    if has_norms and batchnorm == "frozen_stats":
        body += _NORMS
        body += "\n\n# Also call keep_frozen_norms_in_eval(model) once, after freezing.\n"
    spec_line = python_spec_statement(spec) if spec else ""
    return "\n".join(header) + "\n" + spec_line + body
