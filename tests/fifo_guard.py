"""A FIFO that tells whether anyone opened it, and never lets a test hang on it.

A background thread keeps trying to open the FIFO for writing without blocking; that succeeds only
while a reader has it open (a read that would block forever). The guard records it and closes its end,
so the reader sees end-of-file and the test fails on ``opened`` instead of hanging.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from pathlib import Path


class FifoGuard:
    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self.opened = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno not in (errno.ENXIO, errno.ENOENT):
                    raise
                time.sleep(0.01)
                continue
            self.opened = True
            os.close(fd)
            time.sleep(0.05)

    def close(self) -> bool:
        """Stop watching; True when the FIFO is still there, still a FIFO, and nobody opened it."""
        self._stop.set()
        self._thread.join(timeout=5)
        return not self.opened and stat.S_ISFIFO(os.stat(self.path).st_mode)
