"""Fine-tune a transformers model with the Hugging Face ``Trainer`` and a freezegui rule file.

    python examples/hf_trainer_finetune.py --rules my_rules.yaml                 # tiny Llama, synthetic data
    python examples/hf_trainer_finetune.py --rules my_rules.yaml --model hf:./my-checkpoint

Apply the rules to the model *before* creating the ``Trainer``: its default optimizer only takes
parameters with ``requires_grad=True``, so frozen ones get no gradients and no optimizer state.
With ``method: lr_zero`` the rule file keeps every parameter trainable and this script hands the
Trainer an optimizer whose frozen group has lr 0 (``freezegui.param_groups``). Runs offline: no hub,
no reporting, nothing saved but what ``--output-dir`` receives.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

import freezegui

DEFAULT_RULES = """\
version: 1
default: freeze
rules:
- train: model.layers.1
- train: lm_head
"""


class RandomTokens(Dataset):
    """Synthetic causal-LM examples: random token ids that are also the labels."""

    def __init__(self, n: int, seq_len: int, vocab: int, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, vocab, (n, seq_len), generator=gen)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def tiny_llama() -> torch.nn.Module:
    """A two-layer Llama from a config: random weights, a few hundred thousand parameters."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    return LlamaForCausalLM(config)


def main(argv: Sequence[str] | None = None):  # returns the Trainer for tests
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rules", help="rule file (default: train model.layers.1 and lm_head of the tiny Llama)"
    )
    parser.add_argument("--model", help="model spec, e.g. hf:./my-checkpoint (default: a tiny random Llama)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--output-dir", default="hf_trainer_out")
    args = parser.parse_args(argv)

    from transformers import Trainer, TrainingArguments

    torch.manual_seed(0)
    model = freezegui.load_model(args.model) if args.model else tiny_llama()
    rules = freezegui.RuleSet.load(args.rules) if args.rules else freezegui.RuleSet.loads(DEFAULT_RULES)
    report = freezegui.apply_rules(model, rules)  # before the Trainer builds its optimizer
    print(report)

    optimizers = (None, None)
    if rules.method == "lr_zero":  # every parameter keeps requires_grad; frozen ones sit at lr 0
        optimizers = (torch.optim.AdamW(freezegui.param_groups(model, rules, lr=args.lr), lr=args.lr), None)

    training_args = TrainingArguments(
        output_dir=args.output_dir,
        max_steps=args.steps,
        per_device_train_batch_size=4,
        learning_rate=args.lr,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    vocab = model.get_input_embeddings().num_embeddings
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=RandomTokens(16, 16, vocab),
        optimizers=optimizers,
    )
    trainer.train()
    return trainer


if __name__ == "__main__":
    main()
