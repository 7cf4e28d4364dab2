"""One run at a time per warehouse: an exclusive ``fcntl.flock`` on ``<warehouse>.lock``.

The kernel releases the lock when the holder dies, SIGKILL included, so a dead run never
blocks the next one. A run that cannot take it within its wait raises ``RunLocked``; the
pipeline turns that into a summary with ``status == "skipped"`` (the CLI exits 75).
"""
from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RunLocked(RuntimeError):
    """Another run holds the warehouse lock."""


@contextmanager
def run_lock(lock_path: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (released by the kernel even on SIGKILL)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise RunLocked(f"another zonefacts run holds {lock_path}; skipped") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
