"""What trains beside a LoRA suggestion: the base model is frozen, as LoRA users mean it.

PEFT trains only the adapters, plus ``modules_to_save`` (for a classification task, the freshly
initialised head). So a suggestion freezes every base tensor except a small head: one whose
parameters are at most :data:`HEAD_SHARE` of the model (BERT's 2-label classifier, not a Llama's
32,000-row ``lm_head``, which stays frozen as PEFT's causal-LM task leaves it).
"""

from __future__ import annotations

import numpy as np

from freezegui.core.editing import presets
from freezegui.core.structure.tree import ModuleTree

HEAD_SHARE = 0.01


def lora_base_mask(tree: ModuleTree, adapted: np.ndarray) -> np.ndarray:
    """The base tensors that train beside adapters on ``adapted`` (module mask): a small, unadapted head."""
    trainable = np.zeros(len(tree.params), dtype=bool)
    head = presets.head_index(tree)
    if head is None or bool(np.asarray(adapted)[head]):
        return trainable
    total = int(tree.total[0])
    if total and int(tree.total[head]) <= HEAD_SHARE * total:
        trainable |= presets.subtree_mask(tree, [head])
    return trainable


__all__ = ["HEAD_SHARE", "lora_base_mask"]
