"""Training data for a short session: synthetic batches shaped for the model, an image folder, or text.

Everything that can go wrong with data (an empty folder, an unreadable image, a text shorter than one
sequence, a missing tokenizer) raises :class:`TrainingError` here, before the first step. Batches are
prepared on the training device up front where they fit, so a step does no data work beyond slicing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from freezegui.core.data.examples import describe_examples, make_batch
from freezegui.core.data.examples import mask_tokens as _mask_tokens
from freezegui.core.data.synthetic import describe
from freezegui.core.data.tasks import Batch, is_transformers_model
from freezegui.core.data.tasks import classify_loss as _classify_loss
from freezegui.core.data.tasks import float_dtype as _float_dtype
from freezegui.core.data.tasks import hf_label_loss as _hf_label_loss
from freezegui.core.data.tasks import hf_task as _hf_task
from freezegui.core.data.tasks import vocab_size as _vocab_size
from freezegui.core.errors import TrainingError
from freezegui.core.file_kinds import refuse_special_entries, refuse_special_file
from freezegui.core.messages import reason
from freezegui.core.structure.heads import find_head, replace_head
from freezegui.core.training.config import SYNTHETIC, TrainingConfig
from freezegui.core.training.heldout import HeldOut

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_POOL_BATCHES = 8  # synthetic data: this many distinct batches (one epoch), cycled (so the loss can go down)
_PRELOAD_LIMIT = 512  # image folders up to this size are decoded once, up front
_PRELOAD_BYTES = 64 * 2**20  # ... and larger ones whose decoded tensors fit in this (small images)


@dataclass
class TrainingData:
    """Batches for one run and the loss that fits them.

    ``batch(step)`` returns the batch for a 0-based step, already on the device; ``loss(model, batch)``
    runs the forward pass and returns a scalar loss tensor. A ``get_batch`` with a length (``len()``:
    batches in one pass over the data) gives the run its epochs; a plain function has none.
    """

    task: str
    description: str
    get_batch: Callable[[int], Batch]
    loss_fn: Callable[[nn.Module, Batch], torch.Tensor]
    num_classes: int | None = None
    head_replaced: str | None = None
    val: HeldOut | None = None  # held-out examples (freezegui.core.training.evaluation scores them)

    def batch(self, step: int) -> Batch:
        return self.get_batch(step)

    @property
    def steps_per_epoch(self) -> int | None:
        """Batches in one epoch (one pass over the data, the last batch topped up from the start, as a
        ``DataLoader`` without ``drop_last`` counts them); None for data without a length."""
        return max(1, len(self.get_batch)) if isinstance(self.get_batch, Sized) else None

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return self.loss_fn(model, batch)


# ------------------------------------------------------------------------------------------ entry
def make_data(
    model: nn.Module, config: TrainingConfig, device: torch.device, *, model_dir: str | Path | None = None
) -> TrainingData:
    """Build the data ``config.data`` names for ``model`` (whose head may be resized to the data's classes)."""
    source = (config.data or SYNTHETIC).strip()
    if source.lower() == SYNTHETIC:
        return synthetic_data(model, config, device)
    path = Path(source).expanduser()
    if not path.exists():
        raise TrainingError(f"no such data folder or file: {path} (or use --data synthetic)")
    refuse_special_file(path, "data file", TrainingError, folder_ok=True)
    if path.is_dir():
        return image_folder_data(model, path, config, device)
    return text_file_data(model, path, config, device, model_dir=model_dir)


# ------------------------------------------------------------------------------------------ pools
class _Pool:
    """Examples kept on the device, taken in order ``batch_size`` at a time; one pass is an epoch.

    Every epoch is the same pass: its last batch, when the examples do not divide evenly, is topped
    up from the first examples, and the next epoch starts again at the first."""

    def __init__(self, inputs: Any, labels: torch.Tensor, batch_size: int) -> None:
        self.inputs, self.labels, self.bs = inputs, labels, batch_size
        self.n = int(labels.shape[0])

    def __len__(self) -> int:
        """Batches in one pass over the examples (an epoch)."""
        return math.ceil(self.n / self.bs)

    def _take(self, t: torch.Tensor, start: int) -> torch.Tensor:
        if start + self.bs <= self.n:
            return t[start : start + self.bs]
        idx = torch.arange(start, start + self.bs, device=t.device) % self.n
        return t.index_select(0, idx)

    def __call__(self, step: int) -> Batch:
        start = (step % len(self)) * self.bs
        if isinstance(self.inputs, dict):
            inputs: Any = {k: self._take(v, start) for k, v in self.inputs.items()}
        else:
            inputs = self._take(self.inputs, start)
        return inputs, self._take(self.labels, start)


# ------------------------------------------------------------------------------------------ synthetic
def synthetic_data(model: nn.Module, config: TrainingConfig, device: torch.device) -> TrainingData:
    """Random but learnable data shaped for the model, made with ``config.seed`` (see
    :mod:`freezegui.core.data.synthetic`): a pool of ``_POOL_BATCHES`` batches on ``device``."""
    spec = describe(
        model,
        batch_size=config.batch_size,
        seq_len=config.seq_len,
        image_size=config.image_size,
        seed=config.seed,
        device=device,
    )
    n = config.batch_size * _POOL_BATCHES
    inputs, labels = make_batch(spec, n, device)
    return TrainingData(
        spec.task,
        describe_examples(spec, n),
        _Pool(inputs, labels, config.batch_size),
        spec.loss_fn,
        num_classes=spec.classes,
    )


# ------------------------------------------------------------------------------------------ image folder
def image_folder_data(
    model: nn.Module, root: Path, config: TrainingConfig, device: torch.device
) -> TrainingData:
    """An ``ImageFolder`` tree (``root/CLASS/image.jpg``): resized, normalised, the head resized to the classes."""
    from torchvision import transforms

    ds = _open_image_folder(root)
    classes = len(ds.classes)
    head = _fit_head(model, classes)
    is_hf = is_transformers_model(model)
    default = 224
    if is_hf:
        size = getattr(model.config, "image_size", 224)
        default = int(size[0] if isinstance(size, (tuple, list)) else size)
    size = config.image_size or default
    ds.transform = transforms.Compose(
        [
            transforms.Resize(size),
            transforms.CenterCrop(size),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    dtype = _float_dtype(model)
    gen = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(len(ds), generator=gen).tolist()

    def load(i: int) -> tuple[torch.Tensor, int]:
        try:
            item: tuple[torch.Tensor, int] = ds[i]
        except (OSError, ValueError) as exc:
            raise TrainingError(f"unreadable image {ds.samples[i][0]}: {exc}") from None
        return item

    wrap = (lambda x: {"pixel_values": x}) if is_hf else (lambda x: x)
    get_batch: Callable[[int], Batch]
    if len(ds) <= _PRELOAD_LIMIT or len(ds) * 3 * size * size * 4 <= _PRELOAD_BYTES:
        items = [load(i) for i in order]
        x = torch.stack([t for t, _ in items]).to(device=device, dtype=dtype)
        y = torch.tensor([c for _, c in items], device=device)
        get_batch = _Pool(wrap(x), y, config.batch_size)
    else:
        get_batch = _Streamed(load, order, config.batch_size, wrap, device, dtype)
    desc = f"image folder {root}: {len(ds)} images, {classes} classes, {size}x{size}"
    return TrainingData("classification", desc, get_batch, _classify_loss, classes, head)


class _Streamed:
    """Batches decoded on demand, in a fixed shuffled order that wraps around; ``len`` is one epoch."""

    def __init__(
        self,
        load: Callable[[int], tuple[torch.Tensor, int]],
        order: list[int],
        batch_size: int,
        wrap: Callable[[torch.Tensor], Any],
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.load, self.order, self.bs = load, order, batch_size
        self.wrap, self.device, self.dtype = wrap, device, dtype

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.bs)

    def __call__(self, step: int) -> Batch:
        start = (step % len(self)) * self.bs
        items = [self.load(self.order[(start + j) % len(self.order)]) for j in range(self.bs)]
        x = torch.stack([t for t, _ in items]).to(device=self.device, dtype=self.dtype)
        return self.wrap(x), torch.tensor([c for _, c in items], device=self.device)


def _open_image_folder(root: Path) -> Any:
    """The ``ImageFolder`` at ``root``, with at least two classes and every image readable (else raises)."""
    from PIL import Image, UnidentifiedImageError
    from torchvision import datasets

    try:
        ds = datasets.ImageFolder(str(root))
    except (FileNotFoundError, OSError) as exc:
        raise TrainingError(
            f"{root} is not an image folder in the ImageFolder layout (root/CLASS/IMAGE): {exc}"
        ) from None
    if len(ds.classes) < 2:
        raise TrainingError(f"{root} has {len(ds.classes)} class folder(s); a classifier needs at least 2")
    for path, _ in ds.samples:
        refuse_special_file(path, "image", TrainingError)  # a FIFO named x.png would block the open
        try:
            with Image.open(path) as img:
                img.verify()
        except Image.DecompressionBombError:  # the header alone claims more pixels than Pillow decodes
            raise TrainingError(
                f"image {path} claims more than {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels "
                "(a decompression bomb?); resize it or remove it from the folder"
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise TrainingError(f"unreadable image {path}: {reason(exc)}") from None
    return ds


def _fit_head(model: nn.Module, classes: int) -> str | None:
    """Resize the classification head to ``classes`` outputs when it has another size; returns its path."""
    path = find_head(model)
    if path is None:
        raise TrainingError(
            f"{type(model).__name__} has no Linear classification head to fit to {classes} classes"
        )
    head = model.get_submodule(path)
    out = head.out_features if isinstance(head, nn.Linear) else getattr(head, "out_channels", None)
    if out == classes:
        return None
    if any(p.is_meta for p in head.parameters()):
        raise TrainingError("the model was opened structure-only (no weights); it cannot train")
    replace_head(model, classes)
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "num_labels"):
        cfg.num_labels = classes
    return path


# ------------------------------------------------------------------------------------------ text file
def load_tokenizer(folder: str | Path | None) -> Any:
    """The tokenizer saved in a transformers model folder; a clear error when there is none."""
    if folder is None:
        raise TrainingError(
            "training on a text file needs a tokenizer: open the model from a folder that holds one "
            "(hf:PATH) or name the tokenizer folder"
        )
    from transformers import AutoTokenizer

    if Path(folder).is_dir():
        refuse_special_entries(folder, "tokenizer file", TrainingError)  # a FIFO there would block
    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise TrainingError(f"no usable tokenizer in {folder}: {reason(exc)}") from None


def text_file_data(
    model: nn.Module,
    path: Path,
    config: TrainingConfig,
    device: torch.device,
    *,
    model_dir: str | Path | None = None,
) -> TrainingData:
    """A text file for a transformers model: next-token (causal LM), MLM, or ``label<TAB>text`` lines."""
    if not is_transformers_model(model):
        raise TrainingError(
            f"a text file ({path.name}) trains transformers models only; {type(model).__name__} is not one"
        )
    task = _hf_task(model)
    if task not in ("causal_lm", "masked_lm", "sequence_classification"):
        raise TrainingError(
            f"{type(model).__name__} has no language-model or sequence-classification head; "
            "text files train *ForCausalLM, *ForMaskedLM and *ForSequenceClassification models"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainingError(f"cannot read {path} as UTF-8 text: {exc}") from None
    if not text.strip():
        raise TrainingError(f"{path} is empty")
    tok = load_tokenizer(config.tokenizer or model_dir)
    vocab = _vocab_size(model.config)
    seq_len = config.seq_len
    gen = torch.Generator().manual_seed(config.seed)
    if task == "sequence_classification":
        return _seq_cls_text(model, path, text, tok, config, device, gen)
    ids = torch.tensor(tok(text, add_special_tokens=False, verbose=False)["input_ids"], dtype=torch.long)
    if ids.numel() < seq_len:
        raise TrainingError(
            f"{path} is too short: {ids.numel()} tokens, fewer than one sequence of {seq_len} "
            f"(add text or lower the sequence length)"
        )
    if int(ids.max()) >= vocab:
        raise TrainingError(
            f"the tokenizer produces id {int(ids.max())} but the model's vocabulary is {vocab}"
        )
    blocks = ids[: (ids.numel() // seq_len) * seq_len].view(-1, seq_len)
    blocks = blocks[torch.randperm(blocks.shape[0], generator=gen)]
    n = int(blocks.shape[0])
    if task == "causal_lm":
        pool = _Pool({"input_ids": blocks.to(device)}, blocks.to(device), config.batch_size)
        desc = f"text file {path.name}: {ids.numel():,} tokens, {n} sequences of {seq_len} (next-token loss)"
        return TrainingData("causal_lm", desc, pool, _hf_label_loss)
    mask_id = tok.mask_token_id
    if mask_id is None:
        raise TrainingError(
            f"the tokenizer in {config.tokenizer or model_dir} has no mask token; MLM needs one"
        )
    inputs, labels = _mask_tokens(blocks, int(mask_id), gen)
    pool = _Pool({"input_ids": inputs.to(device)}, labels.to(device), config.batch_size)
    desc = f"text file {path.name}: {ids.numel():,} tokens, {n} sequences of {seq_len} (masked-LM loss, 15% masked)"
    return TrainingData("masked_lm", desc, pool, _hf_label_loss)


def _seq_cls_text(
    model: nn.Module,
    path: Path,
    text: str,
    tok: Any,
    config: TrainingConfig,
    device: torch.device,
    gen: torch.Generator,
) -> TrainingData:
    labels_raw: list[str] = []
    texts: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        label, sep, body = line.partition("\t")
        if not sep or not label.strip() or not body.strip():
            raise TrainingError(f"{path}:{lineno}: expected `label<TAB>text`")
        labels_raw.append(label.strip())
        texts.append(body)
    names = sorted(set(labels_raw))
    if len(names) < 2:
        raise TrainingError(f"{path} has {len(names)} distinct label(s); a classifier needs at least 2")
    if all(n.isdigit() for n in names):
        ids_of = {n: int(n) for n in names}
        classes = max(ids_of.values()) + 1
    else:
        ids_of = {n: i for i, n in enumerate(names)}
        classes = len(names)
    head = None
    cfg: Any = model.config  # a transformers PretrainedConfig (untyped here)
    if classes != int(cfg.num_labels):
        head = _fit_head(model, classes)
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise TrainingError("the tokenizer has no padding token (nor an end token to pad with)")
        tok.pad_token = tok.eos_token
    if getattr(cfg, "pad_token_id", None) is None:
        cfg.pad_token_id = tok.pad_token_id
    enc = tok(texts, padding="max_length", truncation=True, max_length=config.seq_len, return_tensors="pt")
    y = torch.tensor([ids_of[s] for s in labels_raw], dtype=torch.long)
    perm = torch.randperm(len(texts), generator=gen)
    inputs = {
        "input_ids": enc["input_ids"][perm].to(device),
        "attention_mask": enc["attention_mask"][perm].to(device),
    }
    pool = _Pool(inputs, y[perm].to(device), config.batch_size)
    desc = f"text file {path.name}: {len(texts)} labelled lines, {classes} classes, length {config.seq_len}"
    return TrainingData("sequence_classification", desc, pool, _classify_loss, classes, head)
