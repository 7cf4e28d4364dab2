"""Extraction coverage end to end: a real run (run_pipeline, run_plain) into a real DuckDB file, the
``extraction_coverage`` view (007_coverage.sql) and the warehouse suite's real GX validation.

The corpus is written for the test: one article the extractor reads well, and one full of
figures with cues whose indicators (星空露营营地接待额 …) it does not know.
"""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from conftest import query

READ = (
    "绵阳高新区上半年经济运行情况\n"
    "上半年，绵阳高新区实现地区生产总值412.6亿元，同比增长7.2%。\n"
    "规模以上工业增加值同比增长9.4%，高于全市1.8个百分点。\n"
    "固定资产投资同比增长6.5%，社会消费品零售总额达到88.3亿元，同比增长4.9%。\n"
)
READ_CUE_NUMBERS = 7
BLIND = (
    "绵阳高新区上半年星空露营产业发展情况\n"
    "上半年，绵阳高新区星空露营营地接待额达到3.6亿元，同比增长41.5%。\n"
    "天文望远镜租赁额实现1.2亿元，增长27.3%；观星门票售出额达1.5亿元，同比增长19.6%。\n"
    "星空主题民宿入住率达到86.4%，比上年提高12.5个百分点，游客满意度达到97.1%。\n"
)
BLIND_CUE_NUMBERS = 9
CHECK = "extraction_coverage_above_threshold"


def _article(inbox: Path, stem: str, text: str) -> None:
    (inbox / f"{stem}.txt").write_text(text, encoding="utf-8")
    (inbox / f"{stem}.meta.json").write_text(json.dumps(
        {"title": text.splitlines()[0], "published_at": "2024-07-20"}, ensure_ascii=False), encoding="utf-8")


@pytest.fixture(scope="module")
def covered(tmp_path_factory):
    from flows.pipeline import run_pipeline, run_plain
    from flows.settings import Settings

    base = tmp_path_factory.mktemp("coverage")
    inbox, warehouse = base / "inbox", base / "wh" / "zonefacts.duckdb"
    inbox.mkdir()
    _article(inbox, "read", READ)
    _article(inbox, "blind", BLIND)
    settings = Settings(warehouse=warehouse, inbox=inbox)
    first = run_pipeline(settings, run_plain)
    second = run_pipeline(settings, run_plain)
    return {"warehouse": warehouse, "first": first, "second": second}


def test_run_stores_the_cue_numbers_of_every_document(covered):
    assert covered["first"]["status"] == "success", covered["first"]
    stored = query(covered["warehouse"], "SELECT d.path, c.cue_numbers, c.run_id = d.run_id "
                                         "FROM document_coverage c JOIN documents d USING (document_id)")
    assert sorted(stored) == [("blind.txt", BLIND_CUE_NUMBERS, True), ("read.txt", READ_CUE_NUMBERS, True)]


def test_view_shows_facts_and_share_per_document(covered):
    rows = query(covered["warehouse"], "SELECT document, cue_numbers, facts, share FROM extraction_coverage "
                                       "ORDER BY document")
    facts = dict(query(covered["warehouse"], "SELECT document, count(*) FROM observations GROUP BY ALL"))
    assert rows == [
        ("blind", BLIND_CUE_NUMBERS, 0, 0.0),
        ("read", READ_CUE_NUMBERS, facts["read"], pytest.approx(facts["read"] / READ_CUE_NUMBERS)),
    ]
    assert facts["read"] >= READ_CUE_NUMBERS - 1   # the extractor reads this one well


def test_warning_names_the_blind_document_only(covered):
    assert CHECK in covered["first"]["expectations_failed_names"]
    failed = query(covered["warehouse"], "SELECT severity, unexpected_count, sample FROM dq_failures "
                                         "WHERE expectation = ?", [CHECK])
    assert len(failed) == 1
    severity, count, sample = failed[0]
    assert (severity, count) == ("warning", 1)
    [row] = json.loads(sample)
    assert row["document"] == "blind.txt"
    assert row["detail"] == f"blind.txt: 0 facts for {BLIND_CUE_NUMBERS} numbers with cues (share 0.00 < 0.2)"
    # a warning flags, never quarantines
    assert query(covered["warehouse"], "SELECT count(*) FROM quarantine") == [(0,)]


def test_second_run_adds_no_coverage_rows(covered):
    assert covered["second"]["status"] == "success"
    assert covered["second"]["documents_new"] == 0
    assert query(covered["warehouse"], "SELECT count(*) FROM document_coverage") == [(2,)]


def test_thresholds_come_from_the_settings(covered):
    from expectations import suites
    from flows.settings import CoverageThresholds, load_settings

    assert load_settings({}).coverage == CoverageThresholds(min_cue_numbers=5, min_share=0.2)
    assert load_settings({"ZONEFACTS_COVERAGE_MIN_CUE_NUMBERS": "10", "ZONEFACTS_COVERAGE_MIN_SHARE": "0.95"}
                         ).coverage == CoverageThresholds(min_cue_numbers=10, min_share=0.95)

    def failing(thresholds: CoverageThresholds) -> tuple[int, list[str]]:
        with duckdb.connect(str(covered["warehouse"]), read_only=True) as con:
            [result] = [r for r in suites.validate_warehouse(con, thresholds) if r.expectation == CHECK]
        return result.unexpected_count, sorted(s["document"] for s in result.sample)

    assert failing(CoverageThresholds(min_cue_numbers=BLIND_CUE_NUMBERS + 1, min_share=0.2)) == (0, [])
    assert failing(CoverageThresholds(min_cue_numbers=5, min_share=0.0)) == (0, [])
    assert failing(CoverageThresholds(min_cue_numbers=5, min_share=1.5)) == (2, ["blind.txt", "read.txt"])


def test_data_docs_show_the_share_threshold(covered):
    from expectations import suites
    from flows.settings import CoverageThresholds

    with duckdb.connect(str(covered["warehouse"]), read_only=True) as con:
        [result] = [r for r in suites.validate_warehouse(con, CoverageThresholds(min_share=0.3))
                    if r.expectation == CHECK]
    [gx] = result.gx_results
    assert gx["expectation_config"]["kwargs"]["min_value"] == 0.3
    assert [row["document"] for row in gx["result"]["unexpected_index_list"]] == ["blind.txt"]


def test_load_is_idempotent_and_documents_loaded_before_coverage_show_null(tmp_path):
    """load_staged twice adds one row; a warehouse migrated from before 007 keeps its documents
    in the view, not yet counted."""
    from transforms.vocabulary import entity_dimension, indicator_dimension, load_vocabulary
    from warehouse import migrate as migrate_mod
    from warehouse import store
    from warehouse.staging import stage_batch

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                "applied_at TIMESTAMP DEFAULT now())")
    for m in migrate_mod.available_migrations():
        if m.version < 7:
            con.execute(m.statements())
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [m.version, m.name])
    con.execute("INSERT INTO documents VALUES ('old', 'old.txt', 'old', 'old', 1, 'utf-8', 'text', NULL, NULL, "
                "NULL, NULL, NULL, '旧文', now()::TIMESTAMP, 'r0')")
    assert 7 in migrate_mod.migrate(con)
    assert con.execute("SELECT document, cue_numbers, facts, share FROM extraction_coverage").fetchall() == [
        ("old", None, 0, None)]

    staging = tmp_path / "staging"
    documents = pl.DataFrame({
        "document_id": ["new"], "path": ["new.txt"], "stem": ["new"], "sha256": ["new"], "size_bytes": [10],
        "encoding": ["utf-8"], "format": ["text"], "title": [None], "title_source": [None], "published_at": [None],
        "date_source": [None], "source_url": [None], "text": ["园区产值同比增长5%。"],
    }, schema_overrides={"published_at": pl.Date, "title": pl.String, "title_source": pl.String,
                         "date_source": pl.String, "source_url": pl.String})
    stage_batch(staging, 0, {"documents": documents,
                             "coverage": pl.DataFrame({"document_id": ["new"], "cue_numbers": [1]})})
    vocabulary = load_vocabulary()
    for run in ("r1", "r2"):
        store.load_staged(con, staging, run_id=run, indicators=indicator_dimension(vocabulary),
                          vocabulary_entities=entity_dimension(vocabulary))
    assert con.execute("SELECT document_id, cue_numbers, run_id FROM document_coverage").fetchall() == [
        ("new", 1, "r1")]
    con.close()
