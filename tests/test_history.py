"""Document versions and the fact history (warehouse/history.py, sql/008-010) on real DuckDB files.

End to end through run_pipeline (run_plain, no Prefect) on a tiny inbox of this file's sentences:
an edited file supersedes its earlier version, a removed file keeps its facts, a forgotten one
leaves the views and stays in the history. Through the store's load on real extractions: a
re-extraction under another fingerprint, a sidecar-only change, a file going back to earlier
bytes, an idempotent reload, the 008 migration repairing a warehouse that kept both versions, a
new file and an edited one in one run, and the ranks of a key stated twice (extracted_facts).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from conftest import query
from transforms.corrections import extend_vocabulary, read_corrections
from transforms.documents import parse_documents
from transforms.extract import extract
from transforms.fingerprint import document_identity, extractor_fingerprint
from transforms.vocabulary import entity_dimension, indicator_dimension, load_vocabulary
from warehouse import history, migrate, store
from warehouse.staging import stage_batch

A_TEXT = ("成都高新区上半年经济运行\n"
          "上半年，成都高新区实现地区生产总值1362.8亿元，同比增长7.1%。跨境电商交易额120亿元，同比增长15.2%。\n")
B_TEXT = ("东湖高新区前三季度经济运行\n"
          "前三季度，东湖高新区规模以上工业增加值同比增长10.5%，固定资产投资同比增长8.4%。\n")
OLD_GDP, NEW_GDP = 136280000000.0, 146280000000.0


def _write(inbox: Path, stem: str, text: str, published_at: str | None) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / f"{stem}.txt").write_text(text, encoding="utf-8")
    if published_at:
        (inbox / f"{stem}.meta.json").write_text(json.dumps({"published_at": published_at}), encoding="utf-8")


def _run(settings) -> dict:
    from flows.pipeline import run_pipeline, run_plain

    summary = run_pipeline(settings, run_plain)
    assert summary["status"] == "success", summary
    return summary


def _gdp_levels(warehouse: Path, document: str = "a") -> list[float]:
    return [v for (v,) in query(warehouse, "SELECT value FROM observations WHERE document = ? AND indicator = 'gdp' "
                                           "AND measure = 'level' ORDER BY value", [document])]


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def edited(tmp_path_factory):
    """run 1: a.txt and b.txt; run 2: a.txt edited (1362.8亿元 → 1462.8亿元)."""
    from flows.settings import Settings

    base = tmp_path_factory.mktemp("edited")
    inbox, warehouse = base / "inbox", base / "wh" / "zonefacts.duckdb"
    _write(inbox, "a", A_TEXT, "2024-07-20")
    _write(inbox, "b", B_TEXT, "2024-10-25")
    settings = Settings(warehouse=warehouse, inbox=inbox)
    _run(settings)
    first = _gdp_levels(warehouse)
    (inbox / "a.txt").write_text(A_TEXT.replace("1362.8亿元", "1462.8亿元"), encoding="utf-8")
    second = _run(settings)
    return {"settings": settings, "inbox": inbox, "warehouse": warehouse, "first": first, "second": second}


def test_an_edited_file_shows_only_its_new_value_and_is_no_conflict(edited):
    warehouse = edited["warehouse"]
    assert edited["first"] == [OLD_GDP]
    assert edited["second"]["documents_new"] == 1
    assert _gdp_levels(warehouse) == [NEW_GDP]
    assert query(warehouse, "SELECT count(*) FROM conflicts WHERE document_a = 'a' OR document_b = 'a'") == [(0,)]
    assert query(warehouse, "SELECT path, count(*) FROM documents GROUP BY path ORDER BY path") == [
        ("a.txt", 1), ("b.txt", 1)]
    # latest_observations takes the current version, not the one published earlier … or twice
    assert query(warehouse, "SELECT value, corrected FROM latest_observations WHERE entity = '成都高新区' "
                            "AND indicator = 'gdp' AND measure = 'level'") == [(NEW_GDP, False)]


def test_the_earlier_version_is_retired_and_its_fact_kept_in_the_history(edited):
    warehouse = edited["warehouse"]
    versions = query(warehouse, "SELECT document_id, retired_cause, superseded_by FROM document_versions "
                                "WHERE path = 'a.txt' ORDER BY retired_run NULLS LAST")
    current = query(warehouse, "SELECT document_id FROM documents WHERE path = 'a.txt'")[0][0]
    assert len(versions) == 2
    assert versions[0][1:] == ("superseded", current) and versions[1] == (current, None, None)
    rows = query(warehouse, """
        SELECT value, extracted_value, cause, end_cause, valid_to_run IS NULL FROM fact_history
        WHERE document = 'a' AND indicator = 'gdp' AND measure = 'level' ORDER BY value""")
    assert rows == [(OLD_GDP, OLD_GDP, "new document", "superseded", False),
                    (NEW_GDP, NEW_GDP, "revision by a later document", None, True)]
    # facts the edit did not touch keep their one version; b was not touched at all
    assert query(warehouse, "SELECT count(*) FROM fact_history WHERE document = 'a' AND indicator = 'gdp' "
                            "AND measure = 'yoy_pct'") == [(1,)]
    assert query(warehouse, "SELECT count(*), count(valid_to_run) FROM fact_history WHERE document = 'b'") == [(2, 0)]


def test_observation_changes_lists_the_edit_with_both_values_and_evidences(edited):
    rows = query(edited["warehouse"], "SELECT change, cause, entity, indicator, measure, old_value, new_value, "
                                      "old_evidence, new_evidence FROM observation_changes")
    assert len(rows) == 1
    change, cause, entity, indicator, measure, old, new, old_evidence, new_evidence = rows[0]
    assert (change, cause, entity, indicator, measure, old, new) == (
        "changed", "revision by a later document", "成都高新区", "gdp", "level", OLD_GDP, NEW_GDP)
    assert "1362.8亿元" in old_evidence and "1462.8亿元" in new_evidence
    con = duckdb.connect(str(edited["warehouse"]), read_only=True)
    try:
        assert history.summary_lines(con) == ["revision by a later document: 0 added, 1 changed, 0 retracted"]
        fingerprints = {f for (f,) in con.execute("SELECT fingerprint FROM pipeline_runs").fetchall()}
    finally:
        con.close()
    assert fingerprints == {extractor_fingerprint()}


def test_a_removed_file_keeps_its_facts_and_a_forgotten_one_leaves_for_good(edited):
    settings, inbox, warehouse = edited["settings"], edited["inbox"], edited["warehouse"]
    kept = inbox.parent / "a.txt.kept"
    shutil.move(inbox / "a.txt", kept)
    _run(settings)
    assert _gdp_levels(warehouse) == [NEW_GDP]

    con = store.open_work(settings.warehouse, settings.work_path)
    try:
        forgotten = history.forget(con, ["a"])
    finally:
        con.close()
    store.publish(settings.work_path, settings.warehouse)
    assert (forgotten.documents, forgotten.facts) == (1, 2)
    assert query(warehouse, "SELECT count(*) FROM observations WHERE document = 'a'") == [(0,)]
    assert query(warehouse, "SELECT count(*) FROM documents WHERE stem = 'a'") == [(0,)]
    assert query(warehouse, "SELECT value, end_cause FROM fact_history WHERE document = 'a' AND indicator = 'gdp' "
                            "AND measure = 'level' ORDER BY value") == [(OLD_GDP, "superseded"),
                                                                        (NEW_GDP, "forgotten")]
    assert query(warehouse, "SELECT change, cause, count(*) FROM observation_changes GROUP BY ALL") == [
        ("retracted", "forgotten", 2)]

    shutil.move(kept, inbox / "a.txt")   # the file is back: forgetting sticks
    _run(settings)
    assert query(warehouse, "SELECT count(*) FROM observations WHERE document = 'a'") == [(0,)]
    assert query(warehouse, "SELECT count(*) FROM observations WHERE document = 'b'") == [(2,)]


# --------------------------------------------------------------------------- the store's load


def _stage(staging: Path, files: dict[str, tuple[str, str | None]], vocabulary=None, *, documents=None,
           keep=None) -> pl.DataFrame:
    """Read, parse (document ids with their sidecar) and extract ``files`` (path → text, sidecar)
    and stored ``documents``, and stage them as the pipeline does; ``keep`` filters the facts."""
    shutil.rmtree(staging, ignore_errors=True)
    stored = documents
    if files:
        contents = [text.encode() for text, _ in files.values()]
        sidecars = [None if side is None else side.encode() for _, side in files.values()]
        raw = pl.DataFrame({"path": list(files), "content": contents, "size_bytes": [len(c) for c in contents],
                            "sha256": [None] * len(files), "sidecar": sidecars, "read_error": [None] * len(files)},
                           schema_overrides={"sha256": pl.String, "read_error": pl.String, "sidecar": pl.Binary})
        documents, quarantine = parse_documents(raw)
        assert quarantine.height == 0
        documents = documents.with_columns(pl.Series("document_id", [
            document_identity(sha, side) for sha, side in zip(documents["sha256"], sidecars)]))
        documents = documents if stored is None else pl.concat([stored, documents])
    extraction = extract(documents, vocabulary or load_vocabulary())
    observations = extraction.observations.with_columns(pl.lit([], pl.List(pl.String)).alias("dq_flags"))
    if keep is not None:
        observations = observations.filter(keep)
    stage_batch(staging, 0, {"documents": documents, "observations": observations,
                                   "defects": extraction.defects, "unmapped": extraction.unmapped,
                                   "entities": extraction.entities, "coverage": extraction.coverage})
    return documents


def _load(con, staging: Path, run_id: str, fingerprint: str, vocabulary=None, *, inbox: str | None = "inbox",
          **kwargs) -> store.LoadCounts:
    vocabulary = vocabulary or load_vocabulary()
    return store.load_staged(con, staging, run_id=run_id, indicators=indicator_dimension(vocabulary),
                             vocabulary_entities=entity_dimension(vocabulary), fingerprint=fingerprint,
                             inbox=inbox, **kwargs)


@pytest.fixture
def work(tmp_path):
    con = store.open_work(tmp_path / "w.duckdb", tmp_path / "w.duckdb.work")
    yield con
    con.close()


def _rows(con, sql: str, params=None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def test_reextraction_under_a_new_fingerprint_replaces_what_it_reads(work, tmp_path):
    staging = tmp_path / "staging"
    _stage(staging, {"a.txt": (A_TEXT, None), "b.txt": (B_TEXT, None)})
    _load(work, staging, "r1", "f1")
    assert _rows(work, "SELECT phrase FROM unmapped_mentions") == [("跨境电商交易额",)]
    assert history.stale_document_ids(work, "f1") == []
    stale = history.stale_document_ids(work, "f2")
    assert len(stale) == 2

    # the vocabulary grew: the stored text of every document is read again (no file needed)
    lines, errors = read_corrections("action,document,entity,year,start_month,end_month,indicator,segment,"
                                     "measure,benchmark,value,unit,evidence,phrase,author,reason\n"
                                     "map_phrase,,,,,,online_retail_sales,,,,,,,跨境电商交易额,lin,not mapped\n",
                                     load_vocabulary())
    assert errors == []
    grown = extend_vocabulary(load_vocabulary(), lines)
    stored = history.read_documents(work, stale)
    assert sorted(stored["path"].to_list()) == ["a.txt", "b.txt"] and "1362.8亿元" in "".join(stored["text"])
    _stage(staging, {}, grown, documents=stored)
    counts = _load(work, staging, "r2", "f2", grown, inbox="/another/spelling/of/inbox")  # a document keeps its file
    assert (counts.documents, counts.observations) == (0, 2)
    assert _rows(work, "SELECT change, cause, indicator, measure, new_value FROM observation_changes "
                       "ORDER BY measure") == [
        ("added", "re-extraction under f2", "online_retail_sales", "level", 12_000_000_000.0),
        ("added", "re-extraction under f2", "online_retail_sales", "yoy_pct", 15.2)]
    assert history.summary_lines(work) == ["re-extraction under f2: 2 added, 0 changed, 0 retracted"]
    assert _rows(work, "SELECT count(*) FROM unmapped_mentions") == [(0,)]
    assert _rows(work, "SELECT DISTINCT fingerprint FROM fact_observation") == [("f2",)]
    assert history.stale_document_ids(work, "f2") == []
    assert _rows(work, "SELECT document, facts_before, added, changed, retracted, retracted_share "
                       "FROM reextraction_impact WHERE run_id = 'r2'") == [("a", 2, 2, 0, 0, 0.0)]

    # a regressed extractor loses two of a's four facts: the data-quality signal names a
    _stage(staging, {}, grown, documents=history.read_documents(work, history.stale_document_ids(work, "f3")),
           keep=pl.col("indicator") != "gdp")
    _load(work, staging, "r3", "f3", grown)
    assert history.summary_lines(work) == ["re-extraction under f3: 0 added, 0 changed, 2 retracted"]
    flagged = history.retracted_shares(work, above=0.4)
    assert [(f["document"], f["facts_before"], f["retracted"]) for f in flagged] == [("a", 4, 2)]
    assert flagged[0]["retracted_share"] == pytest.approx(0.5)
    assert history.retracted_shares(work, above=0.5) == []
    assert _rows(work, "SELECT count(*) FROM observations WHERE document = 'a'") == [(2,)]
    assert _rows(work, "SELECT count(*) FROM fact_history WHERE document = 'a' AND indicator = 'gdp'") == [(2,)]


def test_loading_the_same_batch_again_changes_nothing(work, tmp_path):
    staging = tmp_path / "staging"
    _stage(staging, {"a.txt": (A_TEXT, None)})
    first = _load(work, staging, "r1", "f1")
    before = _rows(work, "SELECT * FROM fact_history ORDER BY fact_id")
    again = _load(work, staging, "r2", "f1")
    assert (first.documents, first.observations) == (1, 2)
    assert (again.documents, again.observations) == (0, 0)
    assert _rows(work, "SELECT * FROM fact_history ORDER BY fact_id") == before
    assert _rows(work, "SELECT count(*) FROM observation_changes") == [(0,)]


def test_a_changed_sidecar_is_a_new_version_of_the_same_facts(work, tmp_path):
    staging = tmp_path / "staging"
    _stage(staging, {"a.txt": (A_TEXT, '{"published_at": "2024-07-20"}')})
    _load(work, staging, "r1", "f1")
    _stage(staging, {"a.txt": (A_TEXT, '{"published_at": "2024-07-22"}')})
    counts = _load(work, staging, "r2", "f1")
    assert counts.documents == 1
    assert _rows(work, "SELECT count(*), min(published_at)::VARCHAR FROM documents") == [(1, "2024-07-22")]
    assert _rows(work, "SELECT count(*), count(retired_run) FROM document_versions") == [(2, 1)]
    assert _rows(work, "SELECT DISTINCT published_at::VARCHAR FROM latest_observations") == [("2024-07-22",)]
    # the same statements: no fact changed, each now points at the new version
    assert _rows(work, "SELECT count(*) FROM observation_changes") == [(0,)]
    assert _rows(work, "SELECT count(*), count(DISTINCT document_id) FROM fact_history") == [(2, 1)]
    assert _rows(work, "SELECT DISTINCT h.document_id = d.document_id FROM fact_history h, documents d") == [(True,)]


def test_a_file_back_to_earlier_bytes_is_loaded_again(work, tmp_path):
    staging = tmp_path / "staging"
    edited = A_TEXT.replace("1362.8亿元", "1462.8亿元")
    v1 = _stage(staging, {"a.txt": (A_TEXT, None)})["document_id"][0]
    _load(work, staging, "r1", "f1")
    _stage(staging, {"a.txt": (edited, None)})
    _load(work, staging, "r2", "f1")
    assert v1 not in store.known_document_ids(work)   # superseded: not skipped when it returns
    _stage(staging, {"a.txt": (A_TEXT, None)})
    assert _load(work, staging, "r3", "f1").documents == 1
    assert _rows(work, "SELECT value FROM observations WHERE indicator = 'gdp' AND measure = 'level'") == [(OLD_GDP,)]
    assert _rows(work, "SELECT value, cause FROM fact_history WHERE indicator = 'gdp' AND measure = 'level' "
                       "ORDER BY valid_from_run") == [(OLD_GDP, "new document"),
                                                      (NEW_GDP, "revision by a later document"),
                                                      (OLD_GDP, "revision by a later document")]


def test_migration_keeps_only_the_latest_version_of_a_file_loaded_twice(tmp_path):
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                "applied_at TIMESTAMP DEFAULT now())")
    for m in migrate.available_migrations():
        if m.version <= 7:
            con.execute(m.statements())
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [m.version, m.name])
    # what a warehouse held before versions: a.txt loaded before and after an edit
    con.execute("""
        INSERT INTO pipeline_runs (run_id, started_at, finished_at, status, inbox)
        VALUES ('r1', TIMESTAMP '2024-07-01 08:00', TIMESTAMP '2024-07-01 08:01', 'success', 'inbox'),
               ('r2', TIMESTAMP '2024-07-02 08:00', TIMESTAMP '2024-07-02 08:01', 'success', 'inbox');
        INSERT INTO documents VALUES
            ('v1', 'a.txt', 'a', 'v1', 10, 'utf-8', 'text', NULL, NULL, NULL, NULL, NULL, '…1362.8亿元…',
             TIMESTAMP '2024-07-01 08:00', 'r1'),
            ('v2', 'a.txt', 'a', 'v2', 10, 'utf-8', 'text', NULL, NULL, NULL, NULL, NULL, '…1462.8亿元…',
             TIMESTAMP '2024-07-02 08:00', 'r2');
        INSERT INTO dim_entity VALUES (1, '成都高新区', 'zone', '成都市', [], 'vocabulary', NULL);
        INSERT INTO dim_period VALUES (2, 2024, 1, 6, '2024-H1');
        INSERT INTO dim_indicator VALUES (3, 'gdp', '地区生产总值', NULL, 'money', 'macro');
        INSERT INTO fact_observation VALUES
            ('o1', 'v1', 1, 2, 3, NULL, 'level', 136280000000, 'CNY', 'exact', NULL, '生产总值1362.8亿元', 0, 9, [],
             '1.0.0', 'r1'),
            ('o2', 'v2', 1, 2, 3, NULL, 'level', 146280000000, 'CNY', 'exact', NULL, '生产总值1462.8亿元', 0, 9, [],
             '1.0.0', 'r2');
    """)
    migrate.migrate(con)
    assert _rows(con, "SELECT document_id, lineage_id = lineage_key('inbox', 'a.txt') FROM documents") == [
        ("v2", True)]
    assert _rows(con, "SELECT document_id, retired_cause, superseded_by FROM document_versions "
                      "ORDER BY document_id") == [("v1", "superseded", "v2"), ("v2", None, None)]
    assert _rows(con, "SELECT value, document FROM observations") == [(NEW_GDP, "a")]
    assert _rows(con, "SELECT count(*) FROM conflicts") == [(0,)]
    assert _rows(con, "SELECT value, cause, valid_from_run FROM fact_history") == [(NEW_GDP, "new document", "r2")]
    assert _rows(con, "SELECT document_id FROM documents WHERE fingerprint IS NULL") == [("v2",)]   # re-extract
    con.close()


def test_a_stale_document_whose_file_changed_in_the_same_run_is_superseded(work, tmp_path):
    staging = tmp_path / "staging"
    v1 = _stage(staging, {"a.txt": (A_TEXT, None)})["document_id"][0]
    _load(work, staging, "r1", "f1")
    # the run re-extracts a's stored version (fingerprint f2) and reads its edited file
    _stage(staging, {"a.txt": (A_TEXT.replace("1362.8亿元", "1462.8亿元"), None)},
           documents=history.read_documents(work, history.stale_document_ids(work, "f2")))
    counts = _load(work, staging, "r2", "f2")
    assert counts.documents == 1
    assert _rows(work, "SELECT count(*) FROM documents") == [(1,)]
    assert _rows(work, "SELECT count(*) FROM fact_observation WHERE document_id = ?", [v1]) == [(0,)]
    assert _rows(work, "SELECT value FROM observations WHERE measure = 'level'") == [(NEW_GDP,)]
    assert _rows(work, "SELECT change, cause, old_value, new_value FROM observation_changes") == [
        ("changed", "revision by a later document", OLD_GDP, NEW_GDP)]


def test_a_file_loaded_before_runs_named_their_inbox_is_continued_by_its_next_version(work, tmp_path):
    staging = tmp_path / "staging"
    _stage(staging, {"a.txt": (A_TEXT, None), "b.txt": (B_TEXT, None)})
    _load(work, staging, "r1", "f1", inbox=None)
    _stage(staging, {"a.txt": (A_TEXT.replace("1362.8亿元", "1462.8亿元"), None)})
    _load(work, staging, "r2", "f1", inbox="inbox")
    assert _rows(work, "SELECT path, inbox FROM documents ORDER BY path") == [("a.txt", "inbox"), ("b.txt", None)]
    assert _rows(work, "SELECT change, old_value, new_value FROM observation_changes") == [
        ("changed", OLD_GDP, NEW_GDP)]
    # another inbox's a.txt is another file
    _stage(staging, {"a.txt": (B_TEXT.replace("10.5%", "11.5%"), None)})
    _load(work, staging, "r3", "f1", inbox="other")
    assert _rows(work, "SELECT count(*) FROM documents WHERE path = 'a.txt'") == [(2,)]


def test_a_new_file_and_an_edited_one_in_one_run(work, tmp_path):
    staging = tmp_path / "staging"
    _stage(staging, {"a.txt": (A_TEXT, None)})
    _load(work, staging, "r1", "f1")
    _stage(staging, {"a.txt": (A_TEXT.replace("1362.8亿元", "1462.8亿元"), None), "b.txt": (B_TEXT, None)})
    counts = _load(work, staging, "r2", "f1")
    assert (counts.documents, counts.observations) == (2, 4)
    assert history.summary_lines(work) == ["new document: 2 added, 0 changed, 0 retracted",
                                           "revision by a later document: 0 added, 1 changed, 0 retracted"]
    assert _rows(work, "SELECT document, count(*) FROM fact_history WHERE valid_to_run IS NULL "
                       "GROUP BY ALL ORDER BY ALL") == [("a", 2), ("b", 2)]


def test_a_key_stated_twice_in_a_file_is_two_facts_ranked_by_position(work, tmp_path):
    staging = tmp_path / "staging"
    _stage(staging, {"a.txt": (A_TEXT, None)})
    _load(work, staging, "r1", "f1")
    gdp = "indicator = 'gdp' AND measure = 'level'"
    (alone,) = _rows(work, f"SELECT fact_id FROM extracted_facts WHERE {gdp}")

    def restated(char_start: int) -> list[tuple]:
        work.execute("DELETE FROM fact_observation WHERE observation_id LIKE 'again%'")
        work.execute("""INSERT INTO fact_observation SELECT * REPLACE ('again' || observation_id AS observation_id,
                            value + 1 AS value, ? AS char_start)
                        FROM fact_observation WHERE measure = 'level'""", [char_start])
        return _rows(work, f"SELECT value, fact_id FROM extracted_facts WHERE {gdp} ORDER BY value")

    # stated again later in the text: the first statement keeps its id; earlier: it takes it
    later = restated(1000)
    assert later[0] == (OLD_GDP, alone[0]) and later[1][1] not in (alone[0], None)
    earlier = restated(-1)
    assert earlier == [(OLD_GDP, later[1][1]), (OLD_GDP + 1, alone[0])]
