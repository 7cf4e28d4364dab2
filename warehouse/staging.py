"""The staging directory: each batch's frames as parquet files, written atomically by the stages
and read back, per table, by the load (``warehouse.store.load_staged``).

A run stages under ``<warehouse>.staging/<run_id>/``: ``<table>-<batch>.parquet``, one file per
table and batch, so a batch's rows are whole or absent.
"""
from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

STAGED_TABLES = ("documents", "quarantine", "observations", "entities", "defects", "unmapped", "coverage")


def staged_file(staging: str | Path, table: str, batch_no: int) -> Path:
    """Where ``stage_batch`` writes ``table`` of batch ``batch_no``."""
    return Path(staging) / f"{table}-{batch_no:05d}.parquet"


def stage_batch(staging: str | Path, batch_no: int, frames: dict) -> dict[str, int]:
    """Write each non-empty (Polars) frame to ``<staging>/<table>-<batch>.parquet``, atomically;
    returns rows per table. ``load_staged`` loads what a run staged here."""
    unknown = set(frames) - set(STAGED_TABLES)
    if unknown:
        raise ValueError(f"not a staged table: {sorted(unknown)}")
    directory = Path(staging)
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for table in STAGED_TABLES:
        frame = frames.get(table)
        if frame is None or frame.height == 0:
            written[table] = 0
            continue
        final = staged_file(directory, table, batch_no)
        tmp = final.with_suffix(".parquet.tmp")
        frame.write_parquet(tmp)
        os.replace(tmp, final)
        written[table] = frame.height
    return written


def staged_files(staging: str | Path, table: str, first_batch: int = 0) -> list[Path]:
    """The files staged (whole: each is written atomically) for ``table`` from batch
    ``first_batch`` on, in batch order."""
    return sorted(f for f in Path(staging).glob(f"{table}-*.parquet")
                  if int(f.stem.rpartition("-")[2]) >= first_batch)


def staged(staging: Path, table: str, skip: Collection[str] = ()) -> str | None:
    """The SQL relation of every file staged for ``table`` but those in ``skip``; None if none."""
    files = [str(f) for f in staged_files(staging, table) if str(f) not in skip]
    return read_files(files) if files else None


def read_files(files: list[str]) -> str:
    """The SQL relation of the staged parquet ``files``."""
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    return f"read_parquet([{listed}], union_by_name = true)"
