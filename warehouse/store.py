"""Opening, loading and publishing the warehouse file.

The flow writes to a private working file (``<warehouse>.work``) and, after a
successful run, publishes it as ``<warehouse>`` by atomic replace. Analysts read
the published file; a reader holding it open never blocks a run and never sees
a half-loaded one. A crash leaves both files as they were before the run: the
load is one DuckDB transaction, and the publish is a rename.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from warehouse import history
from warehouse.frames import register_frame
from warehouse.migrate import migrate
from warehouse.staging import read_files, staged

class WarehouseError(RuntimeError):
    """A warehouse file cannot be used; the message says which file and how to recover."""


# A DuckDB file is its main header and two database headers (4 KiB each), then whole blocks
# (storage/storage_info.hpp: Storage::FILE_HEADER_SIZE, BLOCK_START = 3 * FILE_HEADER_SIZE).
_BLOCK_START = 3 * 4096


def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Connect to ``path`` and check that it is complete; any failure is a WarehouseError."""
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseError(
                f"{path} is locked by another process ({exc}). zonefacts itself never holds the "
                "published file open for writing; close the other program's connection, or read "
                "with `zonefacts sql` which opens it read-only."
            ) from exc
        raise _corrupt(path, exc) from exc
    except (duckdb.SerializationException, duckdb.InternalException, duckdb.InvalidInputException) as exc:
        raise _corrupt(path, exc) from exc
    try:
        _check_complete(con, path)
    except BaseException:
        con.close()
        raise
    return con


def _check_complete(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a file shorter than the blocks it uses (a truncated copy), before anything reads it.

    DuckDB reads only the headers and the catalog when it connects, so a file cut short
    connects fine and fails on the first query that reaches a missing block ("Could not
    read enough bytes"), in the middle of a run or after `zonefacts sql` has answered
    other queries. Blocks are whole ``block_size`` pieces after the headers:

    * The usual case costs one pragma and a stat: a file at least as long as the header's
      block count (``total_blocks``) holds every block it can use.
    * A shorter file is not necessarily damaged: a checkpoint that frees the last blocks
      cuts them off the file, but the header it wrote still counts them (as free). Only
      then are the blocks actually in use looked up (metadata blocks, and the blocks of
      every table's segments: metadata only, no table data is read) and the file must
      reach the highest of them. Index blocks are not listed by DuckDB and not checked.
    """
    try:
        # fetchall, not fetchone: a result left unfinished makes the caller's next con.sql() fail
        rows = con.execute("SELECT block_size, total_blocks, used_blocks FROM pragma_database_size() "
                           "WHERE database_name = current_database()").fetchall()
        actual = os.path.getsize(path)
        if not rows:      # not expected; never refuse a file on a missing answer
            return
        block_size, total_blocks, used_blocks = rows[0]
        if actual >= _BLOCK_START + block_size * total_blocks:
            return
        needed = max(used_blocks, _highest_block(con) + 1)
    except (duckdb.Error, OSError) as exc:
        raise _corrupt(path, exc) from exc
    if actual < _BLOCK_START + block_size * needed:
        raise _corrupt(path, f"the file is truncated: {actual} bytes, but it uses {needed} blocks of "
                             f"{block_size} bytes after a {_BLOCK_START}-byte header "
                             f"({_BLOCK_START + block_size * needed} bytes)")


def _highest_block(con: duckdb.DuckDBPyConnection) -> int:
    """The highest block id the database refers to (metadata and table segments), -1 if none."""
    highest = con.execute("SELECT max(block_id) FROM pragma_metadata_info()").fetchall()[0][0]
    highest = -1 if highest is None else highest
    tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                         "WHERE database_name = current_database() AND NOT temporary").fetchall()
    for schema, table in tables:
        name = ".".join('"' + part.replace('"', '""') + '"' for part in (schema, table))
        block = con.execute("SELECT max(greatest(block_id, coalesce(list_max(additional_block_ids), -1))) "
                            "FROM pragma_storage_info(?)", [name]).fetchall()[0][0]
        if block is not None:
            highest = max(highest, block)
    return highest


def _corrupt(path: Path, exc: Exception | str) -> WarehouseError:
    return WarehouseError(
        f"{path} is not a readable DuckDB database: {exc}. Nothing was changed. To recover, move "
        f"the damaged file aside (mv '{path}' '{path}.damaged') and run again: a missing working "
        "file is rebuilt from the published snapshot, and a missing snapshot from the inbox."
    )


# DuckDB's memory on the working file (load, warehouse suite); it spills to disk beyond it
WORK_MEMORY_LIMIT = "768MB"


def open_work(warehouse: Path, work: Path) -> duckdb.DuckDBPyConnection:
    """Open the working file for one run, seeding it from the published snapshot if absent."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    if not work.exists() and warehouse.exists():
        check = _connect(warehouse, read_only=True)
        check.close()
        tmp = work.with_name(work.name + ".seed")
        shutil.copyfile(warehouse, tmp)
        os.replace(tmp, work)
    con = _connect(work, read_only=False)
    try:
        # by default DuckDB takes up to 80% of RAM; with a limit a run's memory does not grow
        # with the backlog (joins and aggregates spill to <work>.tmp)
        con.execute(f"SET memory_limit = '{WORK_MEMORY_LIMIT}'")
        migrate(con)
    except duckdb.Error as exc:
        con.close()
        raise _corrupt(work, exc) from exc
    return con


def open_published(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection on the published snapshot (what analysts and reports read)."""
    if not warehouse.exists():
        raise WarehouseError(f"{warehouse} does not exist yet: run `zonefacts run` first.")
    return _connect(warehouse, read_only=True)


def publish(work: Path, warehouse: Path) -> None:
    """Atomically replace the published snapshot with the (closed, checkpointed) working file."""
    tmp = warehouse.with_name(f".{warehouse.name}.publish-{os.getpid()}")
    try:
        shutil.copyfile(work, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, warehouse)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not leave half a snapshot behind
        raise


def known_document_ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    return history.known_document_ids(con)


@dataclass(frozen=True)
class LoadCounts:
    documents: int
    observations: int
    quarantined: int
    defects: int
    unmapped: int
    entities: int


def unvalidated_loads(con: duckdb.DuckDBPyConnection) -> int:
    """Runs that loaded rows but recorded no data-quality run (killed between load and quality)."""
    return con.execute(
        "SELECT count(*) FROM pipeline_runs p WHERE p.status = 'success' "
        "AND (coalesce(p.documents_new, 0) > 0 OR coalesce(p.observations_loaded, 0) > 0) "
        "AND NOT EXISTS (SELECT 1 FROM dq_runs d WHERE d.run_id = p.run_id)").fetchone()[0]


def last_inbox_listing(con: duckdb.DuckDBPyConnection, inbox: str) -> tuple[str | None, str, Any] | None:
    """(inbox listing fingerprint, run_id, finished_at) of the latest successful run over ``inbox``;
    the fingerprint is null when that run met a file it may read next time (see the pipeline)."""
    rows = con.execute(
        "SELECT json_extract_string(summary, '$.inbox_listing'), run_id, finished_at FROM pipeline_runs "
        "WHERE status = 'success' AND inbox = ? ORDER BY finished_at DESC LIMIT 1", [inbox]).fetchall()
    return rows[0] if rows else None


_KEY = "(md5_number({}) >> 65)::BIGINT"  # stable 63-bit surrogate key


def _entity_key(col: str) -> str:
    return _KEY.format(col)


def _period_key(alias: str = "") -> str:
    parts = ", ".join(f"coalesce({alias}{c}::VARCHAR, '?')" for c in ("year", "start_month", "end_month"))
    return _KEY.format(f"concat_ws('|', {parts})")


# Deterministic ids of staged rows: loading a batch again finds its rows, and a re-extraction
# finds which rows of its documents it no longer reads.
_OBSERVATION_ID = """md5(concat_ws('|', o.document_id, o.entity, coalesce(o.year::VARCHAR, '?'),
    coalesce(o.start_month::VARCHAR, '?'), coalesce(o.end_month::VARCHAR, '?'), o.indicator,
    coalesce(o.segment, ''), o.measure, coalesce(o.benchmark, ''), o.value::VARCHAR, o.qualifier))"""
_DEFECT_ID = "md5(concat_ws('|', document_id, kind, char_start::VARCHAR, text))"
_MENTION_ID = "md5(concat_ws('|', document_id, phrase, measure, coalesce(value::VARCHAR, ''), evidence))"


def _drop_unread(con: duckdb.DuckDBPyConnection, table: str, key: str, staged_ids: str | None) -> bool:
    """Delete the rows of the run's documents (``_run_docs``) that the staged ones no longer hold:
    a re-extracted document keeps exactly what this extraction read. Returns whether ``table``
    held rows of them (none in a run of new documents: then the staged keys are not computed)."""
    if not _holds_rows_of_run_docs(con, table):
        return False
    kept = f"AND {key} NOT IN ({staged_ids})" if staged_ids else ""
    con.execute(f"DELETE FROM {table} WHERE document_id IN (SELECT document_id FROM _run_docs) {kept}")
    return True


def _insert_observations(con: duckdb.DuckDBPyConnection, obs: str, run_id: str, fingerprint: str,
                         reloaded: bool) -> int:
    """Insert the staged observations (``obs``, alias ``o``) whose observation_id fact_observation
    lacks, one row per id; returns how many.

    fact_observation has no key index (sql/010), so the ids are kept unique here. An id hashes
    its document's id first, so only the stored rows of the run's own documents can share one
    (``reloaded``: there are some), or two staged rows of one document (the same fact stated
    twice): of those the first staged is kept, as ON CONFLICT DO NOTHING kept it (a document's
    rows are staged in one file, inserted in its order).
    """
    known = ("WHERE observation_id NOT IN (SELECT observation_id FROM fact_observation "
             "WHERE document_id IN (SELECT document_id FROM _run_docs))") if reloaded else ""
    inserted = con.execute(f"""
        INSERT INTO fact_observation
        SELECT * FROM (
            SELECT
                {_OBSERVATION_ID} AS observation_id,
                o.document_id,
                {_entity_key('o.entity')},
                {_period_key('o.')},
                {_KEY.format('o.indicator')},
                o.segment, o.measure, o.value, o.unit, o.qualifier,
                CASE WHEN o.benchmark IS NULL THEN NULL ELSE {_entity_key('o.benchmark')} END,
                o.evidence, o.char_start, o.char_end, o.dq_flags, o.extractor_version, ? AS run_id, ?
            FROM {obs} o) {known}
    """, [run_id, fingerprint]).fetchall()[0][0]
    repeated = con.execute("SELECT count(*) - count(DISTINCT observation_id) FROM fact_observation WHERE run_id = ?",
                           [run_id]).fetchall()[0][0]
    if repeated:
        # rowids follow the insertion order
        con.execute("""
            DELETE FROM fact_observation WHERE rowid IN (
                SELECT rowid FROM fact_observation WHERE run_id = ?
                QUALIFY row_number() OVER (PARTITION BY observation_id ORDER BY rowid) > 1)
        """, [run_id])
    return inserted - repeated


def _holds_rows_of_run_docs(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``table`` holds rows of the run's documents (``_run_docs``): stored before, for a
    re-extraction."""
    return bool(con.execute(f"SELECT 1 FROM {table} WHERE document_id IN (SELECT document_id FROM _run_docs) "
                            "LIMIT 1").fetchall())


def _insert_facts(con: duckdb.DuckDBPyConnection, obs: str, run_id: str, fingerprint: str, reloaded: bool) -> int:
    """The periods, then the facts, of the staged observations ``obs``; how many facts."""
    con.execute(f"""
        INSERT INTO dim_period
        SELECT {_period_key()}, year, start_month, end_month, period_label
        FROM (SELECT DISTINCT year, start_month, end_month, period_label FROM {obs})
        ON CONFLICT (period_id) DO NOTHING
    """)
    return _insert_observations(con, obs, run_id, fingerprint, reloaded)


def _insert_new(con: duckdb.DuckDBPyConnection, table: str, key: str, key_sql: str, staged: str, run_id: str,
                columns: str) -> int:
    """Insert the staged rows whose key ``table`` lacks (one per key), stamped with ``run_id``."""
    return con.execute(f"""
        INSERT INTO {table}
        SELECT DISTINCT ON (new_key) new_key, {columns}, ?
        FROM (SELECT {key_sql} AS new_key, * FROM {staged})
        ON CONFLICT ({key}) DO NOTHING
    """, [run_id]).fetchall()[0][0]


def load_staged(
    con: duckdb.DuckDBPyConnection,
    staging: Path,
    *,
    run_id: str,
    indicators,
    vocabulary_entities,
    before_commit: Callable[[duckdb.DuckDBPyConnection, LoadCounts], None] | None = None,
    before_observations: Callable[[], None] | None = None,
    validated_files: Callable[[], list[Path]] | None = None,
    fingerprint: str | None = None,
    inbox: str | None = None,
    corrections=None,
) -> LoadCounts:
    """Load one run's staged parquet files in a single transaction (all or nothing).

    ``indicators`` and ``vocabulary_entities`` are Polars frames from the vocabulary;
    ``before_commit(con, counts)`` runs inside the transaction after every insert,
    so what it writes (the run's ``pipeline_runs`` row) commits or rolls back with
    the load. ``before_observations()`` runs inside it once the dimensions, documents and
    entities are in, before the staged observations and quarantine are read: a run whose last
    validation still stages them waits for it there. ``validated_files()`` names the observation
    files staged (whole) before that: the load inserts them first, while it waits.

    Every staged document is new or re-extracted: its staged facts, defects and unmapped
    mentions replace its stored ones, and a new version of a file (same ``inbox`` and path)
    supersedes the stored one (``warehouse.history``). ``fingerprint`` is the extractor's
    (``transforms.fingerprint``; the vocabulary files' by default), ``corrections`` the
    corrections file as read now (None keeps the stored ones); the fact history is brought
    up to date with both before ``before_commit``.
    """
    if fingerprint is None:
        from transforms.fingerprint import extractor_fingerprint
        fingerprint = extractor_fingerprint()
    counts = dict(documents=0, observations=0, quarantined=0, defects=0, unmapped=0, entities=0)
    con.execute("BEGIN TRANSACTION")
    try:
        register_frame(con, "vocab_indicators", indicators)
        con.execute(f"""
            INSERT INTO dim_indicator
            SELECT {_KEY.format('code')}, code, name_zh, name_en, unit_kind, category FROM vocab_indicators
            ON CONFLICT (indicator_id) DO UPDATE SET name_zh = excluded.name_zh, name_en = excluded.name_en,
                unit_kind = excluded.unit_kind, category = excluded.category
        """)
        # the gazetteer and national zones (transforms.gazetteer), then the vocabulary's own
        # entities, which win where both name the same entity. Only the gazetteer's rows that
        # differ from the stored ones are written: its thousands of rows rarely change between runs.
        from transforms.gazetteer import dimension as gazetteer_dimension
        register_frame(con, "gazetteer_entities",
                               gazetteer_dimension(exclude=vocabulary_entities.get_column("name").to_list()))
        con.execute(f"""
            INSERT INTO dim_entity (entity_id, name, entity_type, parent, aliases, origin, admin_code)
            SELECT {_entity_key('g.name')}, g.name, g.entity_type, g.parent, g.aliases, 'gazetteer', g.admin_code
            FROM gazetteer_entities g LEFT JOIN dim_entity e ON e.entity_id = {_entity_key('g.name')}
            WHERE (e.entity_type, e.parent, e.aliases, e.admin_code, e.origin)
                  IS DISTINCT FROM (g.entity_type, g.parent, g.aliases, g.admin_code, 'gazetteer')
            ON CONFLICT (entity_id) DO UPDATE SET entity_type = excluded.entity_type, parent = excluded.parent,
                aliases = excluded.aliases, admin_code = excluded.admin_code, origin = 'gazetteer'
        """)
        register_frame(con, "vocab_entities", vocabulary_entities)
        con.execute(f"""
            INSERT INTO dim_entity (entity_id, name, entity_type, parent, aliases, origin)
            SELECT {_entity_key('name')}, name, entity_type, parent, aliases, 'vocabulary' FROM vocab_entities
            ON CONFLICT (entity_id) DO UPDATE SET entity_type = excluded.entity_type,
                parent = excluded.parent, aliases = excluded.aliases, origin = 'vocabulary'
        """)
        counts["documents"] = history.register_documents(
            con, staged(staging, "documents"), run_id=run_id, inbox=inbox, fingerprint=fingerprint)
        coverage = history.current_only(staged(staging, "coverage"))
        if coverage:
            con.execute(f"""
                INSERT INTO document_coverage
                SELECT DISTINCT ON (document_id) document_id, cue_numbers, ? FROM {coverage}
                ON CONFLICT (document_id) DO UPDATE SET cue_numbers = excluded.cue_numbers
            """, [run_id])
        ents = staged(staging, "entities")
        if ents:
            counts["entities"] = con.execute(f"""
                INSERT INTO dim_entity (entity_id, name, entity_type, parent, aliases, origin)
                SELECT DISTINCT ON (name) {_entity_key('name')}, name, entity_type, parent, aliases, 'discovered'
                FROM {ents}
                ON CONFLICT (entity_id) DO NOTHING
            """).fetchall()[0][0]
        # the observations validated so far load while the last validation runs
        stored = _holds_rows_of_run_docs(con, "fact_observation")
        early = [str(f) for f in validated_files()] if validated_files is not None else []
        if early:
            counts["observations"] = _insert_facts(con, history.current_only(read_files(early)), run_id,
                                                   fingerprint, reloaded=stored)
        if before_observations is not None:
            before_observations()
        reloaded = False
        if stored:   # a re-extraction: its unread rows are found against all it staged
            everything = history.current_only(staged(staging, "observations"))
            reloaded = _drop_unread(con, "fact_observation", "observation_id",
                                    everything and f"SELECT {_OBSERVATION_ID} FROM {everything} o")
        rest = history.current_only(staged(staging, "observations", skip=early))
        if rest:
            counts["observations"] += _insert_facts(con, rest, run_id, fingerprint, reloaded)
        con.execute("UPDATE fact_observation SET fingerprint = ? WHERE fingerprint IS DISTINCT FROM ? "
                    "AND document_id IN (SELECT document_id FROM _run_docs)", [fingerprint, fingerprint])
        quar = staged(staging, "quarantine")
        if quar:
            counts["quarantined"] = con.execute(f"""
                INSERT INTO quarantine
                SELECT DISTINCT ON (qid) qid, ?, stage, path, document_id, reason, detail, payload, now()::TIMESTAMP
                FROM (SELECT md5(concat_ws('|', stage, coalesce(path, ''), coalesce(document_id, ''), reason,
                                           detail)) AS qid, * FROM {quar})
                ON CONFLICT (quarantine_id) DO NOTHING
            """, [run_id]).fetchall()[0][0]
        defects = history.current_only(staged(staging, "defects"))
        _drop_unread(con, "source_defects", "defect_id", defects and f"SELECT {_DEFECT_ID} FROM {defects}")
        if defects:
            counts["defects"] = _insert_new(con, "source_defects", "defect_id", _DEFECT_ID, defects, run_id,
                                            "document_id, kind, text, sentence, char_start")
        unmapped = history.current_only(staged(staging, "unmapped"))
        _drop_unread(con, "unmapped_mentions", "mention_id", unmapped and f"SELECT {_MENTION_ID} FROM {unmapped}")
        if unmapped:
            counts["unmapped"] = _insert_new(con, "unmapped_mentions", "mention_id", _MENTION_ID, unmapped, run_id,
                                             "document_id, phrase, measure, value, unit, evidence")
        history.record(con, run_id, kind="load", fingerprint=fingerprint, corrections=corrections)
        if before_commit is not None:
            before_commit(con, LoadCounts(**counts))
        con.execute("UPDATE pipeline_runs SET fingerprint = ? WHERE run_id = ?", [fingerprint, run_id])
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # the failure (a full disk, say) already ended the transaction: keep its error
        raise
    return LoadCounts(**counts)
