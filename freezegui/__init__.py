"""freezegui: choose which layers of a PyTorch model to freeze, and apply the choice in one call.

import freezegui
model = freezegui.load_model("torchvision:resnet18", num_classes=10)
report = freezegui.apply_rules(model, "resnet18_head.yaml")
print(report)  # trainable 5,130 | frozen 11,176,512 | total 11,181,642 (0.05 %)
"""

from freezegui.core.apply import ApplyReport, apply_rules, evaluate_rules, param_groups, rules_from_model
from freezegui.core.counting import Counts, count_parameters
from freezegui.core.errors import (
    FingerprintWarning,
    FreezeguiError,
    FreezeguiWarning,
    LoadError,
    RuleError,
    SpecError,
    TrainingError,
)
from freezegui.core.loading import Spec, SpecKind, load_model, parse_spec
from freezegui.core.rules import Method, NormPolicy, Rule, RuleSet
from freezegui.core.selection import Selection
from freezegui.core.training import (
    MethodResult,
    StepResult,
    TrainingConfig,
    TrainingReport,
    TrainingRun,
    TrainingStatus,
    compare_methods,
)
from freezegui.core.tree import ModuleNode, ModuleTree, build_tree

__version__ = "0.1.0"

__all__ = [
    "ApplyReport",
    "Counts",
    "FingerprintWarning",
    "FreezeguiError",
    "FreezeguiWarning",
    "LoadError",
    "Method",
    "MethodResult",
    "ModuleNode",
    "ModuleTree",
    "NormPolicy",
    "Rule",
    "RuleError",
    "RuleSet",
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
    "rules_from_model",
]
