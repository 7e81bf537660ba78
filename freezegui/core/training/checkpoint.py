"""Saving a fine-tuned model: ``model.safetensors`` with the rule file (and the report) beside it.

A checkpoint is a folder whose files only make sense together (the rules say what the weights are),
so it is written whole: every file goes into a new hidden folder beside the target, each synced, and
the new folder then takes the target's place in one rename, or one atomic exchange
(``renameat2(RENAME_EXCHANGE)`` on Linux) when a checkpoint is already there. A kill at any moment
leaves the old checkpoint or the new one, never new rules beside old weights; what a kill leaves
behind is a hidden ``.NAME.*.new`` (or ``.old``) folder, never part of the checkpoint. An existing
checkpoint is only replaced with ``force``; a folder holding anything else is never replaced.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from freezegui.core import standard_json
from freezegui.core.errors import TrainingError
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.training.report import TrainingReport

WEIGHTS_NAME = "model.safetensors"
RULES_NAME = "rules.yaml"
REPORT_NAME = "training_report.json"
# What a checkpoint folder may hold (PEFT's save_pretrained writes the adapter files and a README).
CHECKPOINT_FILES = frozenset(
    {WEIGHTS_NAME, RULES_NAME, REPORT_NAME, "adapter_config.json", "adapter_model.safetensors", "README.md"}
)
_RENAME_EXCHANGE = 2


def state_dict_for_safetensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """CPU, contiguous tensors; tied tensors (GPT-2's wte/lm_head) stored under each name, so the file
    loads with a strict ``load_state_dict`` (safetensors refuses shared storage)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, int]] = set()
    for name, t in model.state_dict().items():
        if t.is_meta:
            raise TrainingError("the model has no weights (structure-only); nothing to save")
        t = t.detach().to("cpu").contiguous()
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes()) if t.numel() else (0, id(t))
        if key in seen:
            t = t.clone()
        seen.add(key)
        out[name] = t
    return out


def save_checkpoint(
    model: nn.Module,
    rules: RuleSet,
    directory: str | os.PathLike[str],
    *,
    report: TrainingReport | None = None,
    force: bool = False,
    write_weights: Callable[[Path], list[Path]] | None = None,
) -> list[Path]:
    """Write ``directory/model.safetensors``, ``rules.yaml`` and (with a report) ``training_report.json``
    as one folder (see the module docstring); ``force`` replaces an existing checkpoint there.

    ``write_weights(folder)`` writes the weights instead (a PEFT adapter) and returns its files."""
    given = Path(directory).expanduser()
    folder = Path(
        os.path.realpath(given)
    )  # a link to a checkpoint folder: the folder is swapped, the link stays
    check_target(folder, force=force)
    weights_writer = write_weights or (lambda new: [_write_safetensors(model, rules, new / WEIGHTS_NAME)])

    def write(new: Path) -> list[str]:
        names = [p.name for p in weights_writer(new)]
        _write_file(new / RULES_NAME, rules.dumps().encode("utf-8"))
        names.append(RULES_NAME)
        if report is not None:
            _write_file(
                new / REPORT_NAME, (standard_json.dumps(report.as_dict(), indent=2) + "\n").encode("utf-8")
            )
            names.append(REPORT_NAME)
        return names

    names = write_folder(folder, write)
    return [given / name for name in names]


def check_target(folder: Path, *, force: bool) -> None:
    """Refuse a file, a folder holding anything but a checkpoint, and (without ``force``) a checkpoint."""
    if folder.exists() and not folder.is_dir():
        raise TrainingError(f"{folder} exists and is not a folder")
    if not folder.is_dir():
        return
    try:
        entries = sorted(os.listdir(folder))
    except OSError as exc:
        raise TrainingError(f"cannot save to {folder}: {exc.strerror or exc}") from None
    if not entries:
        return
    other = [e for e in entries if e not in CHECKPOINT_FILES]
    if other:
        shown = ", ".join(other[:3]) + (" ..." if len(other) > 3 else "")
        raise TrainingError(
            f"{folder} holds other files ({shown}); save the checkpoint into a new or empty folder"
        )
    if not force:
        raise TrainingError(
            f"{folder} already holds a checkpoint ({', '.join(entries)}); it is kept: pass --force "
            "(force=True) to replace it, or choose another folder"
        )


def write_folder(folder: Path, write: Callable[[Path], list[str]]) -> list[str]:
    """Run ``write(new)`` on a new hidden folder beside ``folder``, then put it in ``folder``'s place."""
    parent = folder.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        new = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".new", dir=parent))
    except OSError as exc:
        raise TrainingError(f"cannot save to {folder}: {exc.strerror or exc}") from None
    try:
        names = write(new)
        _fsync_dir(new)
        _swap_in(new, folder)
        _fsync_dir(parent)
    except OSError as exc:
        shutil.rmtree(new, ignore_errors=True)
        raise TrainingError(f"cannot save to {folder}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    return names


def _swap_in(new: Path, folder: Path) -> None:
    """``new`` becomes ``folder`` in one step; an old checkpoint there is exchanged out, then removed."""
    os.chmod(new, 0o777 & ~_umask())  # mkdtemp makes 0700; a checkpoint folder gets a plain mkdir's mode
    try:
        os.rename(new, folder)  # no folder there, or an empty one: replaced atomically
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if _exchange(new, folder):  # now ``new`` holds the old checkpoint
        shutil.rmtree(new, ignore_errors=True)
        return
    # No atomic exchange here (not Linux): move the old one aside first; a kill between the two
    # renames leaves it complete in ``.NAME.*.old``.
    old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
    os.rename(folder, old / folder.name)
    os.rename(new, folder)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd = -100
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # an old kernel or a file system without it
        return False
    raise OSError(err, os.strerror(err), str(b))


def _write_safetensors(model: nn.Module, rules: RuleSet, path: Path) -> Path:
    from safetensors.torch import save

    tensors = state_dict_for_safetensors(model)
    metadata = {"format": "pt", "producer": "freezegui"}
    if rules.model.spec:
        metadata["spec"] = str(rules.model.spec)
    try:
        data = save(tensors, metadata=metadata)
    except (ValueError, RuntimeError) as exc:
        raise TrainingError(f"cannot serialise the weights: {exc}") from None
    _write_file(path, data)
    return path


def _write_file(path: Path, data: bytes) -> None:
    """Write and sync one file of the new folder (nobody sees the folder before it is complete)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every system can open a folder to sync it
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
