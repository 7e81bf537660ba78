"""Fine-tune with a rule file under DistributedDataParallel (or FSDP): freeze first, then wrap.

    torchrun --nproc_per_node 2 examples/ddp_finetune.py --rules examples/resnet18_head.yaml
    torchrun --nproc_per_node 2 examples/ddp_finetune.py --rules examples/resnet18_head.yaml --wrap fsdp

Runs on CPU with the gloo backend and synthetic 32x32 images, so it works anywhere; on GPUs use
``--backend nccl`` and move the model to ``cuda:LOCAL_RANK`` before wrapping. The order matters:

1. build the model (same seed on every rank, or load the same weights);
2. ``freezegui.apply_rules(model, rules)`` -- sets ``requires_grad=False`` and pins frozen BatchNorm
   layers to eval mode;
3. wrap in ``DistributedDataParallel`` (it registers gradient hooks only for parameters that require
   grad at this point, so frozen ones are never all-reduced and need no ``find_unused_parameters``);
4. build the optimizer from the parameters that still require grad.

A rule file with a ``schedule:`` (gradual unfreezing) needs ``method: lr_zero`` here: DDP syncs only
the tensors that required grad when it wrapped the model, so stages change learning rates instead of
``requires_grad``; the optimizer is built once from ``freezegui.param_groups`` and a
``freezegui.Schedule`` applies each stage before its step (``Schedule`` refuses a ``requires_grad``
schedule on a DDP model). Schedules run with ``--wrap ddp``.

Freezing after wrapping breaks DDP (it waits for gradients that never come). FSDP follows the same
order: apply the rules to the unwrapped model, then shard. ``--wrap fsdp`` uses FSDP2's
``fully_shard`` (one unit per top-level child with parameters, then the root); it shards parameter by
parameter, so a unit may mix frozen and trainable tensors. (With the older ``FullyShardedDataParallel``
class, pass ``use_orig_params=True`` for such units.)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import freezegui


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default=str(Path(__file__).with_name("resnet18_head.yaml")))
    parser.add_argument("--model", default="torchvision:resnet18")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8, help="per rank")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--backend", default="gloo")
    parser.add_argument("--wrap", choices=("ddp", "fsdp"), default="ddp")
    parser.add_argument("--out", metavar="DIR", help="save each rank's final state dict as DIR/rank<N>.pt")
    args = parser.parse_args()

    dist.init_process_group(args.backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    try:
        torch.manual_seed(0)  # identical initial weights on every rank
        model = freezegui.load_model(args.model, num_classes=args.num_classes)
        rules = freezegui.RuleSet.load(args.rules)
        report = freezegui.apply_rules(model, rules)  # 1. freeze ...
        ddp = wrap(model, args.wrap)  # 2. ... then wrap
        schedule = None
        if rules.schedule:  # every stage's tensors in the optimizer from the start, at lr 0 until due
            optimizer = torch.optim.SGD(freezegui.param_groups(model, rules, lr=0.05), lr=0.05, momentum=0.9)
            schedule = freezegui.Schedule(ddp, rules, optimizer)
        else:
            optimizer = torch.optim.SGD(
                (p for p in ddp.parameters() if p.requires_grad), lr=0.05, momentum=0.9
            )
        if rank == 0:
            print(f"world size {world}, {args.wrap}; {report}")

        gen = torch.Generator().manual_seed(1000 + rank)  # each rank sees different data
        ddp.train()  # frozen BatchNorm layers stay in eval mode (running stats untouched)
        for step in range(1, args.steps + 1):
            images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, generator=gen)
            labels = torch.randint(0, args.num_classes, (args.batch_size,), generator=gen)
            if schedule is not None and schedule.step(step - 1) and rank == 0:
                print(f"stage {schedule.current} from step {step}")
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(ddp(images), labels)
            loss.backward()  # gradients of trainable parameters are averaged across ranks here
            optimizer.step()
            if rank == 0:
                print(f"step {step}  loss {loss.item():.4f}")

        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            state = full_state_dict(model, args.wrap)
            torch.save(
                {"state": state, "trainable": [n for n, p in model.named_parameters() if p.requires_grad]},
                out / f"rank{rank}.pt",
            )
        dist.barrier()
    finally:
        dist.destroy_process_group()


def wrap(model: nn.Module, how: str) -> nn.Module:
    """DDP around the whole model, or FSDP2 units: each top-level child with parameters, then the root."""
    if how == "ddp":
        return DistributedDataParallel(model)
    from torch.distributed.fsdp import fully_shard

    for child in model.children():
        if any(True for _ in child.parameters()):
            fully_shard(child)
    fully_shard(model)
    return model


def full_state_dict(model: nn.Module, how: str) -> dict[str, torch.Tensor]:
    """Every tensor whole (FSDP gathers its shards), on every rank."""
    if how == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))
    else:
        state = model.state_dict()
    return {k: v.detach().clone() for k, v in state.items()}


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
