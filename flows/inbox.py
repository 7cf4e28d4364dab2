"""The file edge, finding: list the inbox's files and what a run reads of them.

``discover`` lists candidate files; ``stat_listing`` stats them once per run, for
``file_batches`` (the batches ``flows.inbox_read.read_raw_files`` reads) and
``listing_fingerprint`` (the up-to-date check). Every path in the inbox is hostile, and
discovery never raises for a single bad entry: it lists regular files only (and symlinks to
regular files inside the inbox) and names why it skipped anything else. No refusal message
carries a byte of the refused entry's content.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SIDECAR_SUFFIX = ".meta.json"
HEAD_BYTES = 1024 * 1024          # what an oversized file contributes: its first MiB
                                  # (kept by flows.inbox_read; file_batches budgets by it)
MAX_DEPTH = 64                    # directory levels below the inbox that discovery searches
_SKIPS_LOGGED = 20                # skipped entries named in the warning (all are counted)
_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}
_LINK_ERRORS = {errno.ELOOP: "is a symlink loop", errno.ENOENT: "is a dangling symlink",
                errno.ENOTDIR: "is a dangling symlink"}

log = logging.getLogger("zonefacts.inbox")


class Refused(OSError):
    """An inbox entry that is not read; its message names why (``is a FIFO, not a regular
    file``) and never quotes the entry's content."""


def inside(real: str, root: str) -> bool:
    """Whether the real path ``real`` is ``root`` (a real path) or lies under it."""
    return real == root or real.startswith(root.rstrip("/") + "/")


def not_regular(mode: int, prefix: str = "") -> Refused:
    return Refused(f"is {prefix}{_KINDS.get(stat.S_IFMT(mode), 'a special file')}, not a regular file")


def resolved(path: str) -> tuple[str, os.stat_result]:
    """The real path and stat of ``path``, every symlink followed. The kernel's stat gives up
    on a loop or a chain of over 40 links (ELOOP) before realpath's own recursion walks it."""
    st = os.stat(path)
    try:
        return os.path.realpath(path, strict=True), st
    except RecursionError:
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path) from None


def follow_link(path: str, root: str) -> tuple[str, os.stat_result]:
    """Real path and stat of the target of the symlink ``path``, or ``Refused`` naming why not:
    a loop, a dangling link, or a target outside the inbox (real path ``root``)."""
    try:
        real, st = resolved(path)
    except OSError as exc:
        why = _LINK_ERRORS.get(exc.errno, f"is a symlink that cannot be followed ({exc.strerror})")
        raise Refused(why) from None
    if not inside(real, root):
        raise Refused("is a symlink outside the inbox")
    return real, st


def is_sidecar(name: str) -> bool:
    return name.endswith(SIDECAR_SUFFIX)


def sidecar_path(path: Path) -> Path:
    """``dir/report.txt`` → ``dir/report.meta.json``."""
    return Path(sidecar_of(str(path)))


def sidecar_of(full: str) -> str:
    """``sidecar_path`` over a string path (the stem is the name up to its last suffix, as
    ``Path.stem``)."""
    cut = full.rfind("/") + 1
    name = full[cut:]
    dot = name.rfind(".")
    stem = name[:dot] if 0 < dot < len(name) - 1 else name
    return full[:cut] + stem + SIDECAR_SUFFIX


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
        real, st = follow_link(entry.path, root)
        if stat.S_ISDIR(st.st_mode):
            return "link", real
        if stat.S_ISREG(st.st_mode):
            return "file", real
        raise not_regular(st.st_mode, "a symlink to ")
    if entry.is_dir(follow_symlinks=False):
        return "dir", os.path.join(parent_real, entry.name)
    if entry.is_file(follow_symlinks=False):
        return "file", ""
    raise not_regular(entry.stat(follow_symlinks=False).st_mode)


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
        for candidate in (full, sidecar_of(full)):
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
