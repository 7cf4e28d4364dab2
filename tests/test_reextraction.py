"""Issue 17 wired into the run (flows/pipeline.py, flows/stages.py): re-extraction of stored
documents, document versions, analyst corrections and forgetting, through ``run_pipeline``
(run_plain) on real DuckDB files, over this file's sentences and over a copy of samples/.

The CLI side (``zonefacts run --reextract``, ``reextract``, ``forget``, ``corrections check``,
the up-to-date check) is tests/test_cli_history.py.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from conftest import ROOT, query
from flows.pipeline import run_pipeline
from flows.settings import Settings, load_settings
from transforms.corrections import HEADER
from transforms.fingerprint import extractor_fingerprint
from transforms.vocabulary import Vocabulary, load_vocabulary
from warehouse.corrections import corrections_path

WEST = ("西安高新区前三季度经济运行简况\n"
        "前三季度，西安高新区实现地区生产总值1850.6亿元，同比增长6.4%。跨境电商交易额96.5亿元，同比增长21.3%。\n")
EAST = ("苏州工业园区上半年经济运行\n"
        "上半年，苏州工业园区规模以上工业增加值同比增长9.2%，固定资产投资同比增长5.7%。\n")
PHRASE = "跨境电商交易额"          # unmapped by the vocabulary files
SAMPLE = "2024_h1_chengdu_gaoxin"


def _inbox(root: Path) -> Path:
    inbox = root / "inbox"
    inbox.mkdir(parents=True)
    for stem, text, published in (("west", WEST, "2024-10-20"), ("east", EAST, "2024-07-18")):
        (inbox / f"{stem}.txt").write_text(text, encoding="utf-8")
        (inbox / f"{stem}.meta.json").write_text(json.dumps({"published_at": published}), encoding="utf-8")
    return inbox


def _run(settings: Settings, **kwargs) -> dict:
    summary = run_pipeline(settings, **kwargs)
    assert summary["status"] == "success", summary
    return summary


def _corrections(settings: Settings, *lines: str) -> Path:
    path = corrections_path(settings.warehouse, settings.corrections)
    path.write_text(HEADER + "\n" + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _values(warehouse: Path, indicator: str, measure: str, view: str = "observations") -> list[tuple]:
    return query(warehouse, f"SELECT value FROM {view} WHERE indicator = ? AND measure = ? ORDER BY value",
                 [indicator, measure])


def _grown(vocabulary: Vocabulary) -> Vocabulary:
    """A copy of the vocabulary with one more surface form of online_retail_sales."""
    indicators = vocabulary.indicators.with_columns(
        pl.when(pl.col("code") == "online_retail_sales")
        .then(pl.concat_str([pl.col("surface_forms"), pl.lit(PHRASE)], separator="|"))
        .otherwise(pl.col("surface_forms")).alias("surface_forms"))
    return Vocabulary(indicators=indicators, entities=vocabulary.entities, breakdowns=vocabulary.breakdowns)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(warehouse=tmp_path / "wh" / "zonefacts.duckdb", inbox=_inbox(tmp_path))


# --------------------------------------------------------------------------- re-extraction


def test_a_grown_vocabulary_reextracts_the_stored_documents_once(settings):
    first = _run(settings)
    assert (first["documents_new"], first["documents_reextracted"]) == (2, 0)
    assert first["fingerprint"] == extractor_fingerprint()
    assert _values(settings.warehouse, "online_retail_sales", "level") == []
    assert query(settings.warehouse, "SELECT phrase FROM unmapped_mentions") == [(PHRASE,)]

    second = _run(settings, vocabulary=_grown(load_vocabulary()))
    assert second["fingerprint"] != first["fingerprint"]
    assert (second["documents_new"], second["documents_skipped"], second["documents_reextracted"]) == (0, 2, 2)
    again = f"re-extraction under {second['fingerprint']}"
    assert second["fact_changes"] == [f"{again}: 2 added, 0 changed, 0 retracted"]
    changes = query(settings.warehouse, "SELECT change, cause, document, entity, indicator, measure, new_value, "
                                        "new_evidence FROM observation_changes ORDER BY measure")
    assert [row[:7] for row in changes] == [
        ("added", again, "west", "西安高新区", "online_retail_sales", "level", 9_650_000_000.0),
        ("added", again, "west", "西安高新区", "online_retail_sales", "yoy_pct", 21.3)]
    assert all("跨境电商交易额96.5亿元" in row[7] for row in changes)
    assert _values(settings.warehouse, "online_retail_sales", "level") == [(9_650_000_000.0,)]
    assert query(settings.warehouse, "SELECT count(*) FROM unmapped_mentions") == [(0,)]
    assert query(settings.warehouse, "SELECT DISTINCT fingerprint FROM documents") == [(second["fingerprint"],)]

    # the same vocabulary again: nothing is stale, nothing changes
    third = _run(settings, vocabulary=_grown(load_vocabulary()))
    assert (third["documents_reextracted"], third["fact_changes"]) == (0, [])
    assert query(settings.warehouse, "SELECT count(*) FROM observation_changes") == [(0,)]


def test_a_map_phrase_correction_is_a_new_vocabulary_and_removing_it_retracts_its_facts(settings):
    _run(settings)
    _corrections(settings, f"map_phrase,,,,,,online_retail_sales,,,,,,,{PHRASE},lin,not in the vocabulary")
    mapped = _run(settings)
    assert mapped["fingerprint"] != extractor_fingerprint() and mapped["documents_reextracted"] == 2
    assert mapped["fact_changes"] == [f"re-extraction under {mapped['fingerprint']}: 2 added, 0 changed, 0 retracted"]
    assert mapped["corrections"] == ["corrections: 1 applied"]
    assert _values(settings.warehouse, "online_retail_sales", "yoy_pct") == [(21.3,)]
    assert _run(settings)["documents_reextracted"] == 0

    corrections_path(settings.warehouse).unlink()
    unmapped = _run(settings)
    assert unmapped["fingerprint"] == extractor_fingerprint()
    assert unmapped["fact_changes"] == [f"re-extraction under {unmapped['fingerprint']}: 0 added, 0 changed, "
                                        "2 retracted"]
    assert _values(settings.warehouse, "online_retail_sales", "yoy_pct") == []
    assert query(settings.warehouse, "SELECT value, end_cause FROM fact_history WHERE indicator = "
                                     "'online_retail_sales' AND measure = 'yoy_pct'") == [
        (21.3, f"re-extraction under {unmapped['fingerprint']}")]


def test_reextract_names_documents_by_glob_and_can_leave_the_inbox_unread(settings):
    _run(settings)
    (settings.inbox / "north.txt").write_text(EAST.replace("苏州工业园区", "无锡高新区"), encoding="utf-8")
    only_west = _run(settings, reextract="we*", read_inbox=False)
    assert (only_west["documents_seen"], only_west["documents_new"], only_west["documents_reextracted"]) == (0, 0, 1)
    assert only_west["inbox_listing"] is None      # the inbox was not looked at: the next run reads it
    assert only_west["fact_changes"] == []          # the same extractor reads the same facts
    assert query(settings.warehouse, "SELECT count(*) FROM documents") == [(2,)]
    everything = _run(settings, reextract="*")
    assert (everything["documents_new"], everything["documents_reextracted"]) == (1, 2)


# --------------------------------------------------------------------------- corrections


def test_a_rejected_fact_stays_rejected_through_reruns_and_reextraction_until_the_line_goes(settings):
    _run(settings)
    _corrections(settings, "reject,west,西安高新区,2024,1,9,gdp,,yoy_pct,,,,,,lin,restated later")
    rejected = _run(settings)
    assert rejected["corrections"] == ["corrections: 1 applied"]
    assert rejected["fact_changes"] == ["correction: 0 added, 0 changed, 1 retracted"]
    assert _values(settings.warehouse, "gdp", "yoy_pct") == []
    assert _values(settings.warehouse, "gdp", "yoy_pct", "latest_observations") == []

    rerun = _run(settings)
    reextracted = _run(settings, reextract="*")
    assert reextracted["documents_reextracted"] == 2
    for summary in (rerun, reextracted):
        assert summary["fact_changes"] == [] and summary["corrections"] == ["corrections: 1 applied"]
    assert _values(settings.warehouse, "gdp", "yoy_pct") == []

    corrections_path(settings.warehouse).unlink()
    back = _run(settings)
    assert back["fact_changes"] == ["correction: 1 added, 0 changed, 0 retracted"]
    assert back["corrections"] == []
    assert _values(settings.warehouse, "gdp", "yoy_pct") == [(6.4,)]


def test_a_set_value_shows_corrected_and_the_history_keeps_the_extracted_one(settings):
    _run(settings)
    _corrections(settings, "set,west,,,,,gdp,,level,,1860.6亿元,,,,lin,the bulletin says 1860.6")
    summary = _run(settings)
    assert summary["fact_changes"] == ["correction: 0 added, 1 changed, 0 retracted"]
    assert query(settings.warehouse, "SELECT value, corrected, extracted_value FROM latest_observations "
                                     "WHERE indicator = 'gdp' AND measure = 'level'") == [
        (186_060_000_000.0, True, 185_060_000_000.0)]
    assert query(settings.warehouse, "SELECT value, extracted_value, cause, end_cause FROM fact_history WHERE "
                                     "indicator = 'gdp' AND measure = 'level' ORDER BY valid_to_run NULLS LAST") == [
        (185_060_000_000.0, 185_060_000_000.0, "new document", "correction"),
        (186_060_000_000.0, 185_060_000_000.0, "correction", None)]


def test_a_correction_that_matches_nothing_is_reported_in_the_summary_and_the_view(settings):
    _run(settings)
    _corrections(settings, "reject,east,,,,,retail_sales,,,,,,,,lin,",
                 "reject,east,,,,,fixed_asset_investment,,yoy_pct,,,,,,lin,")
    summary = _run(settings)
    assert summary["corrections"] == ["corrections: 1 applied",
                                      "correction line 2 (reject east retail_sales): matches no fact"]
    assert query(settings.warehouse, "SELECT line, problem FROM corrections_unmatched") == [(2, "matches no fact")]


def test_the_corrections_file_is_where_the_settings_say(settings, tmp_path):
    elsewhere = tmp_path / "analysts" / "fixes.csv"
    assert load_settings({"ZONEFACTS_CORRECTIONS": str(elsewhere)}).corrections == elsewhere
    moved = Settings(warehouse=settings.warehouse, inbox=settings.inbox, corrections=elsewhere)
    elsewhere.parent.mkdir()
    _corrections(moved, "reject,east,,,,,fixed_asset_investment,,yoy_pct,,,,,,lin,")
    assert not corrections_path(settings.warehouse).exists()
    assert _run(moved)["corrections"] == ["corrections: 1 applied"]
    assert _values(settings.warehouse, "fixed_asset_investment", "yoy_pct") == []


# --------------------------------------------------------------------------- samples/


@pytest.fixture
def samples(tmp_path) -> Settings:
    inbox = tmp_path / "samples"
    shutil.copytree(ROOT / "samples", inbox)
    settings = Settings(warehouse=tmp_path / "wh" / "zonefacts.duckdb", inbox=inbox)
    assert _run(settings)["documents_new"] == 6
    return settings


def test_an_edited_sample_holds_only_its_new_value_and_the_history_both(samples):
    path = samples.inbox / f"{SAMPLE}.txt"
    assert "1362.8亿元" in path.read_text(encoding="utf-8")
    path.write_text(path.read_text(encoding="utf-8").replace("1362.8亿元", "1462.8亿元"), encoding="utf-8")
    summary = _run(samples)
    assert summary["documents_new"] == 1 and summary["inbox_listing"] is None    # a version was superseded
    fact = "entity = '成都高新区' AND indicator = 'gdp' AND measure = 'level'"
    assert query(samples.warehouse, f"SELECT value FROM observations WHERE {fact}") == [(146_280_000_000.0,)]
    assert query(samples.warehouse, f"SELECT count(*) FROM conflicts WHERE {fact}") == [(0,)]
    assert query(samples.warehouse, f"SELECT value, end_cause FROM fact_history WHERE {fact} "
                                    "ORDER BY valid_to_run NULLS LAST") == [(136_280_000_000.0, "superseded"),
                                                                           (146_280_000_000.0, None)]
    assert query(samples.warehouse, "SELECT count(*) FROM documents WHERE stem = ?", [SAMPLE]) == [(1,)]


def test_a_sidecar_written_beside_a_loaded_sample_makes_a_new_version(samples):
    stem = "2022_q1_xian_gaoxin"
    before = query(samples.warehouse, "SELECT count(*) FROM observations WHERE document = ?", [stem])[0][0]
    (samples.inbox / f"{stem}.meta.json").write_text('{"title": "NEW", "published_at": "2023-05-01"}',
                                                     encoding="utf-8")
    summary = _run(samples)
    assert summary["documents_new"] == 1
    assert query(samples.warehouse, "SELECT title, published_at::VARCHAR FROM documents WHERE stem = ?", [stem]) == [
        ("NEW", "2023-05-01")]
    assert query(samples.warehouse, "SELECT count(*), count(retired_run) FROM document_versions WHERE stem = ?",
                 [stem]) == [(2, 1)]
    # the new version was extracted: its facts are the current ones, on the new document
    assert query(samples.warehouse, "SELECT count(*), count(DISTINCT h.document_id) FROM fact_history h "
                                    "JOIN documents d USING (document_id) WHERE h.document = ? "
                                    "AND h.valid_to_run IS NULL", [stem]) == [(before, 1)]
    assert query(samples.warehouse, "SELECT DISTINCT title FROM latest_observations WHERE document = ?", [stem]) == [
        ("NEW",)]


def test_a_quarantined_file_is_read_again_after_a_new_vocabulary_and_stays_quarantined(samples):
    (samples.inbox / "blank.txt").write_text("   \n", encoding="utf-8")
    first = _run(samples)
    assert first["quarantine_reasons"] == {"empty": 1} and first["inbox_listing"] is not None
    _corrections(samples, f"map_phrase,,,,,,online_retail_sales,,,,,,,{PHRASE},lin,")
    second = _run(samples)
    assert second["documents_reextracted"] == 6
    assert second["quarantine_reasons"] == {"empty": 1} and second["quarantine_rows_new"] == 0
    assert second["inbox_listing"] not in (None, first["inbox_listing"])    # the fingerprint is in it


def _shrunk(vocabulary: Vocabulary) -> Vocabulary:
    """A copy of the vocabulary that no longer knows GDP: a rule change that breaks reading."""
    indicators = vocabulary.indicators.filter(pl.col("code") != "gdp")
    return Vocabulary(indicators=indicators, entities=vocabulary.entities, breakdowns=vocabulary.breakdowns)


def test_a_reextraction_that_retracts_most_of_a_document_warns(settings):
    _run(settings)
    assert _values(settings.warehouse, "gdp", "level") == [(185060000000.0,)]
    second = _run(settings, vocabulary=_shrunk(load_vocabulary()))
    assert second["documents_reextracted"] == 2
    assert "reextraction_retracts_few_facts" in second["expectations_failed_names"]
    failing = query(settings.warehouse, "SELECT sample::VARCHAR FROM dq_failures WHERE expectation = ?",
                    ["reextraction_retracts_few_facts"])
    assert len(failing) == 1 and "west" in failing[0][0] and "east" not in failing[0][0]
