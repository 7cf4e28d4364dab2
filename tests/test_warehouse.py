"""warehouse.migrate, warehouse.staging and warehouse.store on real DuckDB files."""
from __future__ import annotations

import os
from pathlib import Path

import duckdb
import polars as pl
import pytest

from conftest import table_counts
from transforms.extract import OBSERVATION_SCHEMA
from transforms.vocabulary import entity_dimension, indicator_dimension, load_vocabulary
from warehouse import migrate as migrate_mod
from warehouse import store
from warehouse.staging import stage_batch, staged_file

TABLES = {"schema_migrations", "documents", "quarantine", "pipeline_runs", "dim_entity", "dim_period",
          "dim_indicator", "fact_observation", "source_defects", "unmapped_mentions"}
VIEWS = {"observations", "unmapped_summary"}
DOC_ID = "a" * 64


def _objects(con) -> tuple[set[str], set[str]]:
    rows = con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall()
    return ({n for n, t in rows if t == "BASE TABLE"}, {n for n, t in rows if t == "VIEW"})


def test_migrate_fresh_file_creates_schema_and_records_version(tmp_path):
    con = duckdb.connect(str(tmp_path / "fresh.duckdb"))
    applied = migrate_mod.migrate(con)
    tables, views = _objects(con)
    assert TABLES <= tables
    assert VIEWS <= views
    assert applied == [m.version for m in migrate_mod.available_migrations()]
    assert migrate_mod.current_version(con) == migrate_mod.latest_version()
    recorded = con.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert [v for v, _ in recorded] == applied
    con.close()


def test_migrate_twice_is_a_noop(tmp_path):
    path = tmp_path / "twice.duckdb"
    con = duckdb.connect(str(path))
    migrate_mod.migrate(con)
    con.close()
    con = duckdb.connect(str(path))
    assert migrate_mod.migrate(con) == []
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == migrate_mod.latest_version()
    con.close()


def _loaded_before(tmp_path, monkeypatch, version: int):
    """A warehouse migrated only below ``version`` with the sample loaded; the migrations then
    all available again."""
    _stage_sample(tmp_path / "staging")
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    every = migrate_mod.available_migrations
    monkeypatch.setattr(migrate_mod, "available_migrations", lambda: [m for m in every() if m.version < version])
    migrate_mod.migrate(con)
    _load(con, tmp_path / "staging")
    monkeypatch.setattr(migrate_mod, "available_migrations", every)
    return con


def _constraints(con, table: str) -> list[tuple]:
    return con.execute("SELECT constraint_type, constraint_text FROM duckdb_constraints() WHERE table_name = ? "
                       "ORDER BY ALL", [table]).fetchall()


def test_migration_010_keeps_the_facts_and_their_not_null_columns_without_the_keys(tmp_path, monkeypatch):
    """A warehouse loaded at 009 goes through 010 with its rows, and its fact tables end as a
    fresh one's: the same columns and NOT NULL constraints, no key."""
    old = _loaded_before(tmp_path, monkeypatch, 10)
    facts = {t: old.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in ("fact_observation", "fact_history")}
    assert all(facts.values())
    not_null = {t: [c for c in _constraints(old, t) if c[0] == "NOT NULL"] for t in facts}
    assert migrate_mod.migrate(old) == [m.version for m in migrate_mod.available_migrations() if m.version >= 10]
    fresh = duckdb.connect(str(tmp_path / "fresh.duckdb"))
    migrate_mod.migrate(fresh)
    for table, rows in facts.items():
        assert old.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() == rows
        ddl = f"SELECT sql FROM duckdb_tables() WHERE table_name = '{table}'"
        assert old.execute(ddl).fetchall() == fresh.execute(ddl).fetchall()
        assert _constraints(old, table) == _constraints(fresh, table) == not_null[table]
    old.close()
    fresh.close()


def test_migration_011_keeps_the_documents_and_stores_their_text_with_zstd(tmp_path, monkeypatch):
    old = _loaded_before(tmp_path, monkeypatch, 11)
    rows = old.execute("SELECT * FROM documents ORDER BY ALL").fetchall()
    constraints = _constraints(old, "documents")
    assert 11 in migrate_mod.migrate(old)
    assert old.execute("SELECT * FROM documents ORDER BY ALL").fetchall() == rows
    assert _constraints(old, "documents") == constraints
    old.execute("CHECKPOINT")
    assert old.execute("SELECT DISTINCT compression FROM pragma_storage_info('documents') "
                       "WHERE column_name = 'raw_text' AND segment_type = 'VARCHAR'").fetchall() == [("ZSTD",)]
    old.close()


def _stage_sample(staging: Path) -> None:
    documents = pl.DataFrame({
        "document_id": [DOC_ID], "path": ["a.txt"], "stem": ["a"], "sha256": [DOC_ID], "size_bytes": [10],
        "encoding": ["utf-8"], "format": ["text"], "title": ["标题"], "title_source": ["first_line"],
        "published_at": [None], "date_source": [None], "source_url": [None], "text": ["重庆高新区GDP增长6.1%。"],
    }, schema_overrides={"published_at": pl.Date})
    observations = pl.DataFrame({
        "document_id": [DOC_ID], "entity": ["重庆高新区"], "entity_type": ["zone"], "year": [2024],
        "start_month": [1], "end_month": [6], "period_label": ["2024-H1"], "indicator": ["gdp"],
        "segment": [None], "measure": ["yoy_growth"], "value": [6.1], "unit": ["%"], "qualifier": ["exact"],
        "benchmark": [None], "evidence": ["GDP增长6.1%"], "char_start": [5], "char_end": [14],
        "extractor_version": ["test"], "dq_flags": [[]],
    }, schema={**OBSERVATION_SCHEMA, "dq_flags": pl.List(pl.String)})
    quarantine = pl.DataFrame({
        "stage": ["ingest"], "path": ["bad.txt"], "document_id": ["b" * 64], "reason": ["empty"],
        "detail": ["zero bytes"], "payload": [b""],
    })
    defects = pl.DataFrame({"document_id": [DOC_ID], "kind": ["lost_digits"], "text": ["增长%"],
                            "sentence": ["增长%。"], "char_start": [3]},
                           schema_overrides={"char_start": pl.Int32})
    unmapped = pl.DataFrame({"document_id": [DOC_ID], "phrase": ["神秘指标"], "measure": ["level"],
                             "value": [1.0], "unit": ["亿元"], "evidence": ["神秘指标1亿元"]})
    entities = pl.DataFrame({"name": ["新区X"], "entity_type": ["zone"], "parent": [None], "aliases": [[]]},
                            schema={"name": pl.String, "entity_type": pl.String, "parent": pl.String,
                                    "aliases": pl.List(pl.String)})
    stage_batch(str(staging), 0, {"documents": documents, "observations": observations,
                                  "quarantine": quarantine, "defects": defects,
                                  "unmapped": unmapped, "entities": entities})


def _load(con, staging, **kwargs):
    vocab = load_vocabulary()
    return store.load_staged(con, staging, run_id="r1", indicators=indicator_dimension(vocab),
                             vocabulary_entities=entity_dimension(vocab), **kwargs)


def _counts(con) -> dict[str, int]:
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("documents", "quarantine", "fact_observation", "dim_entity", "dim_period",
                      "dim_indicator", "source_defects", "unmapped_mentions", "pipeline_runs")}


def test_observations_staged_while_the_load_runs_are_loaded(tmp_path):
    """The run's last validation stages its observations and rejects while the load inserts the
    documents: ``before_observations`` runs after those, before the staged observations are read."""
    staging, late = tmp_path / "staging", tmp_path / "late"
    _stage_sample(late)
    staging.mkdir()
    os.replace(late / "documents-00000.parquet", staging / "documents-00000.parquet")
    con = store.open_work(tmp_path / "w.duckdb", tmp_path / "w.duckdb.work")
    seen: list[int] = []

    def validation_arrives() -> None:
        seen.append(len(list(staging.glob("*.parquet"))))
        for table in ("observations", "quarantine"):
            os.replace(late / f"{table}-00000.parquet", staging / f"{table}-00000.parquet")

    loaded = _load(con, staging, before_observations=validation_arrives)
    assert seen == [1]
    assert (loaded.documents, loaded.observations, loaded.quarantined) == (1, 1, 1)
    assert con.execute("SELECT entity, indicator, value FROM observations").fetchall() == [("重庆高新区", "gdp", 6.1)]
    con.close()


def test_observations_validated_before_the_last_validation_load_while_it_runs(tmp_path):
    """A load inserts the observations its earlier validations staged (``validated_files``)
    before it waits for the last one (``before_observations``); the rest load after, once each.
    Loading again finds the rows it no longer reads against all it staged, the early ones too."""
    staging, late = tmp_path / "staging", tmp_path / "late"
    _stage_sample(staging)
    early = staged_file(staging, "observations", 0)
    second_doc = "c" * 64
    documents = pl.read_parquet(staged_file(staging, "documents", 0))
    pl.concat([documents, documents.with_columns(document_id=pl.lit(second_doc), sha256=pl.lit(second_doc),
                                                 path=pl.lit("c.txt"), stem=pl.lit("c"))]).write_parquet(
        staged_file(staging, "documents", 0))
    late.mkdir()
    pl.read_parquet(early).with_columns(document_id=pl.lit(second_doc), value=pl.lit(7.2)).write_parquet(
        staged_file(late, "observations", 1))
    con = store.open_work(tmp_path / "w.duckdb", tmp_path / "w.duckdb.work")
    in_transaction: list[list[tuple]] = []

    def last_validation() -> None:
        in_transaction.append(con.execute("SELECT document_id, value FROM fact_observation").fetchall())
        os.replace(staged_file(late, "observations", 1), staged_file(staging, "observations", 1))

    loaded = _load(con, staging, validated_files=lambda: [early], before_observations=last_validation)
    assert in_transaction == [[(DOC_ID, 6.1)]]
    assert loaded.observations == 2
    assert sorted(con.execute("SELECT document_id, value FROM fact_observation").fetchall()) == [
        (DOC_ID, 6.1), (second_doc, 7.2)]
    assert con.execute("SELECT count(*) FROM fact_history").fetchall() == [(2,)]

    again = _load(con, staging, validated_files=lambda: [early], before_observations=lambda: None)
    assert again.observations == 0
    assert sorted(con.execute("SELECT document_id, value FROM fact_observation").fetchall()) == [
        (DOC_ID, 6.1), (second_doc, 7.2)]
    # the second document now states 7.3: its 7.2 is no longer read, in the late file
    pl.read_parquet(staged_file(staging, "observations", 1)).with_columns(value=pl.lit(7.3)).write_parquet(
        staged_file(staging, "observations", 1))
    changed = _load(con, staging, validated_files=lambda: [early], before_observations=lambda: None)
    assert changed.observations == 1
    assert sorted(con.execute("SELECT document_id, value FROM fact_observation").fetchall()) == [
        (DOC_ID, 6.1), (second_doc, 7.3)]
    con.close()


def test_load_staged_twice_adds_nothing(tmp_path):
    staging = tmp_path / "staging"
    _stage_sample(staging)
    con = store.open_work(tmp_path / "w.duckdb", tmp_path / "w.duckdb.work")
    first = _load(con, staging)
    assert (first.documents, first.observations, first.quarantined, first.defects, first.unmapped,
            first.entities) == (1, 1, 1, 1, 1, 1)
    after_first = _counts(con)
    second = _load(con, staging)
    assert (second.documents, second.observations, second.quarantined, second.defects,
            second.unmapped, second.entities) == (0, 0, 0, 0, 0, 0)
    assert _counts(con) == after_first
    # the analyst view resolves every key of the loaded fact
    assert con.execute("SELECT entity, indicator, value FROM observations").fetchall() == [
        ("重庆高新区", "gdp", 6.1)]
    con.close()


def test_failure_inside_load_leaves_counts_unchanged(tmp_path):
    """A failure after every insert (in the before_commit hook, which runs inside the transaction)
    rolls back all of it, the hook's own write included; the connection stays usable."""
    staging = tmp_path / "staging"
    _stage_sample(staging)
    con = store.open_work(tmp_path / "w.duckdb", tmp_path / "w.duckdb.work")
    before = _counts(con)

    def boom(con, counts):
        con.execute("INSERT INTO pipeline_runs (run_id, started_at, status) VALUES ('x', now(), 'success')")
        assert counts.documents == 1
        raise RuntimeError("hook failed")

    with pytest.raises(RuntimeError, match="hook failed"):
        _load(con, staging, before_commit=boom)
    assert _counts(con) == before
    # a clean load then works
    assert _load(con, staging).documents == 1
    con.close()


def test_a_document_staged_twice_and_a_fact_stated_twice_load_once(tmp_path):
    staging = tmp_path / "staging"
    _stage_sample(staging)
    documents, observations = (staged_file(staging, table, 0) for table in ("documents", "observations"))
    # batch 1 repeats batch 0's document; batch 0 states its fact again later (same id): the
    # first statement's row is kept
    pl.read_parquet(documents).with_columns(title=pl.lit("另一个标题")).write_parquet(
        staged_file(staging, "documents", 1))
    first = pl.read_parquet(observations)
    pl.concat([first, first.with_columns(evidence=pl.lit("增长6.1%"), char_start=pl.lit(9, pl.Int32))]).write_parquet(
        observations)
    con = store.open_work(tmp_path / "w.duckdb", tmp_path / "w.duckdb.work")
    counts = _load(con, staging)
    assert (counts.documents, counts.observations) == (1, 1)
    assert con.execute("SELECT count(*) FROM documents").fetchall() == [(1,)]
    assert con.execute("SELECT evidence, char_start FROM fact_observation").fetchall() == [("GDP增长6.1%", 5)]
    assert con.execute("SELECT evidence FROM fact_history").fetchall() == [("GDP增长6.1%",)]
    con.close()


@pytest.mark.parametrize("opener", ["published", "work"])
def test_corrupt_file_is_a_warehouse_error_naming_the_file(tmp_path, opener):
    bad = tmp_path / "damaged.duckdb"
    bad.write_bytes(os.urandom(64 * 1024))
    with pytest.raises(store.WarehouseError) as info:
        if opener == "published":
            store.open_published(bad)
        else:
            store.open_work(tmp_path / "other.duckdb", bad)
    assert str(bad) in str(info.value)
    assert "move" in str(info.value)  # says how to recover


def test_corrupt_published_file_is_named_when_seeding_work(tmp_path):
    published = tmp_path / "zonefacts.duckdb"
    published.write_bytes(os.urandom(64 * 1024))
    with pytest.raises(store.WarehouseError, match=str(published)):
        store.open_work(published, tmp_path / "zonefacts.duckdb.work")
    assert not (tmp_path / "zonefacts.duckdb.work").exists()


def test_a_connection_from_the_store_takes_a_relation_query_at_once(tmp_path):
    """The completeness check leaves no result unfinished: DuckDB refuses con.sql() until one is."""
    staging = tmp_path / "staging"
    _stage_sample(staging)
    con = store.open_work(tmp_path / "w.duckdb", tmp_path / "w.duckdb.work")
    _load(con, staging)
    con.close()
    store.publish(tmp_path / "w.duckdb.work", tmp_path / "w.duckdb")
    published = store.open_published(tmp_path / "w.duckdb")
    assert published.sql("SELECT count(*) FROM documents").fetchall() == [(1,)]
    published.close()


def test_missing_published_file_is_a_warehouse_error(tmp_path):
    with pytest.raises(store.WarehouseError, match="does not exist"):
        store.open_published(tmp_path / "nope.duckdb")


def test_publish_replaces_atomically_while_a_reader_holds_the_old_snapshot(tmp_path):
    warehouse, work = tmp_path / "zonefacts.duckdb", tmp_path / "zonefacts.duckdb.work"
    staging = tmp_path / "staging"
    con = store.open_work(warehouse, work)
    con.close()
    store.publish(work, warehouse)

    reader = store.open_published(warehouse)
    assert reader.execute("SELECT count(*) FROM documents").fetchone()[0] == 0

    _stage_sample(staging)
    con = store.open_work(warehouse, work)
    _load(con, staging)
    con.close()
    store.publish(work, warehouse)

    # the old reader keeps its (old, complete) snapshot and keeps working
    assert reader.execute("SELECT count(*) FROM documents").fetchone()[0] == 0
    assert reader.execute("SELECT count(*) FROM fact_observation").fetchone()[0] == 0
    reader.close()
    # a new reader sees the new one; no temp files are left behind
    assert table_counts(warehouse)["documents"] == 1
    assert not list(tmp_path.glob(".zonefacts.duckdb.publish-*"))


def test_open_work_seeds_from_published_snapshot(tmp_path):
    warehouse, work = tmp_path / "zonefacts.duckdb", tmp_path / "zonefacts.duckdb.work"
    staging = tmp_path / "staging"
    _stage_sample(staging)
    con = store.open_work(warehouse, work)
    _load(con, staging)
    con.close()
    store.publish(work, warehouse)
    work.unlink()
    con = store.open_work(warehouse, work)
    assert store.known_document_ids(con) == {DOC_ID}
    con.close()
