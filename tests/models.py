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


def factory_resnet_without_fc() -> nn.Module:
    """A ResNet-18 whose head was removed the usual way (``fc = nn.Identity()``): a feature extractor."""
    import torchvision

    model = torchvision.models.resnet18(weights=None)
    model.fc = nn.Identity()
    return model


class Backbone(nn.Module):
    """A wrapper without timm's head API around a headless timm ViT (its last Linear is inside a block)."""

    def __init__(self, num_classes: int = 0) -> None:
        super().__init__()
        import timm

        self.body = timm.create_model(
            "vit_tiny_patch16_224", num_classes=num_classes, depth=2, embed_dim=24, num_heads=2
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def timm_headless(model_name: str, **kwargs: object) -> nn.Module:
    """A timm backbone built without its classifier (``num_classes=0``), as feature extractors are."""
    import timm

    return timm.create_model(model_name, num_classes=0, **kwargs)


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


# --------------------------------------------------------------------------------- LoRA / PEFT
def tiny_llama(layers: int = 3) -> nn.Module:
    """A 3-layer Llama (q/k/v/o and gate/up/down projections, untied lm_head): ~10 K parameters."""
    import transformers

    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=layers,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32,
    )  # fmt: skip
    return transformers.LlamaForCausalLM(cfg)


def tiny_gpt2() -> nn.Module:
    """GPT-2 with transformers' Conv1D layers and lm_head tied to wte."""
    import transformers

    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=64, n_positions=32, n_embd=16, n_layer=2, n_head=2)
    return transformers.GPT2LMHeadModel(cfg)


def tiny_bert() -> nn.Module:
    """BERT for sequence classification: query/key/value, attention output dense, pooler, classifier."""
    import transformers

    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32, num_labels=3,
    )  # fmt: skip
    return transformers.BertForSequenceClassification(cfg)


class HeadAndLmHead(nn.Module):
    """Top-level ``head`` beside ``lm_head``: PEFT's modules_to_save suffix match confuses them."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8))
        self.head = nn.Linear(8, 3)
        self.lm_head = nn.Linear(8, 5)
        self.block = nn.Module()
        self.block.head = nn.Linear(8, 2)
        self.block.subhead = nn.Linear(8, 2)


class AdaptableZoo(nn.Module):
    """One of each module type LoRA adapts (grouped conv too), for the adapter size formulas."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 10)
        self.emb = nn.Embedding(12, 5)
        self.c1 = nn.Conv1d(3, 4, kernel_size=3)
        self.c2 = nn.Conv2d(4, 8, kernel_size=(3, 2))
        self.c2g = nn.Conv2d(4, 8, kernel_size=3, groups=2)
        self.c3 = nn.Conv3d(2, 4, kernel_size=2)
        self.norm = nn.LayerNorm(10)


class GroupedViT(nn.Module):
    """A tiny ViT-shaped model that declares timm's ``group_matcher()``: a stem group, one group per
    block, and a final norm that merges into the last block's group (timm's ``(99999,)`` marker)."""

    def __init__(self, depth: int = 3, dim: int = 8, num_classes: int = 4) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.patch_embed = nn.Linear(12, dim)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim)) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def group_matcher(self, coarse: bool = False) -> dict:
        return {
            "stem": r"^cls_token|patch_embed",
            "blocks": [(r"^blocks\.(\d+)", None), (r"^norm", (99999,))],
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.patch_embed(x)
        for block in self.blocks:
            h = h + block(h)
        return self.head(self.norm(h).mean(1))


def adamw_steps(model: nn.Module, groups: list[dict], steps: int = 5) -> None:
    """A few AdamW steps of a 3-class image classifier on one fixed 16x16 batch (the method tests)."""
    opt = torch.optim.AdamW(groups)
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 3, (8,))
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
