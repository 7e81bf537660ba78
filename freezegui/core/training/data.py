"""Training data for a short session: synthetic batches shaped for the model, an image folder, or text.

Everything that can go wrong with data (an empty folder, an unreadable image, a text shorter than one
sequence, a missing tokenizer) raises :class:`TrainingError` here, before the first step. Batches are
prepared on the training device up front where they fit, so a step does no data work beyond slicing.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from freezegui.core.errors import TrainingError
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
_MASK_PROB = 0.15

Batch = tuple[Any, torch.Tensor]  # (model inputs: a tensor or a dict of tensors, labels)


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
    if path.is_dir():
        return image_folder_data(model, path, config, device)
    return text_file_data(model, path, config, device, model_dir=model_dir)


def is_transformers_model(model: nn.Module) -> bool:
    config = getattr(model, "config", None)
    return config is not None and hasattr(config, "model_type") and hasattr(model, "get_input_embeddings")


def _hf_task(model: nn.Module) -> str:
    name = type(model).__name__
    for suffix, task in (
        ("ForSequenceClassification", "sequence_classification"),
        ("ForCausalLM", "causal_lm"),
        ("LMHeadModel", "causal_lm"),
        ("ForMaskedLM", "masked_lm"),
        ("ForImageClassification", "image_classification"),
    ):
        if name.endswith(suffix):
            return task
    return "features"


def _vocab_size(config: Any) -> int:
    vocab = getattr(config, "vocab_size", None)
    if vocab is None and hasattr(config, "get_text_config"):
        vocab = getattr(config.get_text_config(), "vocab_size", None)
    if not vocab:
        raise TrainingError(f"{type(config).__name__} has no vocab_size; cannot make token data")
    return int(vocab)


def _float_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


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


def _logits(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    logits = getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TrainingError(f"the model returned {type(out).__name__}; expected logits (a tensor)")


def _classify_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    x, y = batch
    out = model(**x) if isinstance(x, dict) else model(x)
    return F.cross_entropy(_logits(out).float(), y)


def _token_lm_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    ids, _ = batch
    logits = _logits(model(ids)).float()
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


def _hf_label_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    inputs, labels = batch
    out = model(**inputs, labels=labels)
    loss: torch.Tensor = out.loss
    return loss


def _hf_features_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    inputs, target = batch
    out = model(**inputs)
    hidden = getattr(out, "last_hidden_state", None)
    if hidden is None:
        hidden = _logits(out)
    return F.mse_loss(hidden[:, 0].float(), target)


# ------------------------------------------------------------------------------------------ synthetic
def synthetic_data(model: nn.Module, config: TrainingConfig, device: torch.device) -> TrainingData:
    """Random but learnable data shaped for the model, made with ``config.seed``.

    Images: class-dependent patterns plus noise (a frozen backbone still separates them). Tokens:
    ids within the vocabulary; for classification each class draws from its own band of the vocabulary.
    """
    gen = torch.Generator().manual_seed(config.seed)
    n = config.batch_size * _POOL_BATCHES
    if is_transformers_model(model):
        return _synthetic_hf(model, config, device, gen, n)
    first = _first_leaf(model)
    if isinstance(first, nn.Embedding):
        return _synthetic_tokens(model, first, config, device, gen, n)
    if isinstance(first, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
        return _synthetic_tensors(model, first, config, device, gen, n)
    raise TrainingError(
        f"cannot make synthetic data for {type(model).__name__}: its first layer is "
        f"{type(first).__name__ if first is not None else 'missing'}; use an image folder or a text file"
    )


def _first_leaf(model: nn.Module) -> nn.Module | None:
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.Embedding)):
            return module
    return None


@contextlib.contextmanager
def _eval_no_grad(model: nn.Module) -> Iterator[None]:
    """A dry forward pass that changes nothing: eval mode (no BN statistics), no autograd, flags restored."""
    flags = [m.training for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, flag in zip(model.modules(), flags):
            m.training = flag


def _dry_output(
    model: nn.Module, shapes: Sequence[tuple[int, ...]], make: Callable[[tuple[int, ...]], Any]
) -> tuple[tuple[int, ...], torch.Tensor]:
    """Try input shapes in turn; the first that runs gives the output (and the shape that worked)."""
    errors = []
    for shape in shapes:
        x = make(shape)
        try:
            with _eval_no_grad(model):
                return shape, _logits(model(x))
        except TrainingError:
            raise
        except Exception as exc:  # a shape the model refuses; try the next one
            errors.append(f"{tuple(shape)}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    raise TrainingError(
        f"cannot make synthetic data for {type(model).__name__}: no input shape worked ({'; '.join(errors)})"
    )


def _image_sizes(config: TrainingConfig, default: int) -> list[int]:
    sizes = [config.image_size or default]
    if config.image_size is None:
        sizes += [s for s in (224, 299) if s not in sizes]
    return sizes


def _synthetic_tensors(
    model: nn.Module,
    first: nn.Module,
    config: TrainingConfig,
    device: torch.device,
    gen: torch.Generator,
    n: int,
) -> TrainingData:
    dtype = _float_dtype(model)
    if isinstance(first, nn.Linear):
        shapes: list[tuple[int, ...]] = [(first.in_features,)]
    else:
        assert isinstance(first, (nn.Conv1d, nn.Conv2d, nn.Conv3d))
        dims = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}[type(first)]
        shapes = [(first.in_channels, *([s] * dims)) for s in _image_sizes(config, 64)]
    shape, out = _dry_output(model, shapes, lambda s: torch.zeros(2, *s, dtype=dtype, device=device))
    if out.dim() != 2:
        raise TrainingError(
            f"{type(model).__name__} returns shape {tuple(out.shape)} for a batch; synthetic data supports "
            "models that return (batch, classes) logits"
        )
    classes = int(out.shape[1])
    labels = torch.randint(0, classes, (n,), generator=gen)
    protos = torch.randn(classes, *shape, generator=gen)
    x = 0.5 * torch.randn(n, *shape, generator=gen) + protos[labels]
    kind = "images" if len(shape) == 3 else "vectors"
    desc = (
        f"synthetic {kind} {'x'.join(map(str, shape))}, {classes} classes, {n} examples (seed {config.seed})"
    )
    pool = _Pool(x.to(device=device, dtype=dtype), labels.to(device), config.batch_size)
    return TrainingData("classification", desc, pool, _classify_loss, num_classes=classes)


def _synthetic_tokens(
    model: nn.Module,
    emb: nn.Embedding,
    config: TrainingConfig,
    device: torch.device,
    gen: torch.Generator,
    n: int,
) -> TrainingData:
    vocab = emb.num_embeddings
    seq_len = config.seq_len
    _, out = _dry_output(model, [(seq_len,)], lambda s: torch.zeros(2, *s, dtype=torch.long, device=device))
    ids = torch.randint(0, vocab, (n, seq_len), generator=gen)
    if out.dim() == 3 and out.shape[-1] == vocab:
        desc = f"synthetic token ids, {n} sequences of {seq_len} (vocabulary {vocab}, seed {config.seed})"
        pool = _Pool(ids.to(device), ids.to(device), config.batch_size)
        return TrainingData("token_lm", desc, pool, _token_lm_loss)
    if out.dim() == 2:
        classes = int(out.shape[1])
        labels = torch.randint(0, classes, (n,), generator=gen)
        ids = _banded_ids(ids, labels, vocab, classes)
        desc = f"synthetic token ids, {n} sequences of {seq_len}, {classes} classes (seed {config.seed})"
        pool = _Pool(ids.to(device), labels.to(device), config.batch_size)
        return TrainingData("classification", desc, pool, _classify_loss, num_classes=classes)
    raise TrainingError(f"{type(model).__name__} returns shape {tuple(out.shape)}; no synthetic task fits it")


def _banded_ids(ids: torch.Tensor, labels: torch.Tensor, vocab: int, classes: int) -> torch.Tensor:
    band = max(1, vocab // max(classes, 1))
    return (ids % band + labels[:, None] * band).clamp_(max=vocab - 1)


def _synthetic_hf(
    model: nn.Module, config: TrainingConfig, device: torch.device, gen: torch.Generator, n: int
) -> TrainingData:
    cfg: Any = model.config  # a transformers PretrainedConfig (untyped here)
    task = _hf_task(model)
    seq_len = config.seq_len
    name = type(model).__name__
    if task == "image_classification":
        side = getattr(cfg, "image_size", 224) or 224  # an int, or (height, width) in some configs
        size = int(side[0] if isinstance(side, (tuple, list)) else side)
        channels = int(getattr(cfg, "num_channels", 3) or 3)
        classes = int(cfg.num_labels)
        labels = torch.randint(0, classes, (n,), generator=gen)
        protos = torch.randn(classes, channels, size, size, generator=gen)
        x = (0.5 * torch.randn(n, channels, size, size, generator=gen) + protos[labels]).to(
            device=device, dtype=_float_dtype(model)
        )
        pool = _Pool({"pixel_values": x}, labels.to(device), config.batch_size)
        desc = (
            f"synthetic images {channels}x{size}x{size}, {classes} classes, {n} examples (seed {config.seed})"
        )
        return TrainingData("image_classification", desc, pool, _classify_loss, num_classes=classes)
    vocab = _vocab_size(cfg)
    max_pos = getattr(cfg, "max_position_embeddings", None)
    if max_pos is not None and seq_len > max_pos:
        raise TrainingError(f"sequence length {seq_len} exceeds {name}'s max_position_embeddings ({max_pos})")
    ids = torch.randint(0, vocab, (n, seq_len), generator=gen)
    if task == "sequence_classification":
        classes = int(cfg.num_labels)
        labels = torch.randint(0, classes, (n,), generator=gen)
        ids = _banded_ids(ids, labels, vocab, classes)
        pool = _Pool({"input_ids": ids.to(device)}, labels.to(device), config.batch_size)
        desc = f"synthetic token ids, {n} sequences of {seq_len}, {classes} classes (seed {config.seed})"
        return TrainingData("sequence_classification", desc, pool, _classify_loss, num_classes=classes)
    if task == "causal_lm":
        pool = _Pool({"input_ids": ids.to(device)}, ids.to(device), config.batch_size)
        desc = f"synthetic token ids, {n} sequences of {seq_len} (vocabulary {vocab}, seed {config.seed})"
        return TrainingData("causal_lm", desc, pool, _hf_label_loss)
    if task == "masked_lm":
        mask_id = getattr(cfg, "mask_token_id", None)
        inputs, labels = _mask_tokens(ids, vocab - 1 if mask_id is None else int(mask_id), gen)
        pool = _Pool({"input_ids": inputs.to(device)}, labels.to(device), config.batch_size)
        desc = f"synthetic token ids, {n} sequences of {seq_len}, 15% masked (seed {config.seed})"
        return TrainingData("masked_lm", desc, pool, _hf_label_loss)
    hidden = getattr(cfg, "hidden_size", None)
    if hidden is None:
        raise TrainingError(f"{name} has no task head freezegui knows how to train; load a *For...* class")
    target = torch.randn(n, int(hidden), generator=gen)
    pool = _Pool({"input_ids": ids.to(device)}, target.to(device), config.batch_size)
    desc = (
        f"synthetic token ids, {n} sequences of {seq_len}; {name} has no task head, so the loss fits the first "
        f"token's hidden state to fixed random targets (seed {config.seed})"
    )
    return TrainingData("features", desc, pool, _hf_features_loss)


def _mask_tokens(ids: torch.Tensor, mask_id: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """MLM masking: 15% of positions (at least one per sequence) become ``mask_id``; labels elsewhere -100."""
    chosen = torch.rand(ids.shape, generator=gen) < _MASK_PROB
    chosen[torch.arange(ids.shape[0]), torch.randint(0, ids.shape[1], (ids.shape[0],), generator=gen)] = True
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    inputs = torch.where(chosen, torch.full_like(ids, mask_id), ids)
    return inputs, labels


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
        try:
            with Image.open(path) as img:
                img.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise TrainingError(f"unreadable image {path}: {exc}") from None
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
