"""Exit codes of the ``zonefacts`` command, and the one mapping of errors to them.

    0   success (also when some files were quarantined: that is data, not a failure)
    1   the run failed (recorded in pipeline_runs as 'failed'; the published data is unchanged)
    2   bad usage, or a query that is refused or fails
    3   a warehouse or working file is missing, damaged, locked by another program, or lies
        where it cannot be used (under a regular file, in /proc, on a read-only file system)
    75  EX_TEMPFAIL: another zonefacts run holds the warehouse lock; nothing was done, try later

A command stops by raising ``CommandError`` (one line and its code), or lets an exception of
DuckDB, the warehouse or the OS rise: ``explain`` turns those into the line the user reads,
which names the file and the way to recover. Anything it does not recognise is a bug and keeps
its traceback.
"""
from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import NamedTuple

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_WAREHOUSE, EXIT_TEMPFAIL = 0, 1, 2, 3, 75

# What DuckDB says about a file it cannot trust: a block whose checksum fails, a file that is
# not DuckDB's, a file shorter than its header says. The exception class does not tell (a
# checksum failure is the bare ``duckdb.Error``), so the message does.
_DAMAGE_MARKERS = ("Corrupt database file", "not a valid DuckDB database", "Could not read enough bytes")
_LOCATION = re.compile(r"block at location (\d+)")
# The start and end of warehouse.store's damage message, around DuckDB's own words
_STORE_DAMAGE = re.compile(r" is not a readable DuckDB database: (.*?)\. Nothing was changed\.", re.S)

# Errors of the OS about the warehouse's own paths that are not the place's fault: the run
# failed (free some space and run again), the warehouse is fine.
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class CommandError(Exception):
    """What a command says when it stops: one line (without the ``zonefacts <command>:``
    prefix) and the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(one_line(message))
        self.code = code


def usage(message: str) -> CommandError:
    return CommandError(message, EXIT_USAGE)


def one_line(text: object) -> str:
    """``text`` with its line breaks folded: every message of the CLI is one line."""
    return " ".join(str(text).split())


class WarehouseFiles(NamedTuple):
    """The files a command uses, as the user named them: the published snapshot, and the
    working file for the commands that write (``run``, ``validate``)."""

    published: Path
    work: Path | None = None

    def owns(self, filename: str | os.PathLike) -> bool:
        """``filename`` is the warehouse, a directory above it, or one of its sibling files
        (``.work``, ``.lock``, ``.staging``, ``.<name>.publish-*``)."""
        path = Path(filename).resolve()
        published = self.published.resolve()
        if path == published or path in published.parents:
            return True
        return path.parent == published.parent and path.name.lstrip(".").startswith(published.name)


def explain(exc: BaseException, files: WarehouseFiles) -> CommandError | None:
    """The ``CommandError`` an exception stands for, or None when it is none of ours.

    The whole chain of causes is looked at, the most telling kind first: warehouse.store wraps
    DuckDB's lock error in advice for analysts (read with `zonefacts sql`), which is wrong for
    `zonefacts sql` itself."""
    if isinstance(exc, CommandError):
        return exc
    from warehouse.store import WarehouseError

    chain = _chain(exc)
    for item in chain:
        if _is_duckdb_lock(item):
            return CommandError(_locked(files, str(item)), EXIT_WAREHOUSE)
    for item in chain:
        if is_damage(item):
            return CommandError(_damaged(files, str(item)), EXIT_WAREHOUSE)
    for item in chain:
        if isinstance(item, WarehouseError):      # it names the file and the way out
            return CommandError(misplaced(files.published) or str(item), EXIT_WAREHOUSE)
        if isinstance(item, OSError) and item.filename and item.errno not in _FULL_ERRNOS \
                and files.owns(item.filename):
            return CommandError(misplaced(files.published) or (
                f"cannot use {files.published}: {item.strerror or item}: '{item.filename}'. A run "
                "writes beside the warehouse (its .lock, .work and .staging); give --warehouse a path "
                "in a directory you can write."), EXIT_WAREHOUSE)
    return None


def _locked(files: WarehouseFiles, text: str) -> str:
    detail = one_line(text)
    if files.work is not None and _named(files.work, text):
        return (f"the working copy {files.work} of {files.published} is held by another program ({detail}): "
                "another zonefacts run, or a tool that opened it. Let the run end, or close the tool, "
                "and try again.")
    return (f"{files.published} is locked by another program that opened it for writing ({detail}). "
            "zonefacts only ever reads the published file; close that program's connection and try again.")


def unreadable_snapshot(exc: BaseException, published: Path) -> CommandError:
    """A DuckDB error while a command reads the snapshot: damage, a lock, or a file that is not
    (or no longer) a zonefacts warehouse; exit 3 whichever."""
    return explain(exc, WarehouseFiles(published)) or CommandError(
        f"{published} cannot be read as a zonefacts warehouse ({exc}); check the path, or run "
        "`zonefacts run` to bring its schema up to date.", EXIT_WAREHOUSE)


def is_damage(exc: BaseException) -> bool:
    """A DuckDB error, or warehouse.store's error, that says a file is damaged."""
    import duckdb

    from warehouse.store import WarehouseError

    if isinstance(exc, WarehouseError):
        return _STORE_DAMAGE.search(str(exc)) is not None
    return isinstance(exc, duckdb.Error) and any(marker in str(exc) for marker in _DAMAGE_MARKERS)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it, outermost first."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _is_duckdb_lock(exc: BaseException) -> bool:
    import duckdb

    return isinstance(exc, duckdb.IOException) and "Could not set lock" in str(exc)


def missing(published: Path) -> CommandError:
    """The snapshot a reading command needs is not there."""
    return CommandError(misplaced(published) or f"{published} does not exist yet: run `zonefacts run` first.",
                        EXIT_WAREHOUSE)


def misplaced(published: Path) -> str | None:
    """Why ``published`` cannot even exist, when something on its way is not a directory
    (checked before a run starts Prefect, and to explain a file that is not there)."""
    for parent in published.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                return (f"{published} cannot be a warehouse: {parent} is a file, not a directory; "
                        "give --warehouse a path in a directory.")
            return None
    return None


def _damaged(files: WarehouseFiles, text: str) -> str:
    """The damage line: which file (the snapshot, its working copy, or both), DuckDB's words,
    and the recovery the README gives (move it aside; the next run rebuilds it)."""
    found = _STORE_DAMAGE.search(text)
    detail = one_line(found.group(1) if found else text)
    published, work = files.published, files.work
    which = _damaged_files(files, text)
    nothing = "Nothing was changed."
    if which == [published]:
        return (f"{published} is damaged ({detail}). {nothing} To recover, move it aside "
                f"(mv '{published}' '{published}.damaged') and run `zonefacts run` again: a missing "
                "snapshot is rebuilt from the working file if one is left, else from the inbox.")
    if which == [work]:
        return (f"the working copy {work} of {published} is damaged ({detail}). {nothing} To recover, "
                f"move it aside (mv '{work}' '{work}.damaged') and run `zonefacts run` again: a missing "
                f"working file is rebuilt from the published snapshot {published}.")
    return (f"{published} and its working copy {work} are both damaged ({detail}). {nothing} To recover, "
            f"move both aside (mv '{published}' '{published}.damaged'; mv '{work}' '{work}.damaged') and "
            "run `zonefacts run` again: the snapshot is rebuilt from the inbox.")


def _damaged_files(files: WarehouseFiles, text: str) -> list[Path]:
    """Which of the command's files the damage is in.

    warehouse.store's error names the file; DuckDB's own checksum error does not, and then it is
    the file the command was reading: the working file when there is one (run, validate), else
    the snapshot. A working file is seeded as a byte copy of the snapshot, so when its failing
    block holds the same bytes in the snapshot, the snapshot is damaged too, and moving only the
    copy aside would seed the same damage again."""
    published, work = files.published, files.work
    if work is None or _named(published, text) or not work.exists():
        return [published]
    location = _LOCATION.search(text)
    if location and published.exists() and _same_block(work, published, int(location.group(1))):
        return [published, work]
    return [work]


def _named(path: Path, text: str) -> bool:
    """``text`` names ``path`` itself (as given or resolved), not a longer name that starts with it."""
    return any(re.search(re.escape(form) + r"(?!\.?[\w-])", text) for form in {str(path), str(path.resolve())})


# DuckDB's default block size; comparing this many bytes is strict enough for any smaller one
_BLOCK_BYTES = 256 * 1024


def _same_block(a: Path, b: Path, offset: int) -> bool:
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            fa.seek(offset)
            fb.seek(offset)
            return fa.read(_BLOCK_BYTES) == fb.read(_BLOCK_BYTES)
    except OSError:
        return False
