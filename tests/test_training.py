"""The training engine: acceptance runs on real architectures, the proof, data errors, stop/NaN/failure, save."""

from __future__ import annotations

import copy
import json
import threading

import numpy as np
import pytest
import torch
from torch import nn

import freezegui
from freezegui.core.editing.selection import Selection
from freezegui.core.errors import TrainingError
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.structure.tree import build_tree
from freezegui.core.training import (
    StepResult,
    TrainingConfig,
    TrainingRun,
    TrainingStatus,
    compare_methods,
    format_comparison,
)
from tests import models

HEAD_ONLY = "default: freeze\nrules:\n  - train: fc\n"
RESNET_FROZEN, RESNET_TRAINABLE = 11_176_512, 5_130


def _cfg(**kw) -> TrainingConfig:
    base = dict(steps=30, batch_size=8, lr=1e-2, image_size=32, device="cpu", seed=0)
    base.update(kw)
    return TrainingConfig(**base)


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


# ------------------------------------------------------------------------------------------ acceptance
def test_resnet18_head_only_requires_grad(resnet18_10) -> None:
    run = TrainingRun(resnet18_10, _cfg(), rules=RuleSet.loads(HEAD_ONLY))
    results = list(run.steps())
    report = run.report
    assert report is not None and report.status == TrainingStatus.COMPLETED and report.ok
    assert [r.step for r in results] == list(range(1, 31))
    assert all(isinstance(r, StepResult) and r.steps == 30 and r.examples_per_s > 0 for r in results)
    assert results[-1].eta == 0 and results[0].eta > 0
    assert _mean(report.losses[-5:]) < _mean(report.losses[:5]) - 0.3  # it learns
    proof = report.proof
    assert proof is not None and proof.ok
    assert proof.frozen_elements == proof.frozen_verified_elements == RESNET_FROZEN
    assert proof.trainable_changed_elements == proof.trainable_elements == RESNET_TRAINABLE
    # All 20 BatchNorm layers are frozen: running mean/var and the batch counter held.
    assert proof.buffer_tensors == proof.buffer_verified_tensors == 60 and not proof.buffers_changed
    # Method 1: no gradient and no optimizer state for frozen layers.
    assert report.memory.grads_bytes == RESNET_TRAINABLE * 4
    assert report.memory.optimizer_bytes == 2 * RESNET_TRAINABLE * 4
    assert report.counts.trainable == RESNET_TRAINABLE and report.method == "requires_grad"


def test_resnet18_head_only_lr_zero_adamw_weight_decay(resnet18_10) -> None:
    cfg = _cfg(steps=8, method="lr_zero", optimizer="adamw", weight_decay=0.1)
    report = TrainingRun(resnet18_10, cfg, rules=RuleSet.loads(HEAD_ONLY)).run()
    assert report.status == TrainingStatus.COMPLETED and report.ok and report.method == "lr_zero"
    assert all(p.requires_grad for p in resnet18_10.parameters())  # method 2 keeps requires_grad on
    assert report.proof.frozen_verified_elements == RESNET_FROZEN
    assert report.proof.trainable_changed_elements == RESNET_TRAINABLE
    assert report.proof.buffer_verified_tensors == 60
    total = RESNET_FROZEN + RESNET_TRAINABLE
    assert report.memory.grads_bytes == total * 4  # method 2 computes every gradient
    assert report.memory.optimizer_bytes == 2 * total * 4


def test_sgd_momentum_lr_zero_keeps_frozen(convnet) -> None:
    cfg = _cfg(steps=5, method="lr_zero", optimizer="sgd", weight_decay=0.5, image_size=16)
    report = TrainingRun(convnet, cfg, rules=RuleSet.loads(HEAD_ONLY)).run()
    assert (
        report.ok
        and report.proof.frozen_verified_tensors == 8
        and report.proof.trainable_changed_tensors == 2
    )


BERT_LAST2 = """
default: freeze
rules:
  - train: bert.encoder.layer.10
  - train: bert.encoder.layer.11
  - train: bert.pooler
  - train: classifier
"""


@pytest.mark.slow
def test_bert_base_last_two_blocks_sequence_classification() -> None:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig())
    cfg = TrainingConfig(steps=3, batch_size=2, seq_len=16, lr=1e-4, device="cpu")
    report = TrainingRun(model, cfg, rules=RuleSet.loads(BERT_LAST2)).run()
    assert report.status == TrainingStatus.COMPLETED and report.ok, report
    expected_trainable = 2 * 7_087_872 + 590_592 + 1_538
    assert report.counts.trainable == expected_trainable
    assert report.proof.trainable_elements == expected_trainable
    assert report.proof.frozen_verified_elements == report.counts.frozen == 109_483_778 - expected_trainable
    # Dropout and the last blocks' LayerNorms: every trainable tensor moved except none.
    assert report.proof.trainable_changed_elements == expected_trainable
    assert "sequences of 16, 2 classes" in report.data


def _tokenizer_dir(tmp_path, text: str, *, mask: bool = False):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted(set(text.split()))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + (["[MASK]"] if mask else [])
    vocab = {w: i for i, w in enumerate(specials + words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    extra = {"mask_token": "[MASK]"} if mask else {}
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        **extra,
    )
    folder = tmp_path / "model"
    fast.save_pretrained(folder)
    return folder, len(vocab)


CORPUS = " ".join(
    f"the cat {w} on the mat and the dog {w} in the sun ." for w in ("sat", "ran", "slept", "ate") * 10
)


def test_causal_lm_from_config_with_tokenizer_on_text_file(tmp_path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    folder, vocab = _tokenizer_dir(tmp_path, CORPUS)
    torch.manual_seed(0)
    GPT2LMHeadModel(
        GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=2, n_positions=64)
    ).save_pretrained(folder)
    text = tmp_path / "corpus.txt"
    text.write_text(CORPUS, encoding="utf-8")
    spec = f"hf:{folder}"
    model = freezegui.load_model(spec)
    rules = RuleSet.loads("default: train\nrules:\n  - freeze: transformer.h.0\n")
    cfg = TrainingConfig(steps=10, batch_size=4, seq_len=16, lr=3e-3, device="cpu", data=str(text))
    run = TrainingRun(model, cfg, rules=rules, spec=spec)
    report = run.run()
    assert report.status == TrainingStatus.COMPLETED and report.ok, report
    assert report.steps_done == 10 and "next-token loss" in report.data
    assert _mean(report.losses[-3:]) < _mean(report.losses[:3])
    # The tied embedding / lm_head tensor counts once and trains.
    assert report.proof.frozen_tensors == len(list(model.transformer.h[0].parameters()))
    # Saving writes weights + rules; a strict load into a fresh model gives the fine-tuned values.
    paths = run.save(tmp_path / "out")
    assert {p.name for p in paths} == {"model.safetensors", "rules.yaml", "training_report.json"}
    fresh = freezegui.load_model(spec, weights=tmp_path / "out" / "model.safetensors")
    for (n, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), n
    saved_rules = RuleSet.load(tmp_path / "out" / "rules.yaml")
    assert saved_rules.model.spec == spec and [str(r) for r in saved_rules.rules] == [
        "freeze: transformer.h.0"
    ]
    assert not list((tmp_path / "out").glob(".*.tmp"))


def _tiny_bert(cls_name: str, vocab: int, **kw):
    import transformers

    config = transformers.BertConfig(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        **kw,
    )
    return getattr(transformers, cls_name)(config)


def test_masked_lm_text_file(tmp_path) -> None:
    folder, vocab = _tokenizer_dir(tmp_path, CORPUS, mask=True)
    text = tmp_path / "corpus.txt"
    text.write_text(CORPUS, encoding="utf-8")
    model = _tiny_bert("BertForMaskedLM", vocab)
    cfg = TrainingConfig(steps=4, batch_size=4, seq_len=16, device="cpu", data=str(text))
    report = TrainingRun(model, cfg, rules=RuleSet.loads("default: train\n"), model_dir=folder).run()
    assert report.status == TrainingStatus.COMPLETED and "masked-LM" in report.data


def test_sequence_classification_text_file_resizes_head(tmp_path) -> None:
    lines = [f"{lab}\tthe {w} cat sat" for lab, w in (("pos", "good"), ("neg", "bad"), ("meh", "ok")) * 4]
    folder, vocab = _tokenizer_dir(tmp_path, " ".join(lines), mask=False)
    text = tmp_path / "labels.tsv"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    model = _tiny_bert("BertForSequenceClassification", vocab)  # 2 labels by default
    cfg = TrainingConfig(steps=3, batch_size=4, seq_len=8, device="cpu", data=str(text))
    run = TrainingRun(
        model, cfg, rules=RuleSet.loads("default: freeze\nrules: [{train: classifier}]"), model_dir=folder
    )
    report = run.run()
    assert report.ok and model.classifier.out_features == 3 and model.config.num_labels == 3
    assert report.counts.trainable == 32 * 3 + 3
    assert run.rules.model.num_classes == 3


def test_synthetic_masked_lm_and_bare_encoder() -> None:
    cfg = TrainingConfig(steps=2, batch_size=2, seq_len=8, device="cpu")
    for cls_name, task in (("BertForMaskedLM", "masked_lm"), ("BertModel", "features")):
        run = TrainingRun(_tiny_bert(cls_name, 100), cfg)
        report = run.run()
        assert report.ok and run.data.task == task


@pytest.mark.parametrize("image_size", [16, [16, 16]])
def test_synthetic_hf_images_with_an_int_or_pair_image_size(image_size) -> None:
    import transformers

    config = transformers.ViTConfig(
        image_size=image_size,
        patch_size=8,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=3,
    )
    run = TrainingRun(transformers.ViTForImageClassification(config), _cfg(steps=2, batch_size=2))
    assert run.run().ok and run.data.task == "image_classification"
    assert "images 3x16x16, 3 classes" in run.data.description


def test_token_model_with_tied_weights(tied) -> None:
    run = TrainingRun(tied, TrainingConfig(steps=3, batch_size=2, seq_len=6, device="cpu"))
    report = run.run()
    assert report.ok and run.data.task == "token_lm"
    assert report.proof.trainable_tensors == len(list(tied.parameters()))  # the tied tensor once


def test_image_folder_resizes_head(tmp_path, convnet) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(
                tmp_path / cls / f"{i}.png"
            )
    cfg = _cfg(steps=3, batch_size=4, image_size=16, data=str(tmp_path))
    run = TrainingRun(convnet, cfg, rules=RuleSet.loads(HEAD_ONLY))
    report = run.run()
    assert report.ok and convnet.fc.out_features == 2
    assert report.counts.trainable == 8 * 2 + 2
    assert "6 images, 2 classes, 16x16" in report.data


# ------------------------------------------------------------------------------------------ bad data
def _bad_image_folder(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "a" / "ok.png")
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png at all")
    return tmp_path


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "missing", "no such data"),
        (lambda p: p, "not an image folder"),
        (lambda p: (p / "only").mkdir() or (p / "only" / "x.png").write_bytes(b"") or p, "class folder"),
        (_bad_image_folder, "unreadable image"),
    ],
)
def test_bad_image_data_fails_before_the_first_step(tmp_path, convnet, make, match) -> None:
    if match == "class folder":
        from PIL import Image

        (tmp_path / "only").mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / "only" / "x.png")
        path = tmp_path
    else:
        path = make(tmp_path)
    before = copy.deepcopy(convnet.state_dict())
    gen = TrainingRun(convnet, _cfg(data=str(path)), rules=RuleSet.loads(HEAD_ONLY)).steps()
    with pytest.raises(TrainingError, match=match):
        next(gen)
    assert all(torch.equal(v, convnet.state_dict()[k]) for k, v in before.items())


def test_bad_text_data(tmp_path) -> None:
    folder, vocab = _tokenizer_dir(tmp_path, CORPUS)
    short = tmp_path / "short.txt"
    short.write_text("the cat", encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    model = _tiny_bert("BertForSequenceClassification", vocab)
    lm = _tiny_bert("BertForMaskedLM", vocab)
    nolabel = tmp_path / "nolabel.txt"
    nolabel.write_text("pos\tgood\njust text without a tab\n", encoding="utf-8")
    cases = [
        (lm, short, folder, "too short"),
        (lm, short, folder, "too short"),
        (lm, empty, folder, "is empty"),
        (lm, short, None, "needs a tokenizer"),
        (lm, short, tmp_path / "nowhere", "no usable tokenizer"),
        (model, nolabel, folder, r"nolabel.txt:2: expected `label<TAB>text`"),
        (models.MLP(), short, folder, "trains transformers models only"),
    ]
    for m, data, tok_dir, match in cases:
        cfg = TrainingConfig(steps=1, seq_len=8, device="cpu", data=str(data))
        with pytest.raises(TrainingError, match=match):
            TrainingRun(m, cfg, model_dir=tok_dir).prepare()


def test_bad_settings_and_models() -> None:
    with pytest.raises(TrainingError, match="steps"):
        TrainingRun(models.MLP(), TrainingConfig(steps=0)).prepare()
    with pytest.raises(TrainingError, match="not available"):
        TrainingRun(
            models.MLP(), TrainingConfig(device="cuda:7" if not torch.cuda.is_available() else "xla")
        ).prepare()
    with pytest.raises(TrainingError, match="structure-only"):
        TrainingRun(freezegui.load_model("torchvision:resnet18", structure_only=True), _cfg()).prepare()
    with pytest.raises(TrainingError, match="nothing to train"):
        TrainingRun(models.MLP(), _cfg(), rules=RuleSet.loads("default: freeze")).prepare()
    with pytest.raises(freezegui.RuleError, match="matches no parameter"):
        TrainingRun(
            models.MLP(), _cfg(), rules=RuleSet.loads("default: freeze\nrules: [{train: fc}]")
        ).prepare()


# ------------------------------------------------------------------------------------------ endings
class Flaky(models.MLP):
    """Returns NaN, or raises, from a given forward call on."""

    def __init__(self, at: int, mode: str) -> None:
        super().__init__()
        self.calls, self.at, self.mode = 0, at, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out = super().forward(x)
        if self.training and self.calls >= self.at:
            if self.mode == "nan":
                return out * float("nan")
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (simulated)")
        return out


FC2 = "default: freeze\nrules: [{train: fc2}]"


def test_nan_loss_ends_run_as_diverged() -> None:
    model = Flaky(at=4, mode="nan")  # call 1 is the dry forward, so training step 3 is NaN
    report = TrainingRun(model, _cfg(steps=10), rules=RuleSet.loads(FC2)).run()
    assert report.status == TrainingStatus.DIVERGED and report.steps_done == 2
    assert "nan" in report.message and "not applied" in report.message
    assert report.proof.ok and report.proof.frozen_verified_tensors == 2


def test_step_that_raises_ends_run_as_failed() -> None:
    model = Flaky(at=3, mode="raise")
    report = TrainingRun(model, _cfg(steps=10), rules=RuleSet.loads(FC2)).run()
    assert report.status == TrainingStatus.FAILED and report.steps_done == 1 and not report.ok
    assert "step 2 raised RuntimeError: mat1 and mat2" in report.message
    assert report.proof.ok


def test_stop_between_steps_from_the_consumer_and_another_thread(convnet) -> None:
    run = TrainingRun(convnet, _cfg(steps=50, image_size=16), rules=RuleSet.loads(HEAD_ONLY))
    for r in run.steps():
        if r.step == 3:
            run.stop()
    assert run.report.status == TrainingStatus.STOPPED and run.report.steps_done == 3 and run.report.proof.ok

    run2 = TrainingRun(
        copy.deepcopy(convnet), _cfg(steps=10_000, image_size=16), rules=RuleSet.loads(HEAD_ONLY)
    )
    started = threading.Event()
    seen: list[int] = []

    def consume() -> None:
        for r in run2.steps():
            seen.append(r.step)
            started.set()

    t = threading.Thread(target=consume)
    t.start()
    assert started.wait(30)
    run2.stop()
    t.join(30)
    assert not t.is_alive()
    assert run2.report.status == TrainingStatus.STOPPED and run2.report.steps_done == len(seen) < 10_000


def test_status_is_an_enum_that_serialises_as_its_string(convnet) -> None:
    report = TrainingRun(convnet, _cfg(steps=1, image_size=16), rules=RuleSet.loads(HEAD_ONLY)).run()
    assert report.status is TrainingStatus.COMPLETED and report.status == "completed"
    assert json.loads(json.dumps(report.as_dict()))["status"] == "completed"
    assert report.lines()[0] == "status: completed"


def test_closing_the_generator_still_reports(convnet) -> None:
    run = TrainingRun(convnet, _cfg(steps=20, image_size=16), rules=RuleSet.loads(HEAD_ONLY))
    gen = run.steps()
    next(gen)
    gen.close()
    assert run.report.status == TrainingStatus.STOPPED and run.report.steps_done == 1 and run.report.proof.ok


# ------------------------------------------------------------------------------------------ inputs
def test_selection_from_the_app(convnet) -> None:
    tree = build_tree(convnet)
    sel = Selection(tree)
    sel.set_subtree(tree.root, False)
    sel.set_subtree(tree.node("features.3"), True)  # the second conv trains; BN around it stays frozen
    trainee = copy.deepcopy(convnet)
    run = TrainingRun(trainee, _cfg(steps=3, image_size=16, method="lr_zero"), selection=sel)
    report = run.run()
    assert report.ok and report.counts.trainable == 4 * 8 * 9 + 8 and report.method == "lr_zero"
    assert run.frozen_norm_layers == ["features.1", "features.4"]
    assert all(torch.equal(a, b) for a, b in zip(convnet.parameters(), build_tree(convnet).tensors))


def test_compare_methods_table(convnet) -> None:
    before = copy.deepcopy(convnet.state_dict())
    results = compare_methods(convnet, _cfg(steps=4, image_size=16), rules=RuleSet.loads(HEAD_ONLY))
    assert [r.name for r in results] == ["full", "requires_grad", "lr_zero"]
    full, m1, m2 = (r.report for r in results)
    assert all(r.ok for r in (full, m1, m2))
    total = sum(p.numel() for p in convnet.parameters())
    assert full.counts.trainable == total and m1.counts.trainable == m2.counts.trainable == 27
    assert m1.memory.grads_bytes == 27 * 4 < m2.memory.grads_bytes == full.memory.grads_bytes == total * 4
    assert m1.memory.state_bytes < m2.memory.state_bytes
    assert full.proof.buffer_tensors == 0  # full fine-tuning updates BatchNorm statistics
    assert m1.losses == pytest.approx(m2.losses, rel=1e-5)  # the two methods train the same way
    table = format_comparison(results)
    assert "method 1: requires_grad" in table and "method 2: lr_zero" in table
    assert all(torch.equal(v, convnet.state_dict()[k]) for k, v in before.items())  # the original untouched


def test_failed_save_leaves_nothing(tmp_path, convnet, monkeypatch) -> None:
    run = TrainingRun(convnet, _cfg(steps=2, image_size=16), rules=RuleSet.loads(HEAD_ONLY))
    run.run()

    def boom(self):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(RuleSet, "dumps", boom)
    out = tmp_path / "ckpt"
    with pytest.raises(TrainingError, match="disk full"):
        run.save(out)
    assert not out.exists() and list(tmp_path.iterdir()) == []  # no half-written folder left beside


def test_save_is_loadable_with_torch_and_safetensors(tmp_path, convnet) -> None:
    from safetensors.torch import load_file

    run = TrainingRun(
        convnet,
        _cfg(steps=2, image_size=16),
        rules=RuleSet.loads(HEAD_ONLY),
        spec="py:tests.models:SmallConvNet",
    )
    run.run()
    run.save(tmp_path)
    sd = load_file(tmp_path / "model.safetensors")
    assert set(sd) == set(convnet.state_dict())
    fresh = models.SmallConvNet()
    fresh.load_state_dict(sd)
    assert torch.equal(fresh.fc.weight, convnet.fc.weight)
    assert RuleSet.load(tmp_path / "rules.yaml").model.spec == "py:tests.models:SmallConvNet"


def test_generic_model_shapes() -> None:
    class Seg(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 1)

        def forward(self, x):
            return self.conv(x)

    with pytest.raises(TrainingError, match="returns shape"):
        TrainingRun(Seg(), _cfg()).prepare()
    report = TrainingRun(models.MLP(), _cfg(steps=2)).run()
    assert report.ok and "vectors 8, 4 classes" in report.data


def test_keyboard_interrupt_during_a_step_ends_with_a_report() -> None:
    class Interrupted(models.MLP):
        calls = 0

        def forward(self, x):
            type(self).calls += 1
            if self.training and type(self).calls == 3:
                raise KeyboardInterrupt
            return super().forward(x)

    cfg = _cfg(steps=10, predict=False)  # the class counts calls: the plan's meta forwards would count too
    report = TrainingRun(Interrupted(), cfg, rules=RuleSet.loads(FC2)).run()
    assert (
        report.status == TrainingStatus.STOPPED
        and report.steps_done == 1
        and "interrupted during step 2" in report.message
    )
    assert report.proof.ok
