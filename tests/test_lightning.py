"""The Lightning callback: rules applied before configure_optimizers, frozen BatchNorm kept in eval mode."""

from __future__ import annotations

import sys
import warnings

import pytest
import torch

from freezegui.core.errors import FreezeguiWarning
from freezegui.core.rules.ruleset import RuleSet
from tests import models

L = pytest.importorskip("lightning")

RULES = """\
version: 1
default: freeze
rules:
- train: fc
"""


class Module(L.LightningModule):
    def __init__(self, lr_zero_groups: bool = True) -> None:
        super().__init__()
        self.net = models.SmallConvNet()
        self.lr_zero_groups = lr_zero_groups
        self.norm_modes: list[bool] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.norm_modes.append(self.net.features[1].training)
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD([p for p in self.parameters() if p.requires_grad], lr=0.1)

    def train_dataloader(self):
        gen = torch.Generator().manual_seed(0)
        data = torch.utils.data.TensorDataset(
            torch.randn(8, 3, 8, 8, generator=gen), torch.randint(0, 3, (8,))
        )
        return torch.utils.data.DataLoader(data, batch_size=4)


def _trainer(tmp_path, callback):
    return L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[callback],
    )


def test_callback_freezes_before_optimizers_and_keeps_bn_eval(tmp_path) -> None:
    from freezegui.integrations.lightning import FreezeRules

    torch.manual_seed(0)
    module = Module()
    before = {k: v.clone() for k, v in module.net.state_dict().items()}
    callback = FreezeRules(RuleSet.loads(RULES), submodule="net")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's own hints (few dataloader workers...)
        warnings.simplefilter("error", FreezeguiWarning)
        _trainer(tmp_path, callback).fit(module)

    assert callback.report is not None and callback.report.trainable == 8 * 3 + 3
    assert module.norm_modes == [False] * 4  # 2 epochs x 2 batches, BN always in eval mode
    after = module.net.state_dict()
    for key, value in before.items():
        if key.startswith("fc."):
            assert not torch.equal(after[key], value), key
        else:  # frozen weights and BatchNorm running statistics
            assert torch.equal(after[key], value), key


@pytest.mark.filterwarnings("ignore:Found .* in eval mode")  # the frozen BatchNorms, on purpose
def test_lr_zero_rules_with_a_plain_optimizer_warn(tmp_path) -> None:
    from freezegui.integrations.lightning import FreezeRules

    class AllParams(Module):
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    callback = FreezeRules(RuleSet.loads(RULES + "method: lr_zero\n"), submodule="net")
    with pytest.warns(FreezeguiWarning, match="param_groups"):
        _trainer(tmp_path, callback).fit(AllParams())


def test_importing_freezegui_does_not_import_lightning() -> None:
    import subprocess

    code = "import sys, freezegui, freezegui.integrations; print('lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_lightning_example_trains_only_the_head(tmp_path, monkeypatch) -> None:
    """examples/lightning_finetune.py: ResNet-18 head only, 3 steps; frozen weights and BN stats untouched."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location(
        "lightning_finetune", root / "examples" / "lightning_finetune.py"
    )
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    monkeypatch.chdir(tmp_path)  # Lightning may write lightning_logs/ into the working directory

    torch.manual_seed(0)  # the example's initial weights
    before = example.Classifier("torchvision:resnet18", 10, 1e-3).model.state_dict()
    before = {k: v.clone() for k, v in before.items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer, module, freeze = example.main(["--steps", "3", "--image-size", "32"])
    # Frozen BatchNorm layers are in eval mode on purpose: Lightning's check must not flag them.
    assert not [w for w in caught if "in eval mode" in str(w.message)]

    assert trainer.global_step == 3
    assert freeze.report is not None and freeze.report.trainable == 5_130
    after = module.model.state_dict()
    for name, value in before.items():
        if name.startswith("fc."):
            assert not torch.equal(after[name], value), name
        else:  # frozen weights and frozen BatchNorm running statistics
            assert torch.equal(after[name], value), name


class _ScheduledModule(Module):
    def configure_optimizers(self):
        import freezegui

        return torch.optim.AdamW(freezegui.param_groups(self.net, self.rules, lr=0.05, weight_decay=0.1))


@pytest.mark.parametrize("at", ["{step: 2}", "{epoch: 1}"])
def test_callback_runs_a_schedule(tmp_path, at: str) -> None:
    """features.3 (a conv) unfreezes at step 2 (the start of epoch 1: 2 batches an epoch): unchanged
    through the first two steps, trained after."""
    from freezegui.core.training.proof import same_bits
    from freezegui.integrations.lightning import FreezeRules

    torch.manual_seed(0)
    rules = RuleSet.loads(
        RULES + f"schedule:\n  - at: {at}\n    rules:\n      - train: features.3\n        lr_scale: 2\n"
    )
    module = _ScheduledModule()
    module.rules = rules
    start = {k: v.clone() for k, v in module.net.state_dict().items()}
    seen: list[bool] = []

    class Probe(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append(same_bits(module.net.features[3].weight, start["features.3.weight"]))

    callback = FreezeRules(rules, submodule="net")
    trainer = _trainer(tmp_path, callback)
    trainer.callbacks.append(Probe())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", FreezeguiWarning)
        trainer.fit(module)
    assert seen == [True, True, True, False]  # 2 epochs x 2 batches; the stage applies before batch 3
    assert [c.global_step for c in callback.schedule.changes] == [2]
    after = module.net.state_dict()
    assert same_bits(after["features.0.weight"], start["features.0.weight"])
    group = next(g for g in trainer.optimizers[0].param_groups if g["name"] == "stages 0 > 2")
    assert group["lr"] == pytest.approx(0.1) and group["weight_decay"] == 0.1


@pytest.fixture
def ddp_strategy_env():
    """Lightning's DDP strategy on one CPU process sets rank variables and a process group: undone after."""
    import os

    import torch.distributed as dist

    saved = dict(os.environ)
    try:
        yield
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.usefixtures("ddp_strategy_env")
@pytest.mark.parametrize("method", ["lr_zero", "requires_grad"])
def test_a_schedule_under_the_ddp_strategy_needs_lr_zero(tmp_path, method: str) -> None:
    """Lightning wraps the module in DistributedDataParallel before on_fit_start: a requires_grad
    schedule is refused there; under lr_zero the stage trains through DDP."""
    from freezegui.core.errors import RuleError
    from freezegui.core.training.proof import same_bits
    from freezegui.integrations.lightning import FreezeRules

    rules = RuleSet.loads(
        RULES + f"method: {method}\nschedule:\n  - at: {{step: 2}}\n    rules: [{{train: features.3}}]\n"
    )
    module = _ScheduledModule()
    module.rules = rules
    start = module.net.features[3].weight.detach().clone()
    callback = FreezeRules(rules, submodule="net")
    wrapped: list[str] = []

    class Probe(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            wrapped.append(type(trainer.model).__name__)

    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        strategy="ddp",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[callback, Probe()],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", FreezeguiWarning)
        if method == "requires_grad":
            with pytest.raises(RuleError, match="needs `method: lr_zero`"):
                trainer.fit(module)
            return
        trainer.fit(module)
    assert wrapped == ["DistributedDataParallel"] * 4  # 2 epochs x 2 batches, all through DDP
    assert [c.global_step for c in callback.schedule.changes] == [2]
    assert not same_bits(module.net.features[3].weight, start)
