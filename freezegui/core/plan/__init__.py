"""The cost planner: memory (activations included) and FLOPs of training a selection, from a meta step."""

from freezegui.core.data.tasks import length_kind
from freezegui.core.plan.options import Optimizer, PlanCancelled, PlanError, PlanOptions, Shard
from freezegui.core.plan.planner import plan, plan_tree
from freezegui.core.plan.result import KEYS, Cost, Plan

__all__ = [
    "KEYS",
    "Cost",
    "Optimizer",
    "Plan",
    "PlanCancelled",
    "PlanError",
    "PlanOptions",
    "Shard",
    "length_kind",
    "plan",
    "plan_tree",
]
