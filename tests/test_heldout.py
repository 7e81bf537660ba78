"""Held-out evaluation on real data (scikit-learn's digits), chat data with completion-only loss, bad rows.

The digits (1,797 8x8 images no one here drew) are written out as an image folder; a small CNN is
trained head-only, last block and fully from the same weights: each trained run scores well above
chance on the same held-out images, and the frozen weights stay bit-identical.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from freezegui.core.data.chat import IGNORE_INDEX
from freezegui.core.data.problems import DataError, DataProblem
from freezegui.core.data.split import split_indices
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.training.config import TrainingConfig
from freezegui.core.training.engine import TrainingRun
from freezegui.core.training.selections import Comparison, format_selections


class DigitNet(nn.Module):
    """stem -> block1 -> block2 -> fc: "head only", "last block" and "full" are three real choices."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.block1 = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU())
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.adaptive_avg_pool2d(self.block2(self.block1(self.stem(x))), 1).flatten(1))


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    from PIL import Image

    digits = sklearn_datasets.load_digits()
    root = tmp_path_factory.mktemp("digits")
    for i, (image, label) in enumerate(zip(digits.images, digits.target)):
        folder = root / str(label)
        folder.mkdir(exist_ok=True)
        Image.fromarray((image * 255 / 16).astype(np.uint8)).save(folder / f"{i:04d}.png")
    return root


HEAD = "default: freeze\nrules:\n- train: fc\n"
LAST_BLOCK = "default: freeze\nrules:\n- train: [block2, fc]\n"


def _pretrained_on_half_the_digits() -> DigitNet:
    """A backbone trained (in memory, a few seconds) on the digits 0-4 only, with a fresh 10-class head:
    fine-tuning it on all ten digits is a real transfer, as with a pretrained model."""
    from sklearn.datasets import load_digits

    from freezegui.core.training.data import IMAGENET_MEAN, IMAGENET_STD

    digits = load_digits()
    keep = digits.target < 5
    x = torch.tensor(digits.images[keep], dtype=torch.float32)[:, None].repeat(1, 3, 1, 1) / 16
    x = F.interpolate(x, size=16, mode="bilinear", align_corners=False)
    x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
    y = torch.tensor(digits.target[keep])
    torch.manual_seed(0)
    model = DigitNet()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(80):
        idx = torch.arange(step * 64, step * 64 + 64) % len(y)
        opt.zero_grad()
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    model.fc.reset_parameters()
    return model


@pytest.fixture
def one_thread():
    """A tiny CNN steps ten times faster on one thread than on an oversubscribed shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_digits_head_last_block_and_full_score_well_above_chance_on_the_same_examples(
    digits_folder, one_thread
) -> None:
    model = _pretrained_on_half_the_digits()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainingConfig(
        steps=40, batch_size=32, lr=1e-2, device="cpu", data=str(digits_folder), image_size=16,
        eval_every=20, predict=False,
    )  # fmt: skip
    entries = [("head", RuleSet.loads(HEAD)), ("last block", RuleSet.loads(LAST_BLOCK)), ("full", None)]
    comparison = Comparison(model, cfg, entries)
    events = list(comparison.events())
    results = comparison.results
    assert [r.label for r in results] == ["head", "last block", "full"]
    rows = [r.as_dict() for r in results]
    for r, row in zip(results, rows):
        assert r.report is not None and r.report.ok, r.report
        assert row["metric"] == "accuracy" and row["val_examples"] == 179  # floor(1797 * 0.1)
        assert row["val_metric"] > 0.5, row  # chance is 0.1
        assert [s for s, _ in row["val_curve"]] == [20, 40]
    assert len({row["val_digest"] for row in rows}) == 1  # identical held-out images in every run
    head = results[0].report
    assert head is not None and head.proof is not None and head.proof.frozen_tensors > 0
    assert head.proof.ok and not head.proof.frozen_changed  # frozen weights bit-identical, as today
    for k, v in model.state_dict().items():  # the compared model itself never trains
        assert torch.equal(v, before[k]), k
    assert sum(e.step is not None for e in events) == 3 * 40
    assert "same 179 held-out examples" in format_selections(results)


def test_the_split_is_seeded_disjoint_and_the_same_every_time() -> None:
    train, val = split_indices(1797, 0.1, seed=3)
    assert (train, val) == split_indices(1797, 0.1, seed=3)
    assert len(val) == 179 and not set(train) & set(val) and sorted(train + val) == list(range(1797))
    assert val != split_indices(1797, 0.1, seed=4)[1]
    assert split_indices(5, 0.1, 0) == ([0, 1, 2, 3, 4], [])  # too few to hold out one


# ------------------------------------------------------------------------------------------ chat
CHAT_SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>"]
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)
QA = [
    (f"what is {a} plus {b}", f"it is {a} and {b} together")
    for a in ("one", "two", "three")
    for b in ("four", "five", "six", "seven")
]


def _llama_dir(tmp_path: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = sorted({w for q, a in QA for w in (q + " " + a).split()})
    vocab = {w: i for i, w in enumerate(CHAT_SPECIALS + words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        additional_special_tokens=["<|user|>", "<|assistant|>"],
    )  # fmt: skip
    fast.chat_template = TEMPLATE
    folder = tmp_path / "llama"
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def _chat_file(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = [
        json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
        for q, a in rows
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_chat_jsonl_on_a_tiny_llama_learns_only_the_completion_and_reports_perplexity(tmp_path) -> None:
    import freezegui

    folder = _llama_dir(tmp_path)
    data = _chat_file(tmp_path / "train.jsonl", QA[:10])
    _chat_file(tmp_path / "val.jsonl", QA[10:])
    model = freezegui.load_model(f"hf:{folder}")
    cfg = TrainingConfig(
        steps=8, batch_size=4, seq_len=24, lr=3e-3, device="cpu", data=str(data), predict=False
    )
    run = TrainingRun(model, cfg, model_dir=folder)
    run.prepare()
    assert (
        run.data is not None
        and run.data.task == "causal_lm"
        and "completion tokens only" in run.data.description
    )
    inputs, labels = run.data.batch(0)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    tok = freezegui.core.training.data.load_tokenizer(folder)
    assistant = tok.convert_tokens_to_ids("<|assistant|>")
    for row in range(ids.shape[0]):
        start = int((ids[row] == assistant).nonzero()[0]) + 1  # the completion begins after the marker
        end = int(mask[row].sum())
        assert (labels[row, :start] == IGNORE_INDEX).all()  # the prompt: no loss
        assert (labels[row, end:] == IGNORE_INDEX).all()  # padding: no loss
        assert torch.equal(labels[row, start:end], ids[row, start:end])  # the completion: every token
        assert int(ids[row, end - 1]) == tok.eos_token_id
    # The engine's loss is the mean cross entropy over the completion tokens and nothing else.
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        keep = labels[:, 1:] != IGNORE_INDEX
        manual = F.cross_entropy(logits[:, :-1][keep], labels[:, 1:][keep])
        assert float(run.data.loss(model, (inputs, labels))) == pytest.approx(float(manual), rel=1e-5)
        labels_all = torch.where(mask.bool(), ids, torch.full_like(ids, IGNORE_INDEX))
        assert float(run.data.loss(model, (inputs, labels_all))) != pytest.approx(float(manual), rel=1e-3)
    report = run.run()
    assert report.ok, report
    last = report.final_evaluation
    assert last is not None and last.metric == "perplexity" and last.examples == 2  # val.jsonl's rows
    assert last.value == pytest.approx(math.exp(last.loss))
    assert "perplexity" in "\n".join(report.lines()) and report.as_dict()["metric"] == "perplexity"


def test_prompt_completion_rows_hold_out_a_seeded_tenth(tmp_path) -> None:
    import freezegui

    folder = _llama_dir(tmp_path)
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        "".join(json.dumps({"prompt": q, "completion": a}) + "\n" for q, a in QA), encoding="utf-8"
    )
    cfg = TrainingConfig(steps=2, batch_size=4, seq_len=24, device="cpu", data=str(path), predict=False)
    report = TrainingRun(freezegui.load_model(f"hf:{folder}"), cfg, model_dir=folder).run()
    assert report.ok and report.final_evaluation is not None and report.final_evaluation.examples == 1
    assert "prompt/completion rows" in report.data


# ------------------------------------------------------------------------------------------ bad data
def _bert_dir(tmp_path: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "bad", "film"])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")
    folder = tmp_path / "bert"
    fast.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


ROWS = [("good film", "pos"), ("bad film", "neg")] * 6


@pytest.mark.parametrize(
    ("files", "where", "kind"),
    [
        ({"train.csv": "text,target\ngood film,pos\n"}, "train.csv:2", DataProblem.MISSING_COLUMN),
        (
            {
                "train.jsonl": "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in ROWS),
                "val.jsonl": '{"text": "good film", "label": "pos"}\n{"text": "bad film", "label": "meh"}\n',
            },
            "val.jsonl:2",
            DataProblem.UNKNOWN_LABEL,
        ),
        ({"train.jsonl": "\n\n"}, "train.jsonl", DataProblem.EMPTY),
        (
            {"train.jsonl": '{"text": "good film", "label": "pos"}\n{"text": "bad\n'},
            "train.jsonl:2",
            DataProblem.NOT_JSON,
        ),
    ],
    ids=["missing column", "label not in the class list", "empty file", "a line that is not JSON"],
)
def test_each_bad_data_case_is_one_line_naming_the_file_and_line(
    tmp_path, capsys, files, where, kind
) -> None:
    import freezegui
    from freezegui.cli.main import main

    folder = _bert_dir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    data = tmp_path / next(iter(files))
    cfg = TrainingConfig(steps=1, batch_size=2, seq_len=4, device="cpu", data=str(data), predict=False)
    with pytest.raises(DataError) as caught:
        TrainingRun(freezegui.load_model(f"hf:{folder}"), cfg, model_dir=folder).prepare()
    assert caught.value.kind == kind and caught.value.where == str(tmp_path / where)
    capsys.readouterr()  # the fixture's own output
    rc = main(["train", f"hf:{folder}", "--data", str(data), "--steps", "1", "--no-plan"])
    err = capsys.readouterr().err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("freezegui:")]  # transformers' load bar aside
    assert rc == 2 and line.startswith(f"freezegui: error: {tmp_path / where}: ") and "Traceback" not in err


def test_a_datasets_folder_with_a_validation_split(tmp_path) -> None:
    datasets = pytest.importorskip("datasets")
    import freezegui

    folder = _bert_dir(tmp_path)
    train = {"text": [t for t, _ in ROWS], "label": [lab for _, lab in ROWS]}
    val = {"text": ["good film", "bad film", "good film"], "label": ["pos", "neg", "pos"]}
    dd = datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict(train), "validation": datasets.Dataset.from_dict(val)}
    )
    dd.save_to_disk(str(tmp_path / "ds"))
    cfg = TrainingConfig(
        steps=3, batch_size=4, seq_len=4, device="cpu", data=str(tmp_path / "ds"), predict=False
    )
    report = TrainingRun(freezegui.load_model(f"hf:{folder}"), cfg, model_dir=folder).run()
    assert report.ok and report.final_evaluation is not None
    assert report.final_evaluation.examples == 3 and report.final_evaluation.metric == "accuracy"


# ------------------------------------------------------------------------------------------ CLI
def test_cli_compare_prints_the_table_and_the_json_keys(tmp_path, capsys) -> None:
    from PIL import Image

    from freezegui.cli.main import main

    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        for split in ("train", "val"):
            (tmp_path / "img" / split / cls).mkdir(parents=True)
            for i in range(6 if split == "train" else 2):
                Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(
                    tmp_path / "img" / split / cls / f"{i}.png"
                )
    head = tmp_path / "head.yaml"
    head.write_text("default: freeze\nrules:\n- train: fc\n", encoding="utf-8")
    args = ["compare", "py:tests.models:SmallConvNet", "--rules", str(head), "--rules", "full", "--rules",
            str(tmp_path / "missing.yaml"), "--data", str(tmp_path / "img"), "--steps", "2", "--image-size", "8",
            "--batch-size", "4", "--device", "cpu", "--no-plan"]  # fmt: skip
    assert main(args) == 2  # a rule file that is not there: refused before any training
    capsys.readouterr()
    del args[6:8]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    keys = {
        "rules",
        "trainable",
        "val_loss",
        "val_metric",
        "metric",
        "ms_per_step",
        "peak_bytes",
        "train_loss",
        "val_examples",
    }
    assert [r["rules"] for r in out["runs"]] == [str(head), "full"]
    for r in out["runs"]:
        assert (
            keys <= set(r)
            and len(r["train_loss"]) == 2
            and r["val_examples"] == 4
            and r["metric"] == "accuracy"
        )
    assert out["runs"][0]["trainable"] < out["runs"][1]["trainable"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "val loss" in text and "accuracy" in text and "same 4 held-out examples" in text
