"""The file edge: find files in the inbox and read their bytes into the raw-file frame.

``discover`` lists candidate files; ``read_raw_files`` turns a list of them into the raw
schema that ``transforms.documents.parse_documents`` consumes (see ``RAW_SCHEMA``). Every
path in the inbox is hostile, and neither raises for a single bad entry: discovery lists
regular files only and names why it skipped anything else; reading refuses a document or
sidecar that is not a regular file inside the inbox, and gives it (or a file that vanished
or cannot be read) a ``read_error`` that the parser quarantines. No refusal message
carries a byte of the refused entry's content.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import posixpath
import stat
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

SIDECAR_SUFFIX = ".meta.json"
HEAD_BYTES = 1024 * 1024          # what an oversized file contributes: its first MiB
SIDECAR_MAX_BYTES = 1024 * 1024   # a sidecar is a few fields of metadata; a larger one is refused unread
MAX_DEPTH = 64                    # directory levels below the inbox that discovery searches
_CHUNK = 1024 * 1024
_SKIPS_LOGGED = 20                # skipped entries named in the warning (all are counted)
# O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer; fstat then
# refuses it. O_NOFOLLOW: a final symlink fails the open and is resolved and checked explicitly.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}
_LINK_ERRORS = {errno.ELOOP: "is a symlink loop", errno.ENOENT: "is a dangling symlink",
                errno.ENOTDIR: "is a dangling symlink"}

log = logging.getLogger("zonefacts.inbox")

RAW_SCHEMA = {
    "path": pl.String,
    "content": pl.Binary,
    "size_bytes": pl.Int64,
    "sha256": pl.String,
    "sidecar": pl.Binary,
    "read_error": pl.String,
    "document_id": pl.String,   # transforms.fingerprint.document_identity; null when unread
}


class Refused(OSError):
    """An inbox entry that is not read; its message names why (``is a FIFO, not a regular
    file``) and never quotes the entry's content."""


def _inside(real: str, root: str) -> bool:
    """Whether the real path ``real`` is ``root`` (a real path) or lies under it."""
    return real == root or real.startswith(root.rstrip("/") + "/")


def _not_regular(mode: int, prefix: str = "") -> Refused:
    return Refused(f"is {prefix}{_KINDS.get(stat.S_IFMT(mode), 'a special file')}, not a regular file")


def _real(path: str) -> tuple[str, os.stat_result]:
    """The real path and stat of ``path``, every symlink followed. The kernel's stat gives up
    on a loop or a chain of over 40 links (ELOOP) before realpath's own recursion walks it."""
    st = os.stat(path)
    try:
        return os.path.realpath(path, strict=True), st
    except RecursionError:
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path) from None


def _follow_link(path: str, root: str) -> tuple[str, os.stat_result]:
    """Real path and stat of the target of the symlink ``path``, or ``Refused`` naming why not:
    a loop, a dangling link, or a target outside the inbox (real path ``root``)."""
    try:
        real, st = _real(path)
    except OSError as exc:
        why = _LINK_ERRORS.get(exc.errno, f"is a symlink that cannot be followed ({exc.strerror})")
        raise Refused(why) from None
    if not _inside(real, root):
        raise Refused("is a symlink outside the inbox")
    return real, st


def is_sidecar(name: str) -> bool:
    return name.endswith(SIDECAR_SUFFIX)


def sidecar_path(path: Path) -> Path:
    """``dir/report.txt`` → ``dir/report.meta.json``."""
    return Path(_sidecar_of(str(path)))


@dataclass(frozen=True)
class Discovery:
    """What discovery found: candidate documents, and every entry it refused with the reason."""
    paths: list[str]                    # sorted posix paths relative to the inbox
    skipped: list[tuple[str, str]]      # (relative path, why), e.g. ("pipe.txt", "is a FIFO, not a regular file")


def discover(inbox: Path, max_bytes: int | None = None) -> list[Path]:
    """``discover_paths`` as ``Path`` objects."""
    return [Path(p) for p in discover_paths(inbox, max_bytes)]


def discover_paths(inbox: Path | str, max_bytes: int | None = None) -> list[str]:
    """``discover_entries(inbox).paths``; skipped entries are logged, with their reasons, as one
    warning. ``max_bytes`` is accepted for symmetry with ``read_raw_files``: size is judged when
    reading, so oversized files are still listed (the parser quarantines them)."""
    found = discover_entries(inbox)
    log_skipped(inbox, found.skipped)
    return found.paths


def log_skipped(inbox: Path | str, skipped: Sequence[tuple[str, str]]) -> None:
    """One warning naming the entries discovery refused, with their reasons (the first few)."""
    if skipped:
        named = "; ".join(f"{path!r} {why}" for path, why in skipped[:_SKIPS_LOGGED])
        more = len(skipped) - _SKIPS_LOGGED
        log.warning("inbox %s: skipped %d entries: %s%s", inbox, len(skipped), named,
                    f"; and {more} more" if more > 0 else "")


def discover_entries(inbox: Path | str) -> Discovery:
    """Regular files under ``inbox`` (and symlinks to regular files inside it), and every
    entry refused on the way with the reason: symlink loops, dangling symlinks, symlinks
    outside the inbox, FIFOs, sockets, devices, directories over ``MAX_DEPTH`` levels down,
    directories reached again through a symlink. Hidden entries and ``*.meta.json`` sidecars
    (read with their document) are passed over silently. Symlinked directories are searched
    after every real one, so a file reachable both ways is listed under its own path.

    An explicit stack, not recursion: the depth of the tree is the inbox's to choose. Entry
    types come from ``os.scandir``'s cache, not a stat each: every run lists the whole inbox.
    """
    inbox = Path(inbox)
    if not inbox.is_dir():
        raise FileNotFoundError(f"inbox {inbox} is not a directory")
    root = os.path.realpath(inbox)
    found: list[str] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()                               # real paths of directories searched
    todo: list[tuple[str, str, str, int]] = [(str(inbox), "", root, 0)]   # (path, rel, real, depth)
    linked: list[tuple[str, str, str, int]] = []         # symlinked directories
    while todo or linked:                                # a symlinked one only once no real one is left
        directory, rel, real, depth = (todo or linked).pop()
        if real in seen:
            skipped.append((rel, "is a directory searched already under another path"))
            continue
        seen.add(real)
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except OSError as exc:
            skipped.append((rel, f"is a directory that cannot be listed ({exc.strerror})"))
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") or (is_sidecar(name) and not entry.is_dir()):
                continue
            child = f"{rel}/{name}" if rel else name
            try:
                kind, child_real = _entry_kind(entry, real, root)
            except Refused as why:
                skipped.append((child, str(why)))
                continue
            except OSError as exc:     # vanished or unreadable since the directory was listed
                skipped.append((child, f"cannot be examined ({exc.strerror})"))
                continue
            if kind == "file":
                found.append(child)
            elif depth >= MAX_DEPTH:
                skipped.append((child, f"is a directory more than {MAX_DEPTH} levels below the inbox: not searched"))
            else:
                (linked if kind == "link" else todo).append((entry.path, child, child_real, depth + 1))
    return Discovery(sorted(found), sorted(skipped))


def _entry_kind(entry: os.DirEntry, parent_real: str, root: str) -> tuple[str, str]:
    """("file" | "dir" | "link", real path) of an entry discovery accepts ("link": a symlinked
    directory inside the inbox), or ``Refused`` naming what it is instead."""
    if entry.is_symlink():
        real, st = _follow_link(entry.path, root)
        if stat.S_ISDIR(st.st_mode):
            return "link", real
        if stat.S_ISREG(st.st_mode):
            return "file", real
        raise _not_regular(st.st_mode, "a symlink to ")
    if entry.is_dir(follow_symlinks=False):
        return "dir", os.path.join(parent_real, entry.name)
    if entry.is_file(follow_symlinks=False):
        return "file", ""
    raise _not_regular(entry.stat(follow_symlinks=False).st_mode)


@dataclass(frozen=True)
class ListedFile:
    """One discovered file as stat'ed once per run: for its batch and the listing fingerprint."""
    path: str                   # relative to the inbox, posix
    size: int | None            # None when it vanished since discovery
    mtime_ns: int | None
    sidecar_size: int | None    # None when it has no sidecar
    sidecar_mtime_ns: int | None


def stat_listing(inbox: Path, paths: Iterable[str | Path]) -> list[ListedFile]:
    """Stat every listed file and its sidecar (reading nothing)."""
    listed = []
    root = str(inbox)
    for p in paths:
        rel = p if isinstance(p, str) else p.as_posix()
        full = f"{root}/{rel}"
        stats: list[int | None] = []
        for candidate in (full, _sidecar_of(full)):
            try:
                st = os.stat(candidate)
                stats += [st.st_size, st.st_mtime_ns]
            except OSError:
                stats += [None, None]
        listed.append(ListedFile(rel, *stats))
    return listed


def file_batches(listing: Sequence[ListedFile], files: int, max_bytes: int, batch_bytes: int) -> list[list[str]]:
    """The listed paths cut into consecutive batches of at most ``files`` files and, past a
    batch's first file, at most ``batch_bytes`` of what reading them holds: a file's size, or
    ``HEAD_BYTES`` for one over ``max_bytes`` (only its head is kept). A file that vanished
    counts as empty; reading it quarantines it."""
    files = max(int(files), 1)
    batches: list[list[str]] = []
    current: list[str] = []
    held = 0
    for entry in listing:
        size = entry.size or 0
        size = size if size <= max_bytes else HEAD_BYTES
        if current and (len(current) >= files or held + size > batch_bytes):
            batches.append(current)
            current, held = [], 0
        current.append(entry.path)
        held += size
    if current:
        batches.append(current)
    return batches


def listing_fingerprint(inbox: Path, listing: Sequence[ListedFile], *, salt: str = "") -> str:
    """sha256 over every listed file's relative path, size and mtime, and its sidecar's.

    Adding, removing, replacing or touching a file (or its sidecar) changes it; reading
    nothing. A run whose inbox lists the same fingerprint as an earlier complete run has
    nothing new to load (see ``flows.cli``'s up-to-date check). ``salt`` folds in what else
    decides the outcome (extractor version, size limit)."""
    digest = hashlib.sha256(f"{Path(inbox).resolve()}\0{salt}\n".encode())
    for entry in listing:
        parts = [entry.path] + ["-" if v is None else str(v) for v in (
            entry.size, entry.mtime_ns, entry.sidecar_size, entry.sidecar_mtime_ns)]
        digest.update(("\0".join(parts) + "\n").encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def listing_salt(max_file_bytes: int, fingerprint: str = "", corrections: str = "") -> str:
    """What besides the files decides a run's outcome: the extractor, its vocabulary (the
    extractor ``fingerprint``), the analysts' corrections (the sha256 of the file's bytes: a
    reject or set changes facts without changing the fingerprint) and the size limit."""
    from transforms.extract import EXTRACTOR_VERSION

    return (f"extractor {EXTRACTOR_VERSION}; fingerprint {fingerprint}; corrections {corrections or '-'}; "
            f"max_file_bytes {max_file_bytes}")


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
        real_parent = _real(parent)[0]
        if not _inside(real_parent, root):
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
            raise _not_regular(mode) from None
        target, st = _follow_link(target, root)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(st.st_mode, "a symlink to ") from None
        fd = os.open(target, _OPEN_FLAGS)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise _not_regular(st.st_mode)
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


def _sidecar_of(full: str) -> str:
    """``sidecar_path`` over a string path (the stem is the name up to its last suffix, as
    ``Path.stem``)."""
    cut = full.rfind("/") + 1
    name = full[cut:]
    dot = name.rfind(".")
    stem = name[:dot] if 0 < dot < len(name) - 1 else name
    return full[:cut] + stem + SIDECAR_SUFFIX


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
            side = _sidecar_of(full)
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
