"""Short training sessions: a generator engine (shared by the CLI and the app) with frozen-weights proof."""

from freezegui.core.training.checkpoint import save_checkpoint
from freezegui.core.training.compare import MethodResult, compare_methods, format_comparison
from freezegui.core.training.config import TrainingConfig, available_devices, resolve_device
from freezegui.core.training.data import TrainingData, make_data
from freezegui.core.training.engine import (
    COMPLETED,
    DIVERGED,
    FAILED,
    STOPPED,
    MemoryStats,
    StepResult,
    TrainingReport,
    TrainingRun,
    run_training,
)
from freezegui.core.training.proof import FrozenSnapshot, ProofReport

__all__ = [
    "COMPLETED",
    "DIVERGED",
    "FAILED",
    "STOPPED",
    "FrozenSnapshot",
    "MemoryStats",
    "MethodResult",
    "ProofReport",
    "StepResult",
    "TrainingConfig",
    "TrainingData",
    "TrainingReport",
    "TrainingRun",
    "available_devices",
    "compare_methods",
    "format_comparison",
    "make_data",
    "resolve_device",
    "run_training",
    "save_checkpoint",
]
