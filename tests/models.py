"""Small synthetic models for tests: fast to build, each shaped to exercise one thing."""

from __future__ import annotations

import torch
from torch import nn

# A Llama-3-70B-shaped transformers config (for --structure-only tests and benchmarks): 70,553,706,496 parameters.
LLAMA_70B_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 8192,
    "num_hidden_layers": 80,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "intermediate_size": 28672,
    "vocab_size": 128256,
    "tie_word_embeddings": False,
}


class MLP(nn.Module):
    """fc1/fc2 only: a rule `fc` must match nothing here."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TiedLM(nn.Module):
    """An embedding tied to the output projection (like GPT-2's wte/lm_head)."""

    def __init__(self, vocab: int = 50, dim: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.body = nn.Sequential(nn.Linear(dim, dim), nn.LayerNorm(dim))
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.embed(ids)))


class SmallConvNet(nn.Module):
    """Conv + BatchNorm backbone and a linear head."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Conv2d(4, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


class Block(nn.Module):
    def __init__(self, dim: int, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(nn.Linear(dim, dim) for _ in range(width))


def wide_model(n_modules: int = 100_000, dim: int = 2, width: int = 48, device: str = "meta") -> nn.Module:
    """About ``n_modules`` modules: blocks of one LayerNorm and ``width`` Linear layers."""
    per_block = width + 3  # block, norm, ModuleList, the linears
    n_blocks = max(1, n_modules // per_block)
    with torch.device(device):
        return nn.Sequential(*(Block(dim, width) for _ in range(n_blocks)))


def factory_mlp() -> nn.Module:
    """A `py:` factory for loader tests."""
    return MLP()


def factory_raises() -> nn.Module:
    raise RuntimeError("boom: the factory failed")


def factory_not_a_module() -> object:
    return {"not": "a module"}


class NumberedExperts(nn.Module):
    """Hidden layers whose experts are numbered submodules (``layers.2.mlp.experts.3.weight``), with a
    transformers-like ``config.num_hidden_layers``: LLaMA-Factory's ``.3.`` substring hits expert 3 of
    every layer."""

    def __init__(self, num_layers: int = 4, num_experts: int = 4, dim: int = 4) -> None:
        super().__init__()
        from types import SimpleNamespace

        self.config = SimpleNamespace(num_hidden_layers=num_layers)
        self.embed_tokens = nn.Embedding(10, dim)
        self.layers = nn.ModuleList(_ExpertBlock(dim, num_experts) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)


class _ExpertBlock(nn.Module):
    def __init__(self, dim: int, num_experts: int) -> None:
        super().__init__()
        self.attn = nn.Linear(dim, dim)
        self.mlp = nn.Module()
        self.mlp.experts = nn.ModuleList(nn.Linear(dim, dim) for _ in range(num_experts))
