"""Short training sessions: a generator engine (shared by the CLI and the app) with frozen-weights proof.

``TrainingRun(model, config, rules=...).steps()`` is the one way to train: a generator of
:class:`StepResult` that returns the :class:`TrainingReport`; ``run()`` drains it.
"""

from freezegui.core.training.checkpoint import save_checkpoint
from freezegui.core.training.compare import MethodResult, compare_methods, format_comparison
from freezegui.core.training.config import TrainingConfig, available_devices, resolve_device
from freezegui.core.training.data import TrainingData
from freezegui.core.training.engine import TrainingRun
from freezegui.core.training.proof import FrozenSnapshot, ProofReport
from freezegui.core.training.report import MemoryStats, StepResult, TrainingReport, TrainingStatus
from freezegui.core.training.sources import make_data

__all__ = [
    "FrozenSnapshot",
    "MemoryStats",
    "MethodResult",
    "ProofReport",
    "StepResult",
    "TrainingConfig",
    "TrainingData",
    "TrainingReport",
    "TrainingRun",
    "TrainingStatus",
    "available_devices",
    "compare_methods",
    "format_comparison",
    "make_data",
    "resolve_device",
    "save_checkpoint",
]
