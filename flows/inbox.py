"""The file edge: find files in the inbox and read their bytes into the raw-file frame.

``discover`` lists candidate files; ``read_raw_files`` turns a list of them into the
raw schema that ``transforms.documents.parse_documents`` consumes (see
``RAW_SCHEMA``). Neither raises for a single bad file: a file that vanishes or cannot
be read between discovery and reading gets a ``read_error`` instead, and the parser
quarantines it.
"""
from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

SIDECAR_SUFFIX = ".meta.json"
HEAD_BYTES = 1024 * 1024          # what an oversized file contributes: its first MiB
_CHUNK = 1024 * 1024

RAW_SCHEMA = {
    "path": pl.String,
    "content": pl.Binary,
    "size_bytes": pl.Int64,
    "sha256": pl.String,
    "sidecar": pl.Binary,
    "read_error": pl.String,
}


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def is_sidecar(name: str) -> bool:
    return name.endswith(SIDECAR_SUFFIX)


def sidecar_path(path: Path) -> Path:
    """``dir/report.txt`` → ``dir/report.meta.json``."""
    return Path(_sidecar_of(str(path)))


def discover(inbox: Path, max_bytes: int | None = None) -> list[Path]:
    """``discover_paths`` as ``Path`` objects."""
    return [Path(p) for p in discover_paths(inbox, max_bytes)]


def discover_paths(inbox: Path | str, max_bytes: int | None = None) -> list[str]:
    """Every candidate document under ``inbox``, as sorted posix paths relative to it.

    Recursive; skips hidden files and directories, ``*.meta.json`` sidecars,
    anything that is not a regular file (FIFOs, sockets, devices), and symlinks
    whose target lies outside the inbox. Symlinked directories inside the inbox
    are followed once (loops are cut). ``max_bytes`` is accepted for symmetry with
    ``read_raw_files``: size is judged when reading, so oversized files are still
    listed (the parser quarantines them).

    Strings and ``os.scandir``'s cached entry types rather than ``Path`` and a stat per
    entry: every run lists the whole inbox before its first batch.
    """
    inbox = Path(inbox)
    if not inbox.is_dir():
        raise FileNotFoundError(f"inbox {inbox} is not a directory")
    root = inbox.resolve()
    found: list[str] = []
    seen_dirs: set[Path] = {root}

    def walk(directory: str, rel: str) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            name = entry.name
            if _is_hidden(name):
                continue
            child_rel = f"{rel}/{name}" if rel else name
            try:
                if entry.is_symlink():
                    target = Path(entry.path).resolve()
                    if not _inside(target, root) or not target.exists():
                        continue
                    mode = target.stat().st_mode
                    is_dir, is_file = stat.S_ISDIR(mode), stat.S_ISREG(mode)
                else:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    is_file = not is_dir and entry.is_file(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                real = Path(entry.path).resolve()
                if real in seen_dirs:
                    continue
                seen_dirs.add(real)
                walk(entry.path, child_rel)
            elif is_file and not is_sidecar(name):
                found.append(child_rel)

    walk(str(inbox), "")
    return sorted(found)


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


def listing_salt(max_file_bytes: int) -> str:
    """What besides the files decides a run's outcome: the extractor and the size limit."""
    from transforms.extract import EXTRACTOR_VERSION

    return f"extractor {EXTRACTOR_VERSION}; max_file_bytes {max_file_bytes}"


def _read_one(path: Path, max_bytes: int) -> tuple[bytes, int, str]:
    """Stream ``path`` once: (kept bytes, size, sha256 of everything read).

    Keeps all bytes of a file up to ``max_bytes``; of a larger one only the first
    ``HEAD_BYTES``, while hashing it to the end.
    """
    digest = hashlib.sha256()
    kept: list[bytes] = []
    kept_len = 0
    size = 0
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"not a regular file: {path}")
        keep_all = st.st_size <= max_bytes
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            if size > max_bytes:
                keep_all = False  # grew while we read
            if kept_len < HEAD_BYTES or keep_all:
                kept.append(chunk)
                kept_len += len(chunk)
    content = b"".join(kept)
    if not keep_all:
        content = content[:HEAD_BYTES]
    return content, size, digest.hexdigest()


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
    skip_sha256: Collection[str] = (),
) -> pl.DataFrame:
    """Read ``paths`` (relative to ``inbox``, or absolute inside it) into the raw schema.

    Never raises for a single file: one that vanished or cannot be read gets
    ``read_error`` (content and sha256 null). Files whose sha256 is in
    ``skip_sha256`` are hashed but their bytes are dropped (content empty, sidecar
    null) so that an already-loaded document is not carried through the pipeline.
    """
    inbox = Path(inbox)
    root = str(inbox)
    rows: dict[str, list] = {name: [] for name in RAW_SCHEMA}
    for p in paths:
        full, rel = _locate(inbox, root, p)
        content, size, sha, sidecar, error = b"", 0, None, None, None
        try:
            content, size, sha = _read_one(full, max_bytes)
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc.strerror or exc}"
            try:
                size = os.stat(full).st_size
            except OSError:
                size = 0
        if error is None and sha in skip_sha256:
            content = b""
        elif error is None:
            side = _sidecar_of(full)
            try:
                with open(side, "rb") as fh:
                    sidecar = fh.read(HEAD_BYTES + 1)
            except FileNotFoundError:
                sidecar = None
            except OSError as exc:  # unreadable sidecar: let the parser see it as bad metadata
                sidecar = f"<unreadable sidecar: {exc}>".encode()
        rows["path"].append(rel)
        rows["content"].append(None if error is not None else content)
        rows["size_bytes"].append(size)
        rows["sha256"].append(sha)
        rows["sidecar"].append(sidecar)
        rows["read_error"].append(error)
    return pl.DataFrame(rows, schema=RAW_SCHEMA)
