"""``zonefacts export``: every analyst view and table of the published snapshot, one file each.

Reads the published snapshot read-only (``store.open_published``): an export never blocks a
run and never sees a half-loaded one. Files are written with DuckDB ``COPY ... TO``; COPY does
not take a parameter for the path, so the path is quoted as a SQL string literal (single quotes
doubled) and a path containing NUL is refused.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from flows.errors import is_damage
from warehouse.store import open_published

FORMATS = {"parquet": "(FORMAT parquet)", "csv": "(FORMAT csv, HEADER true)"}

# Analyst views first, then the tables behind them. Anything else the snapshot holds
# (new tables or views of later migrations) is exported too, after these.
PREFERRED = (
    "observations", "latest_observations", "growth_panel", "conflicts", "dq_failures",
    "observation_changes", "corrections_unmatched",
    "source_defects", "unmapped_mentions", "unmapped_summary",
    "fact_history", "fact_observation", "dim_entity", "dim_period", "dim_indicator",
    "documents", "document_versions", "quarantine", "pipeline_runs", "dq_runs", "dq_results",
)
SKIPPED = {"schema_migrations", "alert_log"}


def sql_string_literal(value: str) -> str:
    """``value`` as a single-quoted SQL literal; refuses NUL (DuckDB would cut the string there)."""
    if "\x00" in value:
        raise ValueError("path contains a NUL character")
    return "'" + value.replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    if "\x00" in name:
        raise ValueError("identifier contains a NUL character")
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Exported:
    relation: str
    path: Path
    rows: int


def relations(con: duckdb.DuckDBPyConnection) -> list[str]:
    found = {row[0] for row in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT internal "
        "UNION SELECT view_name FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal"
    ).fetchall()} - SKIPPED
    return [n for n in PREFERRED if n in found] + sorted(found - set(PREFERRED))


def export_warehouse(warehouse: Path, out_dir: Path, fmt: str = "parquet") -> list[Exported]:
    """Write ``<out_dir>/<relation>.<fmt>`` for every view and table; returns what was written.

    Each file is written to a temporary name and renamed, so a failed export never leaves a
    half-written file under the final name. The snapshot is opened first: a snapshot that
    cannot be read raises its own error (``WarehouseError``, ``duckdb.Error``) before anything
    is created; a destination that cannot be written raises ``OSError`` naming the file."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    sql_string_literal(str(out_dir))  # refuse NUL before touching anything
    con = open_published(Path(warehouse))
    written: list[Exported] = []
    try:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in relations(con):
            final = out_dir.resolve() / f"{name}.{fmt}"
            tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
            rows = con.execute(f"SELECT count(*) FROM {quote_identifier(name)}").fetchall()[0][0]
            try:
                con.execute(f"COPY (SELECT * FROM {quote_identifier(name)}) "
                            f"TO {sql_string_literal(str(tmp))} {FORMATS[fmt]}").fetchall()
                os.replace(tmp, final)
            except duckdb.IOException as exc:
                if is_damage(exc):      # reading the snapshot, not writing the file
                    raise
                raise OSError(f"cannot write {final}: {exc}") from exc
            finally:
                tmp.unlink(missing_ok=True)
            written.append(Exported(name, final, rows))
    finally:
        con.close()
    return written
