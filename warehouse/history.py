"""Document versions and the fact history: which version of each file is current, and every
version of every fact (schema: ``sql/008_history.sql``, views: ``sql/009_history_views.sql``).

Inside the load's transaction ``register_documents`` adds a run's documents: a new version of a
file (same inbox and path, other bytes or sidecar) supersedes the current one, whose facts leave
``fact_observation``; a document already loaded is a re-extraction. ``record`` then brings the
open rows of ``fact_history`` in line with the extracted facts after corrections, for the files
the run touched (and those a changed correction reaches), closing and opening versions with
their cause. ``forget`` retracts documents on request. Everything here is set-based SQL; the
corrections are applied by ``transforms.corrections`` on the few facts in scope.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import polars as pl

from transforms.corrections import CORRECTED_SCHEMA, FACT_SCHEMA, STATUS_SCHEMA, apply_corrections
from warehouse import corrections as stored
from warehouse.frames import temp_table

NEW_DOCUMENT = "new document"
REVISION = "revision by a later document"
SUPERSEDED = "superseded"
CORRECTION = "correction"
FORGOTTEN = "forgotten"


def reextraction(fingerprint: str | None) -> str:
    return f"re-extraction under {fingerprint}"


# --------------------------------------------------------------------------- document versions

_NO_DOCUMENTS = ("(SELECT NULL::VARCHAR AS document_id, NULL::VARCHAR AS path, NULL::VARCHAR AS stem, "
                 "NULL::VARCHAR AS sha256 WHERE false)")


def register_documents(con: duckdb.DuckDBPyConnection, staged: str | None, *, run_id: str, inbox: str | None,
                       fingerprint: str) -> int:
    """Add the run's staged documents (``staged``: a relation of them, or None) and retire the
    versions they supersede. Leaves ``_run_docs`` (the run's documents, ``is_new``) and
    ``_touched`` (their lineages with the cause of this run's changes) for the rest of the load.
    Returns the number of new documents."""
    # A re-extracted document keeps its lineage. A new one continues the current document at
    # its path in its inbox, or at its path in an unknown inbox (loaded before runs named theirs).
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _run_docs AS
        SELECT DISTINCT ON (s.document_id) s.document_id, s.path, s.stem, s.sha256,
               coalesce(d.lineage_id, p.lineage_id, lineage_key($inbox, s.path)) AS lineage_id,
               d.document_id IS NULL AS is_new
        FROM {staged or _NO_DOCUMENTS} s
        LEFT JOIN documents d ON d.document_id = s.document_id
        LEFT JOIN documents p ON d.document_id IS NULL AND p.path = s.path
                             AND (p.inbox IS NOT DISTINCT FROM $inbox OR p.inbox IS NULL)
        ORDER BY s.document_id, p.inbox IS NOT DISTINCT FROM $inbox DESC
    """, {"inbox": inbox})
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _retiring AS
        SELECT d.document_id, r.document_id AS superseded_by, d.lineage_id
        FROM documents d JOIN _run_docs r ON r.lineage_id = d.lineage_id AND r.is_new AND r.document_id <> d.document_id
    """)
    again = reextraction(fingerprint)
    # a document re-extracted in the run that also brings its file's next version is superseded
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _touched AS
        SELECT DISTINCT ON (lineage_id) lineage_id,
               CASE WHEN NOT is_new THEN ? WHEN lineage_id IN (SELECT lineage_id FROM _retiring) THEN ? ELSE ? END
                   AS cause,
               CASE WHEN NOT is_new THEN ? ELSE ? END AS end_cause
        FROM _run_docs ORDER BY lineage_id, is_new DESC
    """, [again, REVISION, NEW_DOCUMENT, again, SUPERSEDED])
    _retire(con, "_retiring", run_id, SUPERSEDED)
    new = 0
    if staged:
        # ON CONFLICT skips the stored documents and keeps the first of a document staged twice,
        # hashing every column (the texts) to find it; with each document staged once, the new
        # ones alone are the same rows
        once = con.execute(f"SELECT count(*) = count(DISTINCT document_id) FROM {staged}").fetchall()[0][0]
        new = con.execute(f"""
            INSERT INTO documents (document_id, path, stem, sha256, size_bytes, encoding, format, title,
                                   title_source, published_at, date_source, source_url, raw_text, ingested_at,
                                   run_id, fingerprint, inbox, lineage_id)
            SELECT s.document_id, s.path, s.stem, s.sha256, size_bytes, encoding, format, title, title_source,
                   published_at, date_source, source_url, text, now()::TIMESTAMP, ?, ?, ?, r.lineage_id
            FROM {current_only(staged)} s JOIN _run_docs r ON r.document_id = s.document_id
            {"WHERE r.is_new" if once else "ON CONFLICT (document_id) DO NOTHING"}
        """, [run_id, fingerprint, inbox]).fetchall()[0][0]
    con.execute("""
        INSERT INTO document_versions
        SELECT document_id, lineage_id, ?, path, stem, sha256, ?, NULL, NULL, NULL FROM _run_docs WHERE is_new
        ON CONFLICT DO NOTHING
    """, [inbox, run_id])
    # a re-extracted document's facts are now those of this fingerprint
    con.execute("UPDATE documents SET fingerprint = ? WHERE document_id IN (SELECT document_id FROM _run_docs) "
                "AND fingerprint IS DISTINCT FROM ?", [fingerprint, fingerprint])
    return new


def current_only(staged: str | None) -> str | None:
    """The staged rows (a relation with document_id) of documents this load did not retire."""
    return staged and f"(SELECT * FROM {staged} WHERE document_id NOT IN (SELECT document_id FROM _retiring))"


def _retire(con: duckdb.DuckDBPyConnection, table: str, run_id: str, cause: str) -> None:
    """Move the documents of ``table`` (document_id, superseded_by) out of the current ones, with
    everything read from them; their facts' history rows are closed by ``record``."""
    con.execute(f"""
        UPDATE document_versions SET retired_run = ?, retired_cause = ?, superseded_by = t.superseded_by
        FROM {table} t WHERE t.document_id = document_versions.document_id AND document_versions.retired_run IS NULL
    """, [run_id, cause])
    for derived in ("fact_observation", "source_defects", "unmapped_mentions", "document_coverage", "documents"):
        con.execute(f"DELETE FROM {derived} WHERE document_id IN (SELECT document_id FROM {table})")


def known_document_ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Documents a run skips: the current versions, and forgotten ones (forgetting sticks while
    the file stays in the inbox). A superseded version is not known: a file that returns to it,
    or a copy of it elsewhere, is loaded again."""
    return {row[0] for row in con.execute(
        "SELECT document_id FROM documents UNION SELECT document_id FROM document_versions "
        "WHERE retired_cause = ?", [FORGOTTEN]).fetchall()}


def stale_document_ids(con: duckdb.DuckDBPyConnection, fingerprint: str) -> list[str]:
    """Current documents whose facts another extractor fingerprint read: to re-extract."""
    return [row[0] for row in con.execute(
        "SELECT document_id FROM documents WHERE fingerprint IS DISTINCT FROM ? ORDER BY document_id",
        [fingerprint]).fetchall()]


def matching_document_ids(con: duckdb.DuckDBPyConnection, pattern: str) -> list[str]:
    """Current documents whose path or stem matches the glob ``pattern`` (``*`` matches any text,
    ``/`` included): the ones a forced re-extraction reads again."""
    return [row[0] for row in con.execute(
        "SELECT document_id FROM documents WHERE path GLOB $p OR stem GLOB $p ORDER BY document_id",
        {"p": pattern}).fetchall()]


def superseded_count(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Documents the run ``run_id`` superseded by a new version of their file."""
    return con.execute("SELECT count(*) FROM document_versions WHERE retired_run = ? AND retired_cause = ?",
                       [run_id, SUPERSEDED]).fetchone()[0]


def read_documents(con: duckdb.DuckDBPyConnection, document_ids: list[str]) -> pl.DataFrame:
    """Stored documents in the shape ``transforms.documents.parse_documents`` gives, to re-extract
    them without their files (a file may be gone; its facts are kept and re-read)."""
    from transforms.documents import DOCUMENT_SCHEMA

    return con.sql("""
        SELECT document_id, path, stem, sha256, size_bytes, encoding, format, title, title_source, published_at,
               date_source, source_url, raw_text AS text
        FROM documents WHERE document_id IN (SELECT unnest(?)) ORDER BY document_id
    """, params=[document_ids]).pl().cast(DOCUMENT_SCHEMA)


@dataclass(frozen=True)
class Forgotten:
    run_id: str
    documents: int
    facts: int
    unmatched: tuple[str, ...] = ()     # the names that named no current document


def forget(con: duckdb.DuckDBPyConnection, documents: Iterable[str], *, run_id: str | None = None) -> Forgotten:
    """Retract current documents (by stem, path or document_id) and their facts, in one transaction.
    Their facts stay in the history (end_cause 'forgotten'); their files are skipped from now on.
    When no name matches, nothing is recorded (the last run's changes stay the ones shown)."""
    run_id = run_id or f"forget-{uuid.uuid4().hex}"
    names = sorted(set(documents))
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _forgetting AS
            SELECT document_id, NULL::VARCHAR AS superseded_by, lineage_id FROM documents
            WHERE list_contains($names, stem) OR list_contains($names, path) OR list_contains($names, document_id)
        """, {"names": names})
        count = con.execute("SELECT count(*) FROM _forgetting").fetchone()[0]
        unmatched = tuple(row[0] for row in con.execute("""
            SELECT name FROM unnest($names::VARCHAR[]) t(name) WHERE NOT EXISTS (
                SELECT 1 FROM documents d JOIN _forgetting f USING (document_id)
                WHERE name IN (d.stem, d.path, d.document_id)) ORDER BY name
        """, {"names": names}).fetchall())
        if count == 0:
            con.execute("ROLLBACK")
            return Forgotten(run_id, 0, 0, unmatched)
        con.execute("CREATE OR REPLACE TEMP TABLE _touched AS SELECT DISTINCT lineage_id, NULL::VARCHAR AS cause, "
                    "? AS end_cause FROM _forgetting", [FORGOTTEN])
        _retire(con, "_forgetting", run_id, FORGOTTEN)
        changes = record(con, run_id, kind="forget", fingerprint=None)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return Forgotten(run_id, count, changes["closed"], unmatched)


# --------------------------------------------------------------------------- fact history

# What makes a new version of a fact; evidence, position and document version do not (an edit
# elsewhere in the sentence, or a new version of the file stating the same, changes nothing).
_VERSION_COLUMNS = ("entity", "year", "start_month", "end_month", "indicator", "segment", "measure", "benchmark",
                    "value", "unit", "qualifier", "extracted_key", "correction_id")
_IN_PLACE = ("document_id", "observation_id", "document", "evidence", "entity_type", "char_start", "fingerprint")


def _version(alias: str) -> str:
    """The version columns of ``alias`` as one row value, each as text (null as ∅), so that two
    versions compare with ``=``; compared directly rather than through a hash of their
    concatenation, which cost a re-extraction two md5s a fact."""
    return "(" + ", ".join(f"coalesce({alias}.{c}::VARCHAR, '∅')" for c in _VERSION_COLUMNS) + ")"


_HISTORY_COLUMNS = ("lineage_id", "document_id", "observation_id", "document", "entity", "entity_type", "year",
                    "start_month", "end_month", "period", "indicator", "segment", "measure", "benchmark", "value",
                    "unit", "qualifier", "evidence", "char_start", "extracted_value", "extracted_key",
                    "correction_id", "fingerprint")


def record(con: duckdb.DuckDBPyConnection, run_id: str, *, kind: str, fingerprint: str | None,
           corrections: pl.DataFrame | None = None) -> dict[str, int]:
    """Bring the open history rows of the lineages in ``_touched`` (lineage_id, cause, end_cause)
    in line with their extracted facts after corrections; returns the counts of this call.

    ``corrections`` is the corrections file as read now (``transforms.corrections.read_corrections``):
    it replaces the stored one, and the lineages a changed line reaches join the scope. None keeps
    the stored corrections (a forget, or a run without a corrections file configured)."""
    con.execute("CREATE OR REPLACE TEMP TABLE _scope AS SELECT DISTINCT lineage_id FROM _touched")
    if corrections is not None:
        stored.widen_scope(con, corrections)
        lines = corrections
    else:
        lines = stored.stored_lines(con)
    con.execute("CREATE OR REPLACE TEMP TABLE _old AS SELECT * FROM fact_history "
                "WHERE valid_to_run IS NULL AND lineage_id IN (SELECT lineage_id FROM _scope)")
    had = con.execute("SELECT count(*) FROM _old").fetchall()[0][0] > 0
    applied = lines.filter(pl.col("error").is_null() & pl.col("action").is_in(["reject", "set", "add"]))
    closed = 0
    if not had and applied.is_empty():
        # nothing to compare and nothing to correct (a run of new files, mostly): the facts open
        # as extracted, read once
        temp_table(con, "_status", pl.DataFrame(schema=STATUS_SCHEMA))
        opened = _open_fresh(con, run_id, f"({_EXTRACTED})")
    else:
        _corrected_facts(con, applied, lines)
        con.execute("UPDATE _new SET entity_type = e.entity_type FROM dim_entity e "
                    "WHERE e.name = _new.entity AND _new.entity_type IS NULL")
        opened = _open_fresh(con, run_id, "_new")
        if had:
            con.execute("DELETE FROM _new WHERE lineage_id NOT IN (SELECT lineage_id FROM _old)")
            changed = _diff_versions(con, run_id)
            opened, closed = opened + changed["opened"], changed["closed"]
    stored.record_matches(con, lines if corrections is not None else None, run_id)
    con.execute("INSERT INTO history_runs VALUES (?, now()::TIMESTAMP, ?, ?) ON CONFLICT DO NOTHING",
                [run_id, kind, fingerprint])
    return {"opened": opened, "closed": closed}


_COLUMNS, _INSERTED = ", ".join(_HISTORY_COLUMNS), ", ".join(f"n.{c}" for c in _HISTORY_COLUMNS)
# the extracted facts of the lineages in _scope, as CORRECTED_SCHEMA before any correction
_EXTRACTED = f"""
    SELECT {", ".join(c for c in CORRECTED_SCHEMA if c not in ("extracted_value", "correction_id", "rejected"))},
           value AS extracted_value, NULL::VARCHAR AS correction_id, false AS rejected
    FROM extracted_facts WHERE lineage_id IN (SELECT lineage_id FROM _scope)
"""


def _open_fresh(con: duckdb.DuckDBPyConnection, run_id: str, facts: str) -> int:
    """Open the ``facts`` (``_new``, or the same columns read from extracted_facts) whose lineage
    has no open version in ``_old`` (a new file, or one whose facts were all retracted): with
    nothing to compare, each fact kept after the corrections opens, as ``_diff_versions`` would
    open it. Returns how many."""
    with _join_order_as_written(con):
        return con.execute(f"""
            INSERT INTO fact_history (fact_id, valid_from_run, valid_to_run, cause, end_cause, {_COLUMNS})
            SELECT n.fact_id, ?, NULL, CASE WHEN n.observation_id IS NULL THEN ? ELSE coalesce(t.cause, ?) END,
                   NULL, {_INSERTED}
            FROM {facts} n LEFT JOIN _touched t ON t.lineage_id = n.lineage_id
            WHERE n.lineage_id NOT IN (SELECT lineage_id FROM _old) AND coalesce(NOT n.rejected, false)
        """, [run_id, CORRECTION, CORRECTION]).fetchall()[0][0]


def _diff_versions(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    """Close and open versions where ``_new`` (the facts now) and ``_old`` (the open versions)
    differ, and update in place what changes no version; returns the counts."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _diff AS
        SELECT coalesce(n.fact_id, o.fact_id) AS fact_id,
               o.fact_id IS NOT NULL AS had,
               coalesce(NOT n.rejected, false) AS has,
               {_version('o')} = {_version('n')} AS same_version,
               -- read the same both times: what changed is a correction
               coalesce(o.extracted_key = n.extracted_key, false) AS same_reading,
               n.fact_id IS NOT NULL AND n.observation_id IS NULL AS added,
               t.cause, t.end_cause
        FROM _old o
        FULL JOIN _new n ON n.fact_id = o.fact_id
        LEFT JOIN _touched t ON t.lineage_id = coalesce(n.lineage_id, o.lineage_id)
    """)
    closing = "d.had AND NOT (d.has AND coalesce(d.same_version, false))"
    opening = "d.has AND NOT (d.had AND coalesce(d.same_version, false))"
    # a version opened earlier in this same run and changed again lasted no run: it goes
    con.execute(f"DELETE FROM fact_history WHERE valid_from_run = ? AND valid_to_run IS NULL AND fact_id IN "
                f"(SELECT fact_id FROM _diff d WHERE {closing})", [run_id])
    closed = con.execute(f"""
        UPDATE fact_history SET valid_to_run = ?,
            end_cause = CASE WHEN d.same_reading THEN ? ELSE coalesce(d.end_cause, ?) END
        FROM _diff d
        WHERE d.fact_id = fact_history.fact_id AND fact_history.valid_to_run IS NULL AND {closing}
    """, [run_id, CORRECTION, CORRECTION]).fetchall()[0][0]
    opened = con.execute(f"""
        INSERT INTO fact_history (fact_id, valid_from_run, valid_to_run, cause, end_cause, {_COLUMNS})
        SELECT n.fact_id, ?, NULL,
               CASE WHEN d.same_reading OR d.added THEN ? ELSE coalesce(d.cause, ?) END, NULL, {_INSERTED}
        FROM _new n JOIN _diff d ON d.fact_id = n.fact_id
        WHERE {opening}
    """, [run_id, CORRECTION, CORRECTION]).fetchall()[0][0]
    # DuckDB updates strings slowly in rows that come in random order (a hash join's), fast in
    # the order of their rowids: the rows to update in place are found first, in that order
    differs = " OR ".join(f"h.{c} IS DISTINCT FROM n.{c}" for c in _IN_PLACE)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _in_place AS
        SELECT h.rowid AS row_id, {", ".join(f"n.{c}" for c in _IN_PLACE)}
        FROM fact_history h JOIN _new n ON n.fact_id = h.fact_id JOIN _diff d ON d.fact_id = n.fact_id
        WHERE h.valid_to_run IS NULL AND d.had AND d.has AND d.same_version AND ({differs})
        ORDER BY row_id
    """)
    assignments = ", ".join(f"{c} = n.{c}" for c in _IN_PLACE)
    con.execute(f"UPDATE fact_history SET {assignments} FROM _in_place n WHERE fact_history.rowid = n.row_id")
    return {"opened": opened, "closed": closed}


@contextmanager
def _join_order_as_written(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Keep the build sides of the joins as the query writes them (the small side on the right).

    DuckDB sizes a table by the rows committed before the transaction: the facts the load
    inserts count as none, and extracted_facts would build its hash tables on the facts
    instead of on the documents and dimensions they look up."""
    before = con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0]
    con.execute(f"SET disabled_optimizers = '{','.join(filter(None, (before, 'build_side_probe_side')))}'")
    try:
        yield
    finally:
        con.execute(f"SET disabled_optimizers = '{before}'")


def _corrected_facts(con: duckdb.DuckDBPyConnection, applied: pl.DataFrame, lines: pl.DataFrame) -> None:
    """``_new``: the facts of the lineages in ``_scope`` after corrections (CORRECTED_SCHEMA), and
    ``_status``: what each line matched there. ``applied`` are the valid reject, set and add
    lines of ``lines``. Only the facts a line can reach (its document's, or all for a reject or
    set naming none) make the trip to ``apply_corrections``."""
    with _join_order_as_written(con):
        con.execute(f"CREATE OR REPLACE TEMP TABLE _new AS {_EXTRACTED}")
    everywhere = applied.filter(pl.col("action").is_in(["reject", "set"]) & pl.col("document").is_null()).height > 0
    stems = applied.get_column("document").drop_nulls().unique().to_list()
    reached = "(list_contains($stems, document) OR $everywhere)"
    reach = {"stems": stems, "everywhere": everywhere}
    facts = con.sql(f"SELECT {', '.join(FACT_SCHEMA)} FROM _new WHERE {reached}", params=reach).pl()
    documents = con.sql("""
        SELECT stem AS document, document_id, lineage_id, raw_text AS text FROM documents
        WHERE lineage_id IN (SELECT lineage_id FROM _scope) AND list_contains($stems, stem)
    """, params={"stems": stems}).pl()
    corrected = apply_corrections(facts, lines, documents)
    temp_table(con, "_corrected", corrected.facts)
    temp_table(con, "_status", corrected.status)
    con.execute(f"DELETE FROM _new WHERE {reached}", reach)
    con.execute("INSERT INTO _new BY NAME SELECT * FROM _corrected")


# --------------------------------------------------------------------------- reading the history


def _last_run(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute("SELECT run_id FROM history_runs ORDER BY recorded_at DESC, run_id DESC LIMIT 1").fetchone()
    return row[0] if row else None


def change_counts(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> list[tuple[str, int, int, int]]:
    """(cause, added, changed, retracted) of a run's fact changes (the last run's by default);
    a change counts under its new version's cause, a retraction under why the fact ended."""
    run_id = run_id or _last_run(con)
    return con.execute("""
        WITH closed AS (SELECT fact_id, end_cause FROM fact_history WHERE valid_to_run = $run),
             opened AS (SELECT fact_id, cause FROM fact_history WHERE valid_from_run = $run)
        SELECT coalesce(o.cause, c.end_cause) AS why,
               count(*) FILTER (WHERE c.fact_id IS NULL) AS added,
               count(*) FILTER (WHERE c.fact_id IS NOT NULL AND o.fact_id IS NOT NULL) AS changed,
               count(*) FILTER (WHERE o.fact_id IS NULL) AS retracted
        FROM closed c FULL JOIN opened o ON o.fact_id = c.fact_id
        GROUP BY why ORDER BY why
    """, {"run": run_id}).fetchall()


def summary_lines(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> list[str]:
    """'re-extraction under 3fa2c1d9e0b4: 4 added, 2 changed, 1 retracted', one per cause."""
    return [f"{why}: {added} added, {changed} changed, {retracted} retracted"
            for why, added, changed, retracted in change_counts(con, run_id)]


def retracted_shares(con: duckdb.DuckDBPyConnection, *, above: float = 0.0,
                     run_id: str | None = None) -> list[dict]:
    """Documents a re-extraction (the last run's by default) retracted more than ``above`` of the
    facts of, most first: the data-quality signal of a regressed extractor or vocabulary."""
    run_id = run_id or _last_run(con)
    cursor = con.execute("""
        SELECT document, lineage_id, fingerprint, facts_before, added, changed, retracted, retracted_share
        FROM reextraction_impact WHERE run_id = ? AND retracted_share > ?
        ORDER BY retracted_share DESC, document
    """, [run_id, above])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]
