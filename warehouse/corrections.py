"""Analyst corrections on the warehouse side: the file beside the warehouse, the lines as the
last load read them (``correction_lines``), what each matched (``correction_matches``), and the
corrections that do nothing (``corrections_unmatched``, for the run summary).

Parsing, checking and applying are ``transforms.corrections``; ``warehouse.history.record``
applies them at every load and calls the functions here inside the load's transaction.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from transforms.corrections import CorrectionError, no_corrections, read_corrections
from transforms.vocabulary import Vocabulary
from warehouse.frames import temp_table

_FACT_ACTIONS = ("reject", "set", "add")


def corrections_path(warehouse: Path, configured: str | Path | None = None) -> Path:
    """``configured`` (ZONEFACTS_CORRECTIONS, read by the settings edge), else
    ``<warehouse stem>.corrections.csv`` beside the warehouse."""
    if configured:
        return Path(configured)
    warehouse = Path(warehouse)
    return warehouse.with_name(f"{warehouse.stem}.corrections.csv")


@dataclass(frozen=True)
class CorrectionsFile:
    """The corrections file as one run reads it: its lines and the digest of the same bytes, so
    that what a run applied and what the up-to-date check compares cannot disagree."""
    path: Path
    lines: pl.DataFrame                 # transforms.corrections.read_corrections, ``error`` per line
    errors: list[CorrectionError]
    digest: str                         # sha256 of the bytes; "" when there is no file

    @property
    def exists(self) -> bool:
        return bool(self.digest)


def read(path: Path, vocabulary: Vocabulary) -> CorrectionsFile:
    """The corrections file at ``path`` read once and checked; no file is no corrections."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return CorrectionsFile(Path(path), no_corrections(), [], "")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("gb18030", errors="replace")   # a spreadsheet's "CSV" on a Chinese Windows
    lines, errors = read_corrections(text, vocabulary)
    return CorrectionsFile(Path(path), lines, errors, hashlib.sha256(data).hexdigest())


def read_file(path: Path, vocabulary: Vocabulary) -> tuple[pl.DataFrame, list[CorrectionError]]:
    """The corrections file's lines and errors (``read``)."""
    found = read(path, vocabulary)
    return found.lines, found.errors


def stored_lines(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The corrections file as the last load that had one read it."""
    schema = no_corrections().schema
    return con.sql(f"SELECT {', '.join(schema)} FROM correction_lines ORDER BY line").pl().cast(schema)


def widen_scope(con: duckdb.DuckDBPyConnection, lines: pl.DataFrame) -> None:
    """Add to ``_scope`` the lineages a reject, set or add line reaches that is new, gone, moved
    or newly (in)valid since the stored file: where it matched, the documents it names, every
    document for a line naming none. Unchanged lines reach nothing new in untouched files."""

    temp_table(con, "_lines_now", lines.filter(pl.col("action").is_in(_FACT_ACTIONS) & pl.col("error").is_null())
               .select("correction_id", "line", "document"))
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _lines_changed AS
        WITH now AS (SELECT correction_id, line, document FROM _lines_now),
             before AS (SELECT correction_id, line, document FROM correction_lines
                        WHERE error IS NULL AND action IN ('reject', 'set', 'add'))
        (SELECT * FROM now EXCEPT SELECT * FROM before) UNION ALL (SELECT * FROM before EXCEPT SELECT * FROM now)
    """)
    con.execute("""
        INSERT INTO _scope
        SELECT lineage_id FROM correction_matches WHERE correction_id IN (SELECT correction_id FROM _lines_changed)
        UNION SELECT d.lineage_id FROM documents d JOIN _lines_changed c ON c.document = d.stem
        UNION SELECT lineage_id FROM documents WHERE EXISTS (SELECT 1 FROM _lines_changed WHERE document IS NULL)
        EXCEPT SELECT lineage_id FROM _scope
    """)


def record_matches(con: duckdb.DuckDBPyConnection, lines: pl.DataFrame | None, run_id: str) -> None:
    """Store what each line matched in the lineages of ``_scope`` (``_status``) and, when the file
    was read this run (``lines``), the file's lines in place of the stored ones."""

    con.execute("DELETE FROM correction_matches WHERE lineage_id IN (SELECT lineage_id FROM _scope)")
    con.execute("INSERT INTO correction_matches SELECT correction_id, lineage_id, sum(matched) FROM _status "
                "GROUP BY ALL")
    if lines is None:
        return
    temp_table(con, "_lines", lines.with_columns(pl.lit(run_id).alias("run_id")))
    con.execute("DELETE FROM correction_lines")
    con.execute("INSERT INTO correction_lines BY NAME SELECT * FROM _lines")
    con.execute("DELETE FROM correction_matches WHERE correction_id NOT IN "
                "(SELECT correction_id FROM correction_lines WHERE error IS NULL)")


def unmatched(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The corrections that do nothing, with the problem: invalid, or matching nothing."""
    cursor = con.execute("SELECT line, action, document, entity, indicator, problem FROM corrections_unmatched")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def summary_lines(con: duckdb.DuckDBPyConnection) -> list[str]:
    """For the run summary: how many corrections apply, then one line per one that does nothing."""
    applied = con.execute("SELECT count(*) FROM correction_lines WHERE correction_id NOT IN "
                          "(SELECT correction_id FROM corrections_unmatched)").fetchone()[0]
    lines = [f"corrections: {applied} applied"] if applied else []
    for row in unmatched(con):
        what = " ".join(str(row[k]) for k in ("document", "entity", "indicator") if row[k])
        lines.append(f"correction line {row['line']} ({row['action']}{' ' + what if what else ''}): {row['problem']}")
    return lines
