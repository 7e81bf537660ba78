"""freezegui: choose which layers of a PyTorch model to freeze, and apply the choice in one call.

import freezegui
model = freezegui.load_model("torchvision:resnet18", num_classes=10)
report = freezegui.apply_rules(model, "resnet18_head.yaml")
print(report)  # trainable 5,130 | frozen 11,176,512 | total 11,181,642 (0.05 %)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from freezegui.core.editing.selection import Selection
    from freezegui.core.errors import (
        FingerprintWarning,
        FreezeguiError,
        FreezeguiWarning,
        LoadError,
        RuleError,
        SpecError,
        TrainingError,
    )
    from freezegui.core.models.loading import Spec, SpecKind, load_model, parse_spec
    from freezegui.core.models.options import LoadOptions
    from freezegui.core.plan import Plan, plan
    from freezegui.core.rules.ruleset import Method, NormPolicy, Rule, RuleSet
    from freezegui.core.runtime.apply import ApplyReport, apply_rules, evaluate_rules, param_groups
    from freezegui.core.runtime.from_model import rules_from_model
    from freezegui.core.runtime.schedule import Schedule
    from freezegui.core.structure.counting import Counts, count_parameters
    from freezegui.core.structure.tree import ModuleNode, ModuleTree, build_tree
    from freezegui.core.training import (
        MethodResult,
        StepResult,
        TrainingConfig,
        TrainingReport,
        TrainingRun,
        TrainingStatus,
        compare_methods,
    )

__version__ = "0.1.0"

# Public name -> the core module defining it, imported on first use (PEP 562): `import freezegui.app`
# or `freezegui.core.models.options` then imports no torch, so the app paints its window before that.
_EXPORTS = {
    "plan": "plan",
    "Plan": "plan",
    **dict.fromkeys(("ApplyReport", "apply_rules", "evaluate_rules", "param_groups"), "runtime.apply"),
    "rules_from_model": "runtime.from_model",
    **dict.fromkeys(("Counts", "count_parameters"), "structure.counting"),
    **dict.fromkeys(
        (
            "FingerprintWarning",
            "FreezeguiError",
            "FreezeguiWarning",
            "LoadError",
            "RuleError",
            "SpecError",
            "TrainingError",
        ),
        "errors",
    ),
    **dict.fromkeys(("Spec", "SpecKind", "load_model", "parse_spec"), "models.loading"),
    "LoadOptions": "models.options",
    **dict.fromkeys(("Method", "NormPolicy", "Rule", "RuleSet"), "rules.ruleset"),
    "Schedule": "runtime.schedule",
    "Selection": "editing.selection",
    **dict.fromkeys(
        (
            "MethodResult",
            "StepResult",
            "TrainingConfig",
            "TrainingReport",
            "TrainingRun",
            "TrainingStatus",
            "compare_methods",
        ),
        "training",
    ),
    **dict.fromkeys(("ModuleNode", "ModuleTree", "build_tree"), "structure.tree"),
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'freezegui' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"freezegui.core.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "ApplyReport",
    "Counts",
    "FingerprintWarning",
    "FreezeguiError",
    "FreezeguiWarning",
    "LoadError",
    "LoadOptions",
    "Method",
    "MethodResult",
    "ModuleNode",
    "ModuleTree",
    "NormPolicy",
    "Plan",
    "Rule",
    "RuleError",
    "RuleSet",
    "Schedule",
    "Selection",
    "Spec",
    "SpecError",
    "SpecKind",
    "StepResult",
    "TrainingConfig",
    "TrainingError",
    "TrainingReport",
    "TrainingRun",
    "TrainingStatus",
    "apply_rules",
    "build_tree",
    "compare_methods",
    "count_parameters",
    "evaluate_rules",
    "load_model",
    "param_groups",
    "parse_spec",
    "plan",
    "rules_from_model",
]
