"""Rules saved from a bare model, applied to it inside torch.compile, DDP and PEFT."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from freezegui.core.errors import RuleError
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.runtime.apply import apply_rules
from tests import models

ROOT = Path(__file__).resolve().parents[1]

RULES = """\
version: 1
default: freeze
rules:
- train: model.layers.2
- train: lm_head
- freeze: model.layers.2.self_attn.k_proj
"""


def _bare_flags() -> dict[str, bool]:
    model = models.tiny_llama()
    apply_rules(model, RuleSet.loads(RULES))
    return {n: p.requires_grad for n, p in model.named_parameters()}


def test_torch_compile_uses_the_bare_names() -> None:
    model = models.tiny_llama()
    compiled = torch.compile(model)  # wrapping only: nothing is compiled until a forward
    report = apply_rules(compiled, RuleSet.loads(RULES))
    assert {n: p.requires_grad for n, p in model.named_parameters()} == _bare_flags()
    assert report.wrappers == ["torch.compile (_orig_mod.)"]
    assert "applied through torch.compile (_orig_mod.)" in str(report)


def test_data_parallel_uses_the_bare_names() -> None:
    model = models.tiny_llama()
    report = apply_rules(torch.nn.DataParallel(torch.compile(model)), RuleSet.loads(RULES))
    assert report.wrappers == ["DataParallel (module.)", "torch.compile (_orig_mod.)"]
    assert {n: p.requires_grad for n, p in model.named_parameters()} == _bare_flags()


def test_wrapped_rule_typo_still_raises() -> None:
    with pytest.raises(RuleError, match="matches no parameter"):
        apply_rules(torch.compile(models.tiny_llama()), RuleSet.loads("rules:\n- train: nope\n"))


DDP_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import torch, torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from freezegui.core.runtime.apply import apply_rules
    from freezegui.core.rules.ruleset import RuleSet
    from tests import models

    dist.init_process_group("gloo", rank=0, world_size=1)
    model = models.tiny_llama()
    ddp = DistributedDataParallel(model)
    report = apply_rules(ddp, RuleSet.loads(sys.argv[1]))
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    print(json.dumps({"flags": flags, "wrappers": report.wrappers}))
    dist.destroy_process_group()
    """
)


def test_ddp_one_gloo_rank_uses_the_bare_names() -> None:
    import json
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", DDP_SCRIPT, RULES],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["wrappers"] == ["DistributedDataParallel (module.)"]
    assert out["flags"] == _bare_flags()


# ------------------------------------------------------------------------------------------ PEFT
peft = pytest.importorskip("peft")


def _peft_llama():  # type: ignore[no-untyped-def]
    model = models.tiny_llama()
    cfg = peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"], modules_to_save=["model.norm"])
    return peft.get_peft_model(model, cfg)


def _base_flags(pm) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    """The base tensors' flags under their bare names (adapters and saved copies left out)."""
    out = {}
    for name, p in pm.named_parameters():
        bare = name.removeprefix("base_model.model.")
        if any(s in bare for s in (".lora_", ".modules_to_save.")):
            continue
        out[bare.replace(".base_layer.", ".").replace(".original_module.", ".")] = p.requires_grad
    return out


def _adapter_flags(pm) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    return {n: p.requires_grad for n, p in pm.named_parameters() if ".lora_" in n or ".modules_to_save." in n}


def test_peft_model_base_tensors_follow_the_bare_rules_adapters_untouched() -> None:
    pm = _peft_llama()
    adapters = _adapter_flags(pm)
    assert adapters and all(adapters.values())
    report = apply_rules(pm, RuleSet.loads(RULES))
    assert _base_flags(pm) == _bare_flags()
    assert _adapter_flags(pm) == adapters  # `default: freeze` did not freeze them
    assert report.wrappers == ["PEFT (base_model.model.)"]
    assert report.adapters_kept == len(adapters)
    assert report.fingerprint_ok


def test_peft_model_rule_file_with_the_bare_fingerprint() -> None:
    from freezegui.core.runtime.from_model import rules_from_model

    bare = models.tiny_llama()
    apply_rules(bare, RuleSet.loads(RULES))
    rs = rules_from_model(bare, spec="tiny")
    pm = _peft_llama()
    report = apply_rules(pm, rs)
    assert report.fingerprint_ok, report.problems()
    assert _base_flags(pm) == _bare_flags()


def test_peft_rule_that_names_adapters_changes_them() -> None:
    pm = _peft_llama()
    apply_rules(pm, RuleSet.loads(RULES + "- freeze: '**.lora_A'\n"))
    flags = _adapter_flags(pm)
    assert not any(v for n, v in flags.items() if ".lora_A." in n)
    assert all(v for n, v in flags.items() if ".lora_B." in n)
    # a rule naming the adapted module itself (its host) leaves the adapters as they were
    pm = _peft_llama()
    apply_rules(pm, RuleSet.loads("default: freeze\nrules:\n- freeze: model.layers.0.self_attn.q_proj\n"))
    assert all(_adapter_flags(pm).values())


def test_peft_model_compiled() -> None:
    pm = _peft_llama()
    adapters = _adapter_flags(pm)
    report = apply_rules(torch.compile(pm), RuleSet.loads(RULES))
    assert report.wrappers == ["torch.compile (_orig_mod.)", "PEFT (base_model.model.)"]
    assert _base_flags(pm) == _bare_flags()
    assert _adapter_flags(pm) == adapters
