"""Refusing inputs that are not regular files (or folders) before anything opens them.

``open()`` on a FIFO blocks until a writer comes, forever if none does: ``mkfifo f.yaml`` as a rule
file hangs the CLI, and in the app the loading thread never returns, so the process cannot exit after
its window closes. A character device reads without end (``/dev/zero``) or blocks (a terminal). So
every file a user names is checked with ``os.stat``, which never blocks, and anything but a regular
file (or a folder where a folder is expected) is refused with a one-line error of the caller's kind.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from freezegui.core.errors import FreezeguiError

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def kind_of(mode: int) -> str:
    """``a named pipe (FIFO)``, ``a folder``, ``a regular file``... for an ``st_mode``."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def special_file_problem(path: str | os.PathLike[str], what: str, *, folder_ok: bool = False) -> str | None:
    """``is a named pipe (FIFO), not a regular file; ...`` when ``path`` exists and is neither a regular
    file nor (``folder_ok``) a folder; None otherwise.

    A missing path passes: the caller's own open reports it in its words. Symbolic links are followed
    (``os.stat``), so a link to a FIFO is refused too.
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode) or (folder_ok and stat.S_ISDIR(mode)):
        return None
    if stat.S_ISDIR(mode):
        return f"is a folder, not a {what}"
    return f"is {kind_of(mode)}, not a regular file (freezegui reads only regular files: this one could block for good)"


def refuse_special_file(
    path: str | os.PathLike[str],
    what: str,
    error: type[FreezeguiError] = FreezeguiError,
    *,
    folder_ok: bool = False,
) -> None:
    """Raise ``error("PATH is a named pipe (FIFO), ...")`` for what :func:`special_file_problem` refuses."""
    problem = special_file_problem(path, what, folder_ok=folder_ok)
    if problem is not None:
        raise error(f"{Path(path)} {problem}")


def refuse_special_entries(folder: str | os.PathLike[str], what: str, error: type[FreezeguiError]) -> None:
    """Refuse a folder (a transformers model or tokenizer folder) holding a FIFO or a device: the
    library that reads the folder would open it and block. Sub-folders are not searched."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not entry.is_dir():
            refuse_special_file(entry.path, what, error)
