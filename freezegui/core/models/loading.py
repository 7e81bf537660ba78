"""Model specs: one syntax for the library, the CLI and the app.

* ``torchvision:NAME``                 any name in ``torchvision.models.list_models()``
* ``timm:NAME``                         any name in ``timm.list_models()`` (``pip install freezegui[timm]``)
* ``hf:ID_OR_DIR``                      a transformers checkpoint (local folder or hub id)
* ``hf-config:PATH``                    a randomly initialised transformers model from a config.json
* ``py:package.module:factory``         a factory function returning an ``nn.Module``
* ``path/to/file.py:factory``           the same, from a file
* ``path/to/model.pt``                  a TorchScript archive, or a pickled module (``trust_pickle``)

A state dict (``.pt``/``.bin``/``.safetensors``) is not a model by itself: pass it as ``weights=``
together with an architecture spec. Every failure is a :class:`~freezegui.core.errors.FreezeguiError`.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.util
import json
import os
import pickle
import re
import sys
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from freezegui.core.errors import FreezeguiError, LoadError, MissingDependencyError, SpecError
from freezegui.core.file_kinds import refuse_special_entries, refuse_special_file
from freezegui.core.messages import cut_list, error_line, first_line, reason
from freezegui.core.models.options import (
    DEFAULT_SPEC as DEFAULT_SPEC,  # re-exported: the spec default lives with LoadOptions
)
from freezegui.core.strenum import StrEnum
from freezegui.core.structure.heads import remember_head, replace_head

SPEC_HELP = (
    "use torchvision:NAME, timm:NAME, hf:ID_OR_DIR, hf-config:PATH, py:package.module:factory, "
    "path/to/file.py:factory, or a TorchScript/pickled model file"
)
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".torchscript", ".jit")


class SpecKind(StrEnum):
    """Which form of the spec syntax (module docstring) a :class:`Spec` was written in."""

    TORCHVISION = "torchvision"
    TIMM = "timm"
    HF = "hf"
    HF_CONFIG = "hf-config"
    PY = "py"
    PYFILE = "pyfile"
    FILE = "file"


@dataclass(frozen=True)
class Spec:
    """A parsed model spec."""

    kind: SpecKind
    target: str
    attr: str | None = None

    def __str__(self) -> str:
        if self.kind == SpecKind.FILE:
            return self.target
        if self.kind == SpecKind.PYFILE:
            return f"{self.target}:{self.attr}"
        if self.kind == SpecKind.PY:
            return f"py:{self.target}:{self.attr}"
        return f"{self.kind}:{self.target}"

    @property
    def display_name(self) -> str:
        """Short name for titles: ``resnet18``, ``my-bert``, ``factory``."""
        if self.attr:
            return self.attr
        return Path(self.target.rstrip("/")).name or self.target


def parse_spec(spec: str) -> Spec:
    """Split a spec string; raises :class:`SpecError` for one that fits no form."""
    spec = str(spec).strip()
    if not spec:
        raise SpecError(f"empty model spec; {SPEC_HELP}")
    for kind in (SpecKind.TORCHVISION, SpecKind.TIMM, SpecKind.HF_CONFIG, SpecKind.HF):
        if spec.startswith(kind + ":"):
            target = spec[len(kind) + 1 :]
            if not target:
                raise SpecError(f"{spec!r} names no model; {SPEC_HELP}")
            return Spec(kind, target)
    if spec.startswith("py:"):
        module, sep, attr = spec[3:].rpartition(":")
        if not sep or not module or not attr:
            raise SpecError(f"{spec!r}: write py:package.module:factory")
        return Spec(SpecKind.PY, module, attr)
    path_part, sep, attr = spec.rpartition(":")
    if sep and path_part.endswith(".py") and attr.isidentifier():
        return Spec(SpecKind.PYFILE, path_part, attr)
    if spec.endswith(".py"):
        raise SpecError(f"{spec!r}: name the factory function too, as {spec}:FUNCTION")
    p = Path(spec)
    if p.is_dir() and (p / "config.json").exists():
        return Spec(SpecKind.HF, spec)
    if p.suffix in _CHECKPOINT_SUFFIXES or p.exists():
        return Spec(SpecKind.FILE, spec)
    raise SpecError(f"cannot understand model spec {spec!r}; {SPEC_HELP}")


# Specs whose size a meta-device build tells before the real one (pure architecture code, no side effects).
_SIZED_KINDS = (SpecKind.TORCHVISION, SpecKind.TIMM, SpecKind.HF, SpecKind.HF_CONFIG)


def load_model(
    spec: str,
    *,
    structure_only: bool = False,
    num_classes: int | None = None,
    trust_pickle: bool = False,
    pretrained: bool = False,
    weights: str | os.PathLike[str] | None = None,
    download: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """Build or load the model that ``spec`` names (see the module docstring for the syntax).

    ``structure_only`` builds on the meta device: no weights are read and no memory is allocated,
    yet names, shapes, counts and rules all work. ``num_classes`` replaces the classification head
    with a fresh, trainable one. ``weights`` loads a state dict (``.pt``/``.safetensors``) into the
    architecture. Extra keyword arguments go to the model constructor or factory.
    """
    parsed = parse_spec(spec)
    if structure_only and (weights is not None or pretrained):
        raise SpecError("structure_only builds an empty (meta) model: it cannot also load weights")
    if num_classes is not None and num_classes < 1:
        raise SpecError(f"num_classes must be at least 1, got {num_classes}")
    _refuse_special_inputs(parsed, weights)
    if not structure_only and parsed.kind in _SIZED_KINDS:  # user factories are not run twice
        from freezegui.core.models.size_check import ensure_fits

        ensure_fits(
            spec, lambda: load_model(spec, structure_only=True, num_classes=num_classes, **dict(kwargs))
        )
    try:
        if parsed.kind == SpecKind.TORCHVISION:
            model = _load_torchvision(
                parsed.target, structure_only, num_classes, pretrained, download, kwargs
            )
        elif parsed.kind == SpecKind.TIMM:
            from freezegui.core.models.timm import load_timm

            model = load_timm(parsed.target, structure_only, num_classes, pretrained, download, kwargs)
        elif parsed.kind in (SpecKind.HF, SpecKind.HF_CONFIG):
            model = _load_hf(parsed, structure_only, num_classes, kwargs)
        elif parsed.kind in (SpecKind.PY, SpecKind.PYFILE):
            model = _load_factory(parsed, structure_only, kwargs)
        else:
            model = _load_file(Path(parsed.target), trust_pickle)
        if weights is not None:
            load_weights(model, weights, trust_pickle=trust_pickle)
        if num_classes is not None and parsed.kind in (SpecKind.PY, SpecKind.PYFILE, SpecKind.FILE):
            replace_head(model, num_classes)
    except FreezeguiError:
        raise
    except MemoryError:
        raise LoadError(
            f"out of memory while building {spec}; try structure_only=True (--structure-only)"
        ) from None
    except BaseException as exc:  # user code may raise SystemExit (argparse) or worse
        raise LoadError(f"could not load {spec}: {error_line(exc)}") from exc
    if not isinstance(model, nn.Module):
        raise LoadError(f"{spec} did not produce a torch.nn.Module (got {type(model).__name__})")
    return model


# ---------------------------------------------------------------------------------------- torchvision
def _load_torchvision(
    name: str,
    structure_only: bool,
    num_classes: int | None,
    pretrained: bool,
    download: bool,
    kwargs: dict[str, Any],
) -> nn.Module:
    tv = _require("torchvision", "torchvision:")
    names = tv.models.list_models()
    if name not in names:
        close = difflib.get_close_matches(name.lower(), names, n=5, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else " `freezegui models` lists them."
        raise SpecError(f"torchvision has no model named {name!r}.{hint}")
    if pretrained:
        enum = tv.models.get_model_weights(name)
        w = enum.DEFAULT
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(w.url).name
        if not cached.exists() and not download:
            raise LoadError(
                f"pretrained weights for {name} ({w}) are not in the local torch cache ({cached}). "
                f"Fetch them once where the internet is reachable with "
                f"`python -c \"import torchvision; torchvision.models.get_model('{name}', weights='DEFAULT')\"` "
                f"and copy the file to {cached.parent}, or pass download=True (--download)."
            )
        model: nn.Module = tv.models.get_model(name, weights=w, **kwargs)
        if num_classes is not None:
            replace_head(model, num_classes)
        return model
    ctor_kwargs = dict(kwargs)
    if num_classes is not None:
        ctor_kwargs["num_classes"] = num_classes
    if structure_only:
        with torch.device("meta"):
            model = tv.models.get_model(name, weights=None, **ctor_kwargs)
    else:
        model = tv.models.get_model(name, weights=None, **ctor_kwargs)
    if num_classes is not None:
        from freezegui.core.structure.heads import find_head

        head = find_head(model)
        if head is not None:
            remember_head(model, head)
    return model


def list_torchvision_models() -> list[str]:
    """Every torchvision model name (classification, detection, segmentation, video...)."""
    tv = _require("torchvision", "torchvision:")
    return sorted(tv.models.list_models())


def _refuse_special_inputs(parsed: Spec, weights: str | os.PathLike[str] | None) -> None:
    """A FIFO or device as the model file, its config or ``weights`` would block the read for good."""
    if weights is not None:
        refuse_special_file(weights, "weights file", LoadError)
    if parsed.kind in (SpecKind.FILE, SpecKind.PYFILE):
        refuse_special_file(parsed.target, "model file", LoadError)
    elif parsed.kind in (SpecKind.HF, SpecKind.HF_CONFIG):
        target = Path(parsed.target).expanduser()
        refuse_special_file(target, "config file", LoadError, folder_ok=True)
        if target.is_dir():  # transformers opens the folder's files (config, weights, tokenizer)
            refuse_special_entries(target, "model file", LoadError)


# --------------------------------------------------------------------------------------- transformers
def _load_hf(spec: Spec, structure_only: bool, num_classes: int | None, kwargs: dict[str, Any]) -> nn.Module:
    transformers = _require("transformers", spec.kind + ":")
    if spec.kind == SpecKind.HF_CONFIG:
        config = _read_hf_config(transformers, Path(spec.target))
    elif _looks_local(spec.target) and not Path(spec.target).expanduser().exists():
        raise LoadError(
            f"no such folder: {spec.target} (hf: takes a local folder holding config.json, "
            f"or a Hub id such as bert-base-uncased)"
        )
    else:
        try:
            config = transformers.AutoConfig.from_pretrained(
                spec.target, trust_remote_code=kwargs.pop("trust_remote_code", False)
            )
        except (OSError, ValueError) as exc:
            from freezegui.core.models.hub import is_cached, not_cached_message

            if not Path(spec.target).expanduser().exists() and is_cached(spec.target) is False:
                raise LoadError(not_cached_message(spec.target)) from None
            raise LoadError(
                f"cannot read the transformers config of {spec.target!r}: {first_line(exc)}"
            ) from None
    if num_classes is not None:
        config.num_labels = num_classes
    cls = _hf_class(transformers, config, num_classes)
    if structure_only or spec.kind == SpecKind.HF_CONFIG:
        with torch.device("meta") if structure_only else contextlib.nullcontext():
            # Auto classes build through from_config; concrete classes through their constructor.
            model: nn.Module = (
                cls.from_config(config, **kwargs)
                if cls.__name__.startswith("Auto")
                else cls(config, **kwargs)
            )
    else:
        try:
            model = cls.from_pretrained(
                spec.target, config=config, ignore_mismatched_sizes=num_classes is not None, **kwargs
            )
        except OSError as exc:
            raise LoadError(f"cannot load the weights of {spec.target!r}: {first_line(exc)}") from None
    if num_classes is not None:
        from freezegui.core.structure.heads import find_head

        head = find_head(model)
        if head is not None:
            remember_head(model, head)
    return model


def _read_hf_config(transformers: Any, path: Path) -> Any:
    file = path / "config.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LoadError(f"no config file at {file}") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LoadError(f"{file} is not a readable JSON config: {exc}") from None
    if not isinstance(data, dict) or "model_type" not in data:
        raise LoadError(f"{file} has no `model_type`; it is not a transformers config")
    model_type = data.pop("model_type")
    try:
        return transformers.AutoConfig.for_model(model_type, **data)
    except (ValueError, KeyError) as exc:
        known = sorted(getattr(transformers, "CONFIG_MAPPING", {}).keys())
        if model_type in known or not known:
            raise LoadError(
                f"{file}: transformers cannot build model_type {model_type!r}: {reason(exc)}"
            ) from None
        close = difflib.get_close_matches(str(model_type), known, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else f"it knows {cut_list(known)}"
        raise LoadError(
            f"{file}: transformers {transformers.__version__} does not know model_type {model_type!r}; {hint}"
        ) from None


def _hf_class(transformers: Any, config: Any, num_classes: int | None) -> Any:
    archs = getattr(config, "architectures", None) or []
    for arch in archs:
        cls = getattr(transformers, arch, None)
        if cls is not None:
            return cls
    if num_classes is not None:
        return transformers.AutoModelForSequenceClassification
    return transformers.AutoModel


# ------------------------------------------------------------------------------------------- factories
def _load_factory(spec: Spec, structure_only: bool, kwargs: dict[str, Any]) -> nn.Module:
    if spec.kind == SpecKind.PY:
        try:
            with _user_argv(spec.target):
                module = importlib.import_module(spec.target)
        except ImportError as exc:
            raise SpecError(f"cannot import {spec.target!r}: {exc}") from None
        except BaseException as exc:  # the module's own code failed (or exited)
            raise LoadError(f"importing {spec.target} failed: {error_line(exc)}") from exc
    else:
        path = Path(spec.target)
        if not path.exists():
            raise SpecError(f"no such file: {path}")
        name = f"_freezegui_factory_{abs(hash(str(path.resolve())))}"
        loader_spec = importlib.util.spec_from_file_location(name, path)
        assert loader_spec is not None and loader_spec.loader is not None
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        try:
            with _user_argv(str(path)):
                loader_spec.loader.exec_module(module)
        except BaseException as exc:  # SystemExit from an argparse call at import, too
            sys.modules.pop(name, None)
            raise LoadError(f"{path} failed to import: {error_line(exc)}") from exc
    factory = getattr(module, spec.attr or "", None)
    if factory is None:
        raise SpecError(f"{spec.target} has no attribute {spec.attr!r}")
    if not callable(factory):
        raise SpecError(f"{spec} is not callable")
    try:
        with _user_argv(spec.target), torch.device("meta") if structure_only else contextlib.nullcontext():
            model = factory(**kwargs)
    except BaseException as exc:  # SystemExit/KeyboardInterrupt from user code included
        raise LoadError(f"the factory {spec} raised {error_line(exc)}") from exc
    if not isinstance(model, nn.Module):
        raise LoadError(f"the factory {spec} returned {type(model).__name__}, not a torch.nn.Module")
    return model


# ----------------------------------------------------------------------------------------------- files
def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("constants.pkl") for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _load_file(path: Path, trust_pickle: bool) -> nn.Module:
    if not path.exists():
        raise LoadError(f"no such file: {path}")
    if path.suffix == ".safetensors":
        raise SpecError(
            f"{path} holds weights only (safetensors). Give the architecture and pass the file as weights, "
            f"e.g. load_model('torchvision:resnet18', weights='{path}') or `--weights {path}`"
        )
    if _is_torchscript(path):
        try:
            with (
                warnings.catch_warnings()
            ):  # torch 2.14 marks TorchScript deprecated; users still have archives
                warnings.simplefilter("ignore", FutureWarning)
                # torch.jit.load is unannotated in torch; it returns a ScriptModule.
                scripted: nn.Module = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
                return scripted
        except Exception as exc:
            raise LoadError(f"{path} is a TorchScript archive but failed to load: {first_line(exc)}") from exc
    obj = _torch_load(path, trust_pickle)
    if isinstance(obj, nn.Module):
        return obj
    if isinstance(obj, dict):
        n = len(_state_dict_of(obj) or {})
        raise SpecError(
            f"{path} holds a state dict ({n} tensors), not a model. Give the architecture and pass the file "
            f"as weights, e.g. load_model('torchvision:resnet18', weights='{path}') or `--weights {path}`"
        )
    raise LoadError(f"{path} holds a {type(obj).__name__}, not a model")


def _torch_load(path: Path, trust_pickle: bool) -> Any:
    try:
        with warnings.catch_warnings():  # garbage reads as an odd pickle protocol: the error says enough
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):  # not a pickled object: garbage or a truncated file
            raise LoadError(_not_pytorch(path)) from None
        if not trust_pickle:
            found = re.search(r"GLOBAL ([\w.]+)", str(exc))
            holds = f" (it holds a {found.group(1)})" if found else ""
            raise LoadError(
                f"{path} is a pickled Python object{holds}. Unpickling runs code stored in the file, so "
                f"freezegui refuses it by default. If you trust where the file came from, pass "
                f"trust_pickle=True (CLI: --trust-pickle); better, save a state dict or TorchScript."
            ) from None
    # Garbage that starts like a legacy pickle stream breaks the unpickler in many ways (pop from an
    # empty stack, a missing memo key): all mean the same to the user.
    except (RuntimeError, EOFError, OSError, ValueError, LookupError, TypeError) as exc:
        if isinstance(exc, OSError) and not path.is_file():
            raise LoadError(f"cannot read {path}: {reason(exc)}") from None
        raise LoadError(_not_pytorch(path)) from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise LoadError(f"{path} failed to unpickle: {error_line(exc)}") from exc


def _state_dict_of(obj: Any) -> dict[str, torch.Tensor] | None:
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model", "module"):
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return inner
    return None


def read_state_dict(path: str | os.PathLike[str], *, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Tensors from a ``.safetensors`` file or a ``torch.save``-d state dict (or a checkpoint holding one)."""
    p = Path(path)
    if not p.exists():
        raise LoadError(f"no such weights file: {p}")
    refuse_special_file(p, "weights file", LoadError)
    if p.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(p))
        except (SafetensorError, OSError, ValueError) as exc:
            raise LoadError(f"{p} is not a readable safetensors file: {first_line(exc)}") from None
    obj = _torch_load(p, trust_pickle)
    sd = _state_dict_of(obj)
    if sd is None:
        raise LoadError(f"{p} holds no state dict (found {type(obj).__name__})")
    return sd


def load_weights(model: nn.Module, path: str | os.PathLike[str], *, trust_pickle: bool = False) -> None:
    """Load a state dict file into ``model`` (strict; a ``module.`` prefix from DDP is removed)."""
    sd = read_state_dict(path, trust_pickle=trust_pickle)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise LoadError(f"{path} does not fit this architecture: {reason(exc, 600)}") from None


def _require(module: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{what} specs need the `{module}` package: pip install {module} ({exc})"
        ) from None


@contextlib.contextmanager
def _user_argv(program: str) -> Iterator[None]:
    """Run user code with ``sys.argv == [program]``: an argparse call in it then parses no arguments
    (instead of freezegui's) and labels any usage text with the user's file, not ``freezegui``."""
    saved = sys.argv
    sys.argv = [program]
    try:
        yield
    finally:
        sys.argv = saved


def _not_pytorch(path: Path) -> str:
    return f"{path} is not a PyTorch file (not a readable PyTorch checkpoint: corrupt, truncated or another format)"


def _looks_local(target: str) -> bool:
    """A path rather than a Hub id (``org/name``): starts like a path or has more than one slash."""
    return target.startswith((".", "/", "~", "\\")) or target.count("/") > 1 or ":" in target[1:3]
