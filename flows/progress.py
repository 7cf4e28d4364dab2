"""A progress line for long runs, shown only in an interactive terminal.

    with progress(total_documents=len(paths), total_batches=n) as bar:
        ...
        bar.update(batch_no + 1, documents_done)

prints ``\\r[batch 3/20] 1500/10000 documents`` to stderr when stderr is a TTY and does
nothing otherwise (CI, log files, Prefect workers), so logs stay clean.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    def __init__(self, total_documents: int, total_batches: int, stream: TextIO | None = None,
                 enabled: bool | None = None, min_interval: float = 0.1):
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.total_documents = total_documents
        self.total_batches = total_batches
        self.min_interval = min_interval
        self._last = 0.0
        self._width = 0

    def line(self, batch: int, documents: int) -> str:
        return f"[batch {batch}/{self.total_batches}] {documents}/{self.total_documents} documents"

    def update(self, batch: int, documents: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.min_interval and batch < self.total_batches:
            return
        self._last = now
        text = self.line(batch, documents)
        self.stream.write("\r" + text + " " * max(self._width - len(text), 0))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()


@contextmanager
def progress(total_documents: int, total_batches: int, stream: TextIO | None = None,
             enabled: bool | None = None) -> Iterator[Progress]:
    bar = Progress(total_documents, total_batches, stream, enabled)
    try:
        yield bar
    finally:
        bar.close()
