"""The file edge, reading: read the listed files' bytes into the raw-file frame.

``read_raw_files`` turns a list of files that ``flows.inbox`` discovered into the raw schema
that ``transforms.documents.parse_documents`` consumes (see ``RAW_SCHEMA``). Every path in the
inbox is hostile, and reading never raises for a single bad entry: it refuses a document or
sidecar that is not a regular file inside the inbox, and gives it (or a file that vanished or
cannot be read) a ``read_error`` that the parser quarantines. No refusal message carries a
byte of the refused entry's content.
"""
from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import stat
from collections.abc import Collection, Iterable
from pathlib import Path

import polars as pl

from flows.inbox import HEAD_BYTES, Refused, follow_link, inside, not_regular, resolved, sidecar_of

SIDECAR_MAX_BYTES = 1024 * 1024   # a sidecar is a few fields of metadata; a larger one is refused unread
_CHUNK = 1024 * 1024
# O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer; fstat then
# refuses it. O_NOFOLLOW: a final symlink fails the open and is resolved and checked explicitly.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)

RAW_SCHEMA = {
    "path": pl.String,
    "content": pl.Binary,
    "size_bytes": pl.Int64,
    "sha256": pl.String,
    "sidecar": pl.Binary,
    "read_error": pl.String,
    "document_id": pl.String,   # transforms.fingerprint.document_identity; null when unread
}


def _open_regular(path: str, root: str, real_dirs: dict[str, str]) -> tuple[int, os.stat_result]:
    """The descriptor of the regular file at ``path`` opened for reading (the caller closes it) if
    it lies inside the inbox (real path ``root``), else ``Refused`` naming what it is.
    ``real_dirs`` caches resolved directories.

    Opened in its resolved directory, without following a final symlink (a symlink's target is
    resolved, checked and opened the same way) and without blocking; fstat of the open file
    decides, so what is judged is what was opened. (A device node is opened before fstat
    refuses it; only root can create one.)
    """
    parent, slash, name = path.rpartition("/")
    parent = parent or (slash or ".")
    prefix = real_dirs.get(parent)          # only directories inside the inbox are cached
    if prefix is None:
        real_parent = resolved(parent)[0]
        if not inside(real_parent, root):
            raise Refused("is outside the inbox")
        prefix = real_dirs[parent] = real_parent.rstrip("/") + "/"
    target = prefix + name
    try:
        fd = os.open(target, _OPEN_FLAGS)
    except OSError as exc:
        # ELOOP (EMLINK on BSDs): a final symlink; ENXIO: a socket. Anything else is the OS's answer.
        if exc.errno not in (errno.ELOOP, errno.EMLINK, errno.ENXIO):
            raise
        mode = os.lstat(target).st_mode
        if stat.S_ISREG(mode):
            raise
        if not stat.S_ISLNK(mode):
            raise not_regular(mode) from None
        target, st = follow_link(target, root)
        if not stat.S_ISREG(st.st_mode):
            raise not_regular(st.st_mode, "a symlink to ") from None
        fd = os.open(target, _OPEN_FLAGS)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise not_regular(st.st_mode)
    return fd, st


def _read_size(done: int, expected: int) -> int:
    """How much to ask ``os.read`` for after ``done`` bytes of a file fstat gave ``expected`` bytes:
    the rest and one byte, so that a file read whole takes one call and its end one more (a
    descriptor rather than a file object: no buffer to allocate and copy through)."""
    return min(_CHUNK, expected - done + 1) if done <= expected else _CHUNK


def _read_one(path: str, root: str, real_dirs: dict[str, str], max_bytes: int) -> tuple[bytes, int, str]:
    """Stream the document at ``path`` once: (kept bytes, size, sha256 of everything read).

    Keeps all bytes of a file up to ``max_bytes``; of a larger one only the first
    ``HEAD_BYTES``, while hashing it to the end.
    """
    digest = hashlib.sha256()
    kept: list[bytes] = []
    kept_len = 0
    size = 0
    fd, st = _open_regular(path, root, real_dirs)
    try:
        keep_all = st.st_size <= max_bytes
        while True:
            chunk = os.read(fd, _read_size(size, st.st_size))
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            if size > max_bytes:
                keep_all = False  # grew while we read
            if kept_len < HEAD_BYTES or keep_all:
                kept.append(chunk)
                kept_len += len(chunk)
    finally:
        os.close(fd)
    content = b"".join(kept)
    if not keep_all:
        content = content[:HEAD_BYTES]
    return content, size, digest.hexdigest()


def _read_sidecar(path: str, root: str, real_dirs: dict[str, str]) -> bytes | None:
    """The bytes of the sidecar at ``path``, None when there is none, or ``Refused``."""
    try:
        fd, st = _open_regular(path, root, real_dirs)
    except FileNotFoundError:
        return None
    parts, got = [], 0
    try:
        while st.st_size <= SIDECAR_MAX_BYTES and got <= SIDECAR_MAX_BYTES:   # up to one byte over
            chunk = os.read(fd, min(_read_size(got, st.st_size), SIDECAR_MAX_BYTES + 1 - got))
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(parts)
    if st.st_size > SIDECAR_MAX_BYTES or len(data) > SIDECAR_MAX_BYTES:
        raise Refused(f"is over {SIDECAR_MAX_BYTES // (1024 * 1024)} MiB "
                      f"({max(st.st_size, len(data))} bytes): not read")
    return data


def _error(exc: OSError, subject: str) -> str:
    """A ``read_error``: a refusal says why; any other OS error gives its type and text."""
    cause = f"{type(exc).__name__}: {exc.strerror or exc}"
    if isinstance(exc, Refused):
        return f"{subject} {exc}"
    return cause if subject == "file" else f"{subject} could not be read: {cause}"


def _locate(inbox: Path, root: str, p: str | Path) -> tuple[str, str]:
    """(path to open, posix path relative to the inbox). Plain strings, not ``Path``s: a
    batch locates a thousand files, and pathlib's parsing was a sixth of reading them."""
    if isinstance(p, str) and p and p[0] != "/" and posixpath.normpath(p) == p and not p.startswith(".."):
        return f"{root}/{p}", p
    p = Path(p)
    full = p if p.is_absolute() else inbox / p
    try:
        rel = full.relative_to(inbox).as_posix()
    except ValueError:
        rel = p.as_posix()
    return str(full), rel


def read_raw_files(
    inbox: Path,
    paths: Iterable[Path],
    max_bytes: int,
    *,
    skip_documents: Collection[str] = (),
) -> pl.DataFrame:
    """Read ``paths`` (relative to ``inbox``, or absolute inside it) into the raw schema.

    Never raises for a single file: one that vanished, cannot be read, is not a regular file
    inside the inbox, or whose sidecar is any of those or over ``SIDECAR_MAX_BYTES``, gets
    ``read_error`` naming the cause (content null). Files whose document identity (their
    sha256 and sidecar, ``transforms.fingerprint.document_identity``) is in ``skip_documents``
    are hashed but their bytes are dropped (content empty; the sidecar is kept, so the caller
    can tell the identity again) so that an already-loaded document is not carried through
    the pipeline. The sidecar is read before that decision: a changed sidecar is a new version.
    """
    from transforms.fingerprint import document_identity

    inbox = Path(inbox)
    root = str(inbox)
    real_root = os.path.realpath(inbox)
    real_dirs: dict[str, str] = {}
    rows: dict[str, list] = {name: [] for name in RAW_SCHEMA}
    for p in paths:
        full, rel = _locate(inbox, root, p)
        content, size, sha, sidecar, error = b"", 0, None, None, None
        try:
            content, size, sha = _read_one(full, real_root, real_dirs, max_bytes)
        except OSError as exc:
            error = _error(exc, "file")
        if error is None:
            side = sidecar_of(full)
            try:
                sidecar = _read_sidecar(side, real_root, real_dirs)
            except OSError as exc:
                error = _error(exc, f"sidecar {posixpath.basename(side)}")
        document_id = document_identity(sha, sidecar) if error is None else None
        if document_id is not None and document_id in skip_documents:
            content = b""
        rows["path"].append(rel)
        rows["content"].append(None if error is not None else content)
        rows["size_bytes"].append(size)
        rows["sha256"].append(sha)
        rows["sidecar"].append(None if error is not None else sidecar)
        rows["read_error"].append(error)
        rows["document_id"].append(document_id)
    return pl.DataFrame(rows, schema=RAW_SCHEMA)
