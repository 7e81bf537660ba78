"""Atomic file writes: a crash or a full disk never leaves a half-written rule file or checkpoint.

The file keeps its identity: a symlink is written through (its target is replaced, the link stays),
the target's permissions are kept, and a read-only target is refused unless ``force`` is given.
Every failure is a :class:`WriteError` naming the real path (never the hidden temporary file).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from freezegui.core.errors import FreezeguiError


class WriteError(FreezeguiError, OSError):
    """A file could not be written; the message names the file and says why.

    Also an :class:`OSError`, so code that caught the raw error still catches it."""

    def __init__(
        self,
        message: str,
        path: str | os.PathLike[str],
        errno_: int | None = None,
        *,
        remedies: tuple[str, ...] = (),
    ) -> None:
        FreezeguiError.__init__(self, message)
        self.errno = errno_
        self.filename = str(path)
        self.path = str(path)
        self.remedies = remedies  # what the user can do, in order; a caller may add its own

    def __str__(self) -> str:
        return self.text()

    def text(self, *more: str) -> str:
        """The message with the remedies and ``more`` (the CLI adds "pass --force") as choices."""
        choices = [*self.remedies, *more]
        if not choices:
            return str(self.args[0])
        listed = choices[0] if len(choices) == 1 else ", ".join(choices[:-1]) + " or " + choices[-1]
        return f"{self.args[0]}; {listed} (nothing was written)"


def real_target(path: str | os.PathLike[str]) -> Path:
    """The file a write to ``path`` should change: symlinks (chains too) resolved, ``~`` expanded."""
    return Path(os.path.realpath(Path(path).expanduser()))


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same file (through links), for 'never overwrite an input' checks."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return real_target(a) == real_target(b)


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8", *, force: bool = False
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``'s real target; on success it replaces the target in one
    rename. ``force`` replaces a read-only target."""
    target = real_target(path)
    _check_writable(target, force)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _write_error(target, exc) from None
    try:
        binary = "b" in mode
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(target))  # mkstemp makes 0600; keep the target's permissions
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, WriteError):
            raise
        raise _write_error(target, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _check_writable(target: Path, force: bool) -> None:
    try:
        st = target.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _write_error(target, exc) from None
    if stat.S_ISDIR(st.st_mode):
        raise WriteError(f"cannot write {target}: it is a folder", target, errno.EISDIR)
    if not stat.S_ISREG(st.st_mode):
        raise WriteError(f"cannot write {target}: it is not a regular file", target)
    if not force and not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise WriteError(
            f"{target} is read-only",
            target,
            errno.EACCES,
            remedies=("make it writable", "choose another file"),
        )


def _write_error(target: Path, exc: OSError) -> WriteError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOTDIR:
        reason = "a folder on the way is a file"
    elif exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        reason = f"{reason} (the disk is full or the file is over a size limit)"
    return WriteError(f"cannot write {target}: {reason}", target, exc.errno)


def _mode_for(target: Path) -> int:
    """The existing file's mode, or what a plain ``open()`` would give (0666 less the umask)."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_text(path: str | os.PathLike[str], text: str, *, force: bool = False) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w", force=force) as fh:
        fh.write(text)
