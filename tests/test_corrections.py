"""Analyst corrections: the file checked (transforms/corrections.py), and applied at the load
(warehouse/history.py, warehouse/corrections.py) on a real warehouse built by run_pipeline from
this file's sentences. Each test corrects its own copy of that warehouse."""
from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import polars as pl
import pytest

from conftest import query
from transforms.corrections import HEADER, check_corrections, extend_vocabulary, read_corrections
from transforms.extract import extract
from transforms.vocabulary import entity_dimension, indicator_dimension, load_vocabulary
from warehouse import corrections, history, store
from warehouse.staging import stage_batch

A_TEXT = ("成都高新区上半年经济运行\n"
          "上半年，成都高新区实现地区生产总值1362.8亿元，同比增长7.1%。\n")
B_TEXT = ("东湖高新区前三季度经济运行\n"
          "前三季度，东湖高新区规模以上工业增加值同比增长10.5%，固定资产投资同比增长8.4%。"
          "区内高企数量稳居全省首位，共计一千二百家上下。\n")
GDP = 136280000000.0


def _file(*lines: str) -> str:
    return HEADER + "\n" + "".join(line + "\n" for line in lines)


# --------------------------------------------------------------------------- checking


def test_a_good_file_has_no_errors():
    text = _file(
        "reject,a,成都高新区,2024,1,6,gdp,,yoy_pct,,,,,,lin,duplicate of the bulletin",
        "set,a,,,,,gdp,,level,,1462.8亿元,,,,lin,typo in the source",
        "set,b,,2023 -> 2024,,,fixed_asset_investment,,,,,,,,,wrong year",
        "add,b,武汉东湖高新区,2024,1,9,high_tech_enterprises,,level,,1200,count,共计一千二百家上下,,lin,",
        "map_phrase,,,,,,online_retail_sales,,,,,,,跨境电商交易额,lin,",
        "alias,,成都高新区,,,,,,,,,,,成高新,lin,,",
    )
    assert check_corrections(text, load_vocabulary()) == []


def test_errors_name_their_line_and_what_is_wrong():
    text = _file(
        "reject,a,,,,,gpd,,level,,,,,,lin,",                       # 2
        'add,a,成都高新区,2024,1,6,gdp,,level,,,,"a sentence',      # 3-4: a quoted cell over two lines
        'that goes on",,lin,',
        "set,a,,twenty,13,6,gdp,,level,,12x,,,,,",                  # 5
        "reject,a,,,,,gdp,,level,,5 -> 6,,,,,",                     # 6
        "reject,,,,,,,,,,,,,,,",                                    # 7
        "frob,a,,,,,gdp,,,,,,,,,",                                  # 8
        "alias,,无名园区,,,,,,,,,,,某园,,",                          # 9
    )
    errors = {e.line: e.message for e in check_corrections(text, load_vocabulary())}
    assert set(errors) == {2, 3, 5, 6, 7, 8, 9}
    assert "unknown indicator code 'gpd'" in errors[2] and "gdp" in errors[2]
    assert "an add line needs value, unit" in errors[3]
    assert "year 'twenty' is not a whole number" in errors[5]
    assert "start_month 13 is not a month" in errors[5]
    assert "value '12x' is not a number" in errors[5]
    assert "only for set lines" in errors[6]
    assert "would match every fact" in errors[7]
    assert "unknown action 'frob'" in errors[8]
    assert "unknown entity '无名园区'" in errors[9]
    assert str(check_corrections(text, load_vocabulary())[0]).startswith("line 2: ")


def test_conflicting_lines_are_errors_on_the_later_one():
    text = _file(
        "set,a,成都高新区,2024,1,6,gdp,,level,,1462.8亿元,,,,lin,",
        "reject,a,成都高新区,2024,1,6,gdp,,level,,,,,,wang,",
        "set,a,成都高新区,2024,1,6,gdp,,level,,146280000000,CNY,,,wang,same value: no conflict",
        "map_phrase,,,,,,online_retail_sales,,,,,,,跨境电商交易额,,",
        "map_phrase,,,,,,foreign_trade,,,,,,,跨境电商交易额,,",
    )
    errors = check_corrections(text, load_vocabulary())
    assert [(e.line, e.message) for e in errors] == [
        (3, "conflicts with line 2: it corrects the same facts otherwise"),
        (6, "conflicts with line 5: it maps the same phrase to another indicator")]


def test_a_header_without_the_required_columns_is_refused():
    errors = check_corrections("action,document,value\nreject,a,1\n", load_vocabulary())
    assert len(errors) == 1 and errors[0].line == 1 and "the header lacks entity" in errors[0].message


def test_map_phrase_and_alias_extend_the_vocabulary():
    lines, errors = read_corrections(_file(
        "map_phrase,,,,,,online_retail_sales,,,,,,,跨境电商交易额,,",
        "alias,,成都高新区,,,,,,,,,,,成高新,,",
        "alias,,萧山区,,,,,,,,,,,,,,杭州市",
    ), load_vocabulary())
    assert errors == []
    grown = extend_vocabulary(load_vocabulary(), lines)
    forms = grown.indicators.filter(pl.col("code") == "online_retail_sales")["surface_forms"][0].split("|")
    assert "跨境电商交易额" in forms
    entities = {name: (parent, aliases) for name, _, parent, aliases in grown.entities.iter_rows()}
    assert "成高新" in entities["成都高新区"][1]
    assert entities["萧山区"][0] == "杭州市"      # from the gazetteer into the project's entities


# --------------------------------------------------------------------------- applying


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    from flows.pipeline import run_pipeline, run_plain
    from flows.settings import Settings

    base = tmp_path_factory.mktemp("corrections")
    inbox = base / "inbox"
    inbox.mkdir()
    for stem, text, published in (("a", A_TEXT, "2024-07-20"), ("b", B_TEXT, "2024-10-25")):
        (inbox / f"{stem}.txt").write_text(text, encoding="utf-8")
        (inbox / f"{stem}.meta.json").write_text(json.dumps({"published_at": published}), encoding="utf-8")
    warehouse = base / "wh" / "zonefacts.duckdb"
    summary = run_pipeline(Settings(warehouse=warehouse, inbox=inbox), run_plain)
    assert summary["status"] == "success", summary
    return inbox, warehouse


@pytest.fixture
def settings(loaded, tmp_path):
    from flows.settings import Settings

    inbox, published = loaded
    warehouse = tmp_path / "zonefacts.duckdb"
    shutil.copyfile(published, warehouse)
    return Settings(warehouse=warehouse, inbox=inbox)


def _correct(settings, text: str | None, *, staging: Path | None = None, fingerprint: str | None = None,
             vocabulary=None) -> list[str]:
    """A load of ``staging`` (nothing by default) with the corrections file written as ``text``
    beside the warehouse and read back; publishes, returns the corrections' summary lines."""
    path = corrections.corrections_path(settings.warehouse)
    if text is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(text, encoding="utf-8")
    vocabulary = vocabulary or load_vocabulary()
    lines, _ = corrections.read_file(path, vocabulary)
    con = store.open_work(settings.warehouse, settings.work_path)
    try:
        store.load_staged(con, staging or settings.warehouse.parent / "nothing-staged", run_id=uuid.uuid4().hex,
                          indicators=indicator_dimension(vocabulary), vocabulary_entities=entity_dimension(vocabulary),
                          fingerprint=fingerprint, inbox=str(settings.inbox), corrections=lines)
        summary = corrections.summary_lines(con)
    finally:
        con.close()
    store.publish(settings.work_path, settings.warehouse)
    return summary


def _gdp(settings, view: str = "observations", measure: str = "yoy_pct") -> list[tuple]:
    extra = ", corrected, extracted_value" if view == "latest_observations" else ""
    return query(settings.warehouse, f"SELECT value{extra} FROM {view} WHERE entity = '成都高新区' "
                                     f"AND indicator = 'gdp' AND measure = ?", [measure])


def test_a_reject_removes_the_fact_and_deleting_it_brings_the_fact_back(settings):
    assert _gdp(settings) == [(7.1,)]
    summary = _correct(settings, _file("reject,a,成都高新区,2024,1,6,gdp,,yoy_pct,,,,,,lin,restated"))
    assert summary == ["corrections: 1 applied"]
    assert _gdp(settings) == [] and _gdp(settings, "latest_observations") == []
    assert query(settings.warehouse, "SELECT change, cause, old_value FROM observation_changes") == [
        ("retracted", "correction", 7.1)]

    _correct(settings, None)   # the file is gone: no corrections
    assert _gdp(settings) == [(7.1,)]
    assert query(settings.warehouse, "SELECT change, cause, new_value FROM observation_changes") == [
        ("added", "correction", 7.1)]
    assert query(settings.warehouse, "SELECT value, cause, end_cause FROM fact_history WHERE indicator = 'gdp' "
                                     "AND measure = 'yoy_pct' ORDER BY valid_to_run NULLS LAST") == [
        (7.1, "new document", "correction"), (7.1, "correction", None)]


def test_a_set_value_is_shown_corrected_and_the_history_keeps_the_extracted_one(settings):
    _correct(settings, _file("set,a,,,,,gdp,,level,,1462.8亿元,,,,lin,the bulletin says 1462.8"))
    assert _gdp(settings, "latest_observations", "level") == [(146280000000.0, True, GDP)]
    assert _gdp(settings, "observations", "level") == [(146280000000.0,)]
    assert _gdp(settings, "latest_observations") == [(7.1, False, 7.1)]
    assert query(settings.warehouse, """
        SELECT value, extracted_value, correction_id IS NOT NULL, cause, end_cause FROM fact_history
        WHERE indicator = 'gdp' AND measure = 'level' ORDER BY valid_to_run NULLS LAST""") == [
        (GDP, GDP, False, "new document", "correction"), (146280000000.0, GDP, True, "correction", None)]
    assert query(settings.warehouse, "SELECT change, old_value, new_value FROM observation_changes") == [
        ("changed", GDP, 146280000000.0)]


def test_a_correction_survives_a_rerun_and_a_reextraction(settings, tmp_path):
    from flows.pipeline import run_pipeline, run_plain

    _correct(settings, _file("set,a,,,,,gdp,,level,,1462.8亿元,,,,lin,"))
    (settings.inbox / "c.txt").write_text(A_TEXT.replace("成都", "重庆"), encoding="utf-8")
    try:
        assert run_pipeline(settings, run_plain)["documents_new"] == 1
    finally:
        (settings.inbox / "c.txt").unlink()
    assert _gdp(settings, "observations", "level") == [(146280000000.0,)]

    # every document read again under another fingerprint, with the same corrections file
    con = store.open_work(settings.warehouse, settings.work_path)
    try:
        documents = history.read_documents(con, history.stale_document_ids(con, "f2"))
    finally:
        con.close()
    extraction = extract(documents, load_vocabulary())
    staging = tmp_path / "staging"
    stage_batch(staging, 0, {"documents": documents, "observations": extraction.observations.with_columns(
        pl.lit([], pl.List(pl.String)).alias("dq_flags")), "coverage": extraction.coverage})
    _correct(settings, _file("set,a,,,,,gdp,,level,,1462.8亿元,,,,lin,"), staging=staging, fingerprint="f2")
    assert _gdp(settings, "latest_observations", "level") == [(146280000000.0, True, GDP)]
    assert query(settings.warehouse, "SELECT count(*) FROM observation_changes") == [(0,)]
    assert query(settings.warehouse, "SELECT DISTINCT fingerprint FROM documents") == [("f2",)]


def test_an_add_states_a_fact_the_extractor_missed(settings):
    _correct(settings, _file(
        "add,b,武汉东湖高新区,2024,1,9,high_tech_enterprises,,level,,1200,count,共计一千二百家上下,,lin,missed"))
    rows = query(settings.warehouse, "SELECT value, unit, year, start_month, end_month, evidence, corrected, "
                                     "extracted_value FROM latest_observations "
                                     "WHERE indicator = 'high_tech_enterprises'")
    assert rows == [(1200.0, "count", 2024, 1, 9, "共计一千二百家上下", True, None)]
    assert query(settings.warehouse, "SELECT document, entity_type FROM observations "
                                     "WHERE indicator = 'high_tech_enterprises'") == [("b", "zone")]
    assert query(settings.warehouse, "SELECT change, cause FROM observation_changes") == [("added", "correction")]


def test_corrections_that_do_nothing_are_reported(settings):
    summary = _correct(settings, _file(
        "reject,a,,,,,retail_sales,,,,,,,,lin,",
        "add,b,武汉东湖高新区,2024,1,9,tech_enterprises,,level,,300,count,共有科技企业三百家,,lin,",
        "add,zzz,武汉东湖高新区,2024,1,9,tech_enterprises,,level,,300,count,共计一千二百家上下,,lin,",
        "set,a,,,,,gpd,,level,,1,,,,lin,",
        "reject,a,,,,,gdp,,yoy_pct,,,,,,lin,",
    ))
    assert query(settings.warehouse, "SELECT line, problem FROM corrections_unmatched") == [
        (2, "matches no fact"),
        (3, "the evidence is not in the text of document b"),
        (4, "document zzz is not loaded"),
        (5, "invalid: unknown indicator code 'gpd' (closest: gdp; codes are in transforms/vocab/indicators.csv)")]
    assert summary[0] == "corrections: 1 applied"
    assert summary[1] == "correction line 2 (reject a retail_sales): matches no fact"
    assert len(summary) == 5
    assert _gdp(settings) == []
