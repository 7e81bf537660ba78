"""The Python snippet for rule files with lr scales or a schedule: param groups and a Schedule, torch only.

Every stage (before any stage, then from each ``at`` on) is carried as its own shortest list of
``(scale, exact name or module prefix)`` entries, scale 0.0 meaning frozen, so the snippet needs no
pattern matching beyond whole dotted segments. Its ``param_groups`` makes one group per distinct
per-stage scales (the members never change); its ``Schedule`` sets each group's lr when a stage comes
and drops the gradients of groups at scale 0 so that the optimizer holds no state for them.
"""

from __future__ import annotations

from freezegui.core.interop.common import rule_path
from freezegui.core.interop.quoting import SPEC_NAME, python_spec_statement
from freezegui.core.lr.groups import stage_states
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.rules.writer import rules_with_scales
from freezegui.core.structure.tree import ModuleTree

_BODY = '''\
import torch

METHOD = {method!r}  # "lr_zero": every tensor keeps requires_grad; "requires_grad": frozen ones lose it
# Per stage: when it starts, the scale of a tensor no entry covers, and (scale, name or module prefix)
# entries applied in order; the last entry that covers a parameter name decides. Scale 0.0 = frozen.
STAGES = [
{stages}]
EXPECTED_TENSORS = {tensors}


def _covers(prefix, name):
    return name == prefix or name.startswith(prefix + ".")


def stage_scales(model):
    """[(parameter, its scale in each stage)] for each unique tensor (tied ones tested under all names)."""
    by_id = {{}}
    for name, p in model.named_parameters(remove_duplicate=False):
        by_id.setdefault(id(p), (p, []))[1].append(name)
    assert len(by_id) == EXPECTED_TENSORS, f"expected {{EXPECTED_TENSORS}} tensors, got {{len(by_id)}}"
    used = set()
    out = []
    for p, names in by_id.values():
        row = []
        for k, stage in enumerate(STAGES):
            scale = stage["default"]
            for i, (s, prefix) in enumerate(stage["rules"]):
                if any(_covers(prefix, n) for n in names):
                    scale = s
                    used.add((k, i))
            row.append(scale)
        out.append((p, tuple(row)))
    missed = [r[1] for k, st in enumerate(STAGES) for i, r in enumerate(st["rules"]) if (k, i) not in used]
    assert not missed, f"these names/prefixes match no parameter (a different model?): {{missed}}"
    return out


def param_groups(model, lr, weight_decay=0.0):
    """One group per distinct per-stage scales: lr = lr x scale, frozen groups at lr 0 and weight decay 0."""
    groups = {{}}
    for p, row in stage_scales(model):
        p.requires_grad_(METHOD == "lr_zero" or row[0] > 0)
        groups.setdefault(row, []).append(p)
    return [
        {{"params": ps, "lr": lr * row[0], "weight_decay": weight_decay if row[0] else 0.0,
         "lr_scale": row[0], "stage_scales": row}}
        for row, ps in groups.items()
    ]


class Schedule:
    """Gradual unfreezing: call step(global_step, epoch) before each optimizer step."""

    def __init__(self, optimizer, lr, weight_decay=0.0):
        self.optimizer, self.lr, self.weight_decay, self.done = optimizer, lr, weight_decay, 0
        optimizer.register_step_pre_hook(self._drop_frozen_grads)

    def step(self, global_step, epoch=0):
        while self.done + 1 < len(STAGES):
            unit, at = STAGES[self.done + 1]["at"]
            if (global_step if unit == "step" else epoch) < at:
                break
            self.done += 1
            for g in self.optimizer.param_groups:
                scale = g["stage_scales"][self.done]
                g["lr_scale"], g["lr"] = scale, self.lr * scale
                g["weight_decay"] = self.weight_decay if scale else 0.0
                if METHOD == "requires_grad":
                    for p in g["params"]:
                        p.requires_grad_(scale > 0)

    def _drop_frozen_grads(self, optimizer, args, kwargs):
        # AdamW at lr 0 would still build moments from these gradients: drop them while frozen.
        for g in optimizer.param_groups:
            if g["lr_scale"] == 0:
                for p in g["params"]:
                    p.grad = None


# Usage:
#   optimizer = torch.optim.AdamW(param_groups(model, lr=1e-4, weight_decay=0.01))
#   schedule = Schedule(optimizer, lr=1e-4, weight_decay=0.01)
#   for step, batch in enumerate(loader):
#       schedule.step(step, epoch)
#       ...  # forward, backward, optimizer.step()
# Frozen BatchNorm layers still update their running statistics in train mode: call .eval() on them.
'''


def to_python_staged(tree: ModuleTree, rules: RuleSet, *, spec: str | None = None) -> str:
    """The snippet for ``rules`` (scales and/or a schedule) on ``tree``'s architecture."""
    lines = []
    for k, (mask, scales) in enumerate(stage_states(tree, rules)):
        rs = rules_with_scales(tree, mask, scales)
        entries = "".join(
            f"        ({(r.lr_scale or 1.0) if r.trainable else 0.0!r}, {rule_path(r.pattern.text)!r}),\n"
            for r in rs.rules
        )
        at = None if k == 0 else (rules.schedule[k - 1].unit, rules.schedule[k - 1].at)
        default = 1.0 if rs.default == "train" else 0.0
        lines.append(f'    {{"at": {at!r}, "default": {default!r}, "rules": [\n{entries}    ]}},\n')
    header = [
        "# Learning-rate scales"
        + (" and gradual unfreezing" if rules.schedule else "")
        + " exported by freezegui"
        + (f" for the model in {SPEC_NAME}" if spec else "")
        + ".",
        f"# Architecture fingerprint {tree.fingerprint()}. Self-contained: needs only torch.",
    ]
    body = _BODY.format(method=str(rules.method), stages="".join(lines), tensors=len(tree.params))
    spec_line = python_spec_statement(spec) if spec else ""
    return "\n".join(header) + "\n" + spec_line + body
