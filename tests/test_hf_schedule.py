"""Gradual unfreezing through the Hugging Face Trainer: the FreezeSchedule callback and its optimizer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("accelerate", reason="transformers' Trainer needs accelerate")

from transformers import Trainer, TrainerCallback, TrainingArguments

from freezegui.core.training.proof import same_bits
from freezegui.integrations.transformers import FreezeSchedule

RULES = """\
default: freeze
method: {method}
rules:
  - train: lm_head
schedule:
  - at: {{step: 3}}
    rules:
      - train: model.layers.1
        lr_scale: 2
"""
STEPS, STAGE = 6, 3


class _Tokens(torch.utils.data.Dataset):
    def __init__(self, vocab: int) -> None:
        self.ids = torch.randint(0, vocab, (32, 8), generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def _tiny_llama() -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=32,
    )
    return LlamaForCausalLM(config)


class _Snapshots(TrainerCallback):
    """Copies of the later-unfrozen tensors at the beginning of every step."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.at: dict[int, dict[str, torch.Tensor]] = {}

    def on_step_begin(self, args, state, control, **kwargs):
        self.at[state.global_step] = {
            n: p.detach().clone() for n, p in self.model.named_parameters() if n.startswith("model.layers.1.")
        }


def _args(tmp_path: Path) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=STEPS,
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        weight_decay=0.01,
        warmup_steps=2,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def _final_layer1(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach() for n, p in model.named_parameters() if n.startswith("model.layers.1.")}


@pytest.mark.parametrize("method", ["requires_grad", "lr_zero"])
def test_trainer_unfreezes_at_the_stage(tmp_path: Path, method: str) -> None:
    model = _tiny_llama()
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    schedule = FreezeSchedule(_rules(tmp_path, method))
    args = _args(tmp_path)
    optimizer = schedule.create_optimizer(model, args)
    snaps = _Snapshots(model)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=_Tokens(64),
        optimizers=(optimizer, None),
        callbacks=[schedule, snaps],
    )
    trainer.train()
    assert trainer.state.global_step == STEPS
    assert [(c.index, c.global_step) for c in schedule.changes] == [(1, STAGE)]
    for step in range(STAGE + 1):  # bit-identical up to the stage (the snapshot is taken after it applies)
        assert all(same_bits(p, start[n]) for n, p in snaps.at[step].items()), step
    late = _final_layer1(model)
    assert all(not torch.equal(p, start[n]) for n, p in late.items()), "layer 1 did not train after its stage"
    for n, p in model.named_parameters():
        if not n.startswith(("model.layers.1.", "lm_head.")):
            assert same_bits(p, start[n]), n
    group = next(g for g in trainer.optimizer.param_groups if g["name"] == "stages 0 > 2")
    assert group["lr_scale"] == 2.0 and group["weight_decay"] == 0.01
    assert trainer.lr_scheduler.base_lrs[trainer.optimizer.param_groups.index(group)] == pytest.approx(2e-2)


def _rules(tmp_path: Path, method: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.format(method=method))
    return path


class _FlipRequiresGrad(TrainerCallback):
    """The naive approach: turn requires_grad on at the stage and hope the optimizer follows."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == STAGE:
            for n, p in self.model.named_parameters():
                if n.startswith("model.layers.1."):
                    p.requires_grad_(True)


def test_a_callback_that_only_flips_requires_grad_trains_nothing_new(tmp_path: Path) -> None:
    """The bug FreezeSchedule prevents: the Trainer's optimizer never saw the later-unfrozen tensors."""
    model = _tiny_llama()
    for n, p in model.named_parameters():
        p.requires_grad_(n.startswith("lm_head."))
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = Trainer(
        model=model, args=_args(tmp_path), train_dataset=_Tokens(64), callbacks=[_FlipRequiresGrad(model)]
    )
    trainer.train()
    late = _final_layer1(model)
    assert all(p.requires_grad for n, p in model.named_parameters() if n in late)  # the flags were flipped...
    assert all(same_bits(p, start[n]) for n, p in late.items())  # ...and nothing moved
    assert not torch.equal(model.lm_head.weight, start["lm_head.weight"])


def test_without_the_factory_the_callback_says_what_to_do(tmp_path: Path) -> None:
    from freezegui.core.errors import RuleError

    model = _tiny_llama()
    trainer = Trainer(
        model=model,
        args=_args(tmp_path),
        train_dataset=_Tokens(64),
        callbacks=[FreezeSchedule(_rules(tmp_path, "lr_zero"))],
    )
    with pytest.raises(RuleError, match="create_optimizer"):
        trainer.train()


def test_several_ranks_need_lr_zero(tmp_path: Path) -> None:
    """On 2 ranks the Trainer wraps the model in DDP, which cannot see a requires_grad flip: refused."""
    from types import SimpleNamespace

    from freezegui.core.errors import RuleError

    args = SimpleNamespace(
        world_size=2,
        learning_rate=1e-3,
        weight_decay=0.0,
        adam_beta1=0.9,
        adam_beta2=0.999,
        adam_epsilon=1e-8,
    )
    with pytest.raises(
        RuleError, match=r"2 ranks: a schedule under DistributedDataParallel needs `method: lr_zero`"
    ):
        FreezeSchedule(_rules(tmp_path, "requires_grad")).create_optimizer(_tiny_llama(), args)
    assert FreezeSchedule(_rules(tmp_path, "lr_zero")).create_optimizer(_tiny_llama(), args) is not None


def test_an_epoch_stage_applies_when_the_trainer_starts_the_epoch(tmp_path: Path) -> None:
    """32 examples at batch size 4: 8 steps an epoch, so `at: {epoch: 1}` applies at global step 8."""
    model = _tiny_llama()
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.format(method="lr_zero").replace("{step: 3}", "{epoch: 1}"))
    schedule = FreezeSchedule(path)
    args = _args(tmp_path)
    args.max_steps = 10
    snaps = _Snapshots(model)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=_Tokens(64),
        optimizers=(schedule.create_optimizer(model, args), None),
        callbacks=[schedule, snaps],
    )
    trainer.train()
    assert [(c.index, c.global_step) for c in schedule.changes] == [(1, 8)]
    assert all(same_bits(p, start[n]) for n, p in snaps.at[8].items())
    assert all(not torch.equal(p, start[n]) for n, p in _final_layer1(model).items())
