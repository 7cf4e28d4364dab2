"""Tables state facts like sentences do (FACT_MODEL "Tables"; transforms/tables.py).

The tables are written for the test: the places and figures are invented. Each fact pins
entity, year, months, indicator, measure, value and unit, and its evidence must be a piece of
the text as found (the table row), never the sentence the reader made of it.
"""
from __future__ import annotations

import datetime as dt
import time

import numpy as np
import polars as pl
import pytest

from tests.transforms.test_documents import raw_frame
from transforms.clean import paragraphs
from transforms.documents import parse_documents
from transforms.extract import extract
from transforms.tables import read_tables

PUB = dt.date(2024, 7, 20)
H1 = {"entity": "南充市", "year": 2024, "start_month": 1, "end_month": 6}
Q3 = {"entity": "达州市", "year": 2023, "start_month": 1, "end_month": 9}

FLAT = """南充市上半年经济运行情况

上半年，南充市经济运行稳中向好，主要指标好于预期。

2024年上半年南充市主要经济指标
指标|单位|绝对额|同比增长(%)
地区生产总值|亿元|1234.5|6.1
规模以上工业增加值|亿元|―|7.4
社会消费品零售总额|亿元|610.2|-1.5
其中：民间投资|亿元|—|3.9
"""


def _documents(text: str, published_at: dt.date = PUB) -> pl.DataFrame:
    return pl.DataFrame({"document_id": ["d1"], "text": [text], "title_source": ["first_line"],
                         "published_at": [published_at]},
                        schema={"document_id": pl.String, "text": pl.String, "title_source": pl.String,
                                "published_at": pl.Date})


def facts(text: str, published_at: dt.date = PUB, lines_joined: bool = False) -> list[dict]:
    """The facts of ``text``; each one's evidence is a piece of the text (with ``lines_joined``, of the
    text without its line breaks: clean.paragraphs joins a line that starts with "%" to the one before)."""
    found = extract(_documents(text, published_at)).observations.to_dicts()
    for o in found:
        evidence, source = (o["evidence"], text) if not lines_joined else (
            o["evidence"].replace("\n", ""), text.replace("\n", ""))
        assert evidence and evidence in source, o["evidence"]
    return found


def html_facts(html: str, published: str = "2024-07-20") -> tuple[list[dict], str]:
    documents, quarantine = parse_documents(raw_frame(
        {"path": "t.html", "content": html, "sidecar": {"published_at": published}}))
    assert quarantine.height == 0
    text = documents["text"][0]
    found = extract(documents).observations.to_dicts()
    for o in found:
        assert o["evidence"] and o["evidence"] in text, o["evidence"]
    return found, text


def assert_facts(found: list[dict], expected: list[dict]) -> None:
    """Exactly the expected facts, each with all the fields given."""
    keys = ["entity", "year", "start_month", "end_month", "indicator", "segment", "measure", "value", "unit"]
    got = sorted((tuple(o[k] for k in keys) for o in found), key=str)
    want = sorted((tuple(e.get(k) for k in keys) for e in expected), key=str)
    assert got == want


def test_flattened_table_with_caption() -> None:
    assert_facts(facts(FLAT), [
        {**H1, "indicator": "gdp", "measure": "level", "value": 123_450_000_000.0, "unit": "CNY"},
        {**H1, "indicator": "gdp", "measure": "yoy_pct", "value": 6.1, "unit": "percent"},
        {**H1, "indicator": "industrial_value_added_above_scale", "measure": "yoy_pct", "value": 7.4,
         "unit": "percent"},
        {**H1, "indicator": "retail_sales", "measure": "level", "value": 61_020_000_000.0, "unit": "CNY"},
        {**H1, "indicator": "retail_sales", "measure": "yoy_pct", "value": -1.5, "unit": "percent"},
        {**H1, "indicator": "fixed_asset_investment", "segment": "民间投资", "measure": "yoy_pct", "value": 3.9,
         "unit": "percent"},
    ])
    evidence = {(o["indicator"], o["measure"]): o["evidence"] for o in facts(FLAT)}
    assert evidence["gdp", "level"] == "地区生产总值|亿元|1234.5"
    assert evidence["retail_sales", "yoy_pct"] == "社会消费品零售总额|亿元|610.2|-1.5"


HTML = """<html><head><title>达州市前三季度经济运行情况</title></head><body>
<p>前三季度，达州市经济运行总体平稳。</p>
<table border="1"><caption>达州市2023年1-9月主要经济指标</caption>
<thead><tr><th>指标</th><th>单位</th><th>1-9月</th><th>比上年同期增长(%)</th></tr></thead>
<tbody>
<tr><td>地区生产总值</td><td>亿元</td><td>1780.6</td><td>4.8</td></tr>
<tr><td><p>一般公共预算收入</p></td><td><p>万元</p></td><td><p>1,250,300</p></td><td><p>8.2</p></td></tr>
<tr><td>出口总额</td><td>亿美元</td><td>12.4</td><td>-6.3</td></tr>
</tbody></table>
<p>下一步，全市将持续推动经济回升向好。</p>
</body></html>"""


def test_html_table_with_caption_and_header_cells() -> None:
    found, text = html_facts(HTML, "2023-10-25")
    assert "达州市2023年1-9月主要经济指标\n指标\t单位\t1-9月\t比上年同期增长(%)" in text
    # a cell's <p> breaks no line: the row stays one line
    assert any(line.startswith("一般公共预算收入") and line.endswith("8.2") for line in text.split("\n"))
    assert_facts(found, [
        {**Q3, "indicator": "gdp", "measure": "level", "value": 178_060_000_000.0, "unit": "CNY"},
        {**Q3, "indicator": "gdp", "measure": "yoy_pct", "value": 4.8, "unit": "percent"},
        {**Q3, "indicator": "general_budget_revenue", "measure": "level", "value": 12_503_000_000.0, "unit": "CNY"},
        {**Q3, "indicator": "general_budget_revenue", "measure": "yoy_pct", "value": 8.2, "unit": "percent"},
        {**Q3, "indicator": "exports", "measure": "level", "value": 1_240_000_000.0, "unit": "USD"},
        {**Q3, "indicator": "exports", "measure": "yoy_pct", "value": -6.3, "unit": "percent"},
    ])


def test_html_layout_cell_keeps_its_paragraphs() -> None:
    paragraphs_ = "".join(f"<p>第{n}段，南充市经济运行稳中向好，主要指标好于预期。</p>" for n in range(12))
    documents, _ = parse_documents(raw_frame({"path": "t.html", "content": f"<html><body><table><tr><td>"
                                              f"{paragraphs_}</td></tr></table></body></html>"}))
    assert len(documents["text"][0].split("\n")) == 12


def test_html_header_without_corner_cell_and_unit_in_header() -> None:
    html = """<html><body><p>上半年，南充市经济运行稳中向好。</p>
<table><caption>2024年上半年南充市主要经济指标</caption>
<tr><th></th><th>绝对额（亿元）</th><th>增速（%）</th></tr>
<tr><td>地区生产总值</td><td>1234.5</td><td>6.1</td></tr>
<tr><td>固定资产投资</td><td>-</td><td>4.2</td></tr></table></body></html>"""
    found, _ = html_facts(html)
    assert_facts(found, [
        {**H1, "indicator": "gdp", "measure": "level", "value": 123_450_000_000.0, "unit": "CNY"},
        {**H1, "indicator": "gdp", "measure": "yoy_pct", "value": 6.1, "unit": "percent"},
        {**H1, "indicator": "fixed_asset_investment", "measure": "yoy_pct", "value": 4.2, "unit": "percent"},
    ])


def test_unit_in_the_header_and_in_the_label() -> None:
    text = """2024年上半年南充市主要经济指标
指标|绝对额(万元)|增长%
地方一般公共预算收入|853000|5.5
社会消费品零售总额(亿元)|610.2|-1.5
"""
    assert_facts(facts(text), [
        {**H1, "indicator": "general_budget_revenue", "measure": "level", "value": 8_530_000_000.0, "unit": "CNY"},
        {**H1, "indicator": "general_budget_revenue", "measure": "yoy_pct", "value": 5.5, "unit": "percent"},
        {**H1, "indicator": "retail_sales", "measure": "level", "value": 61_020_000_000.0, "unit": "CNY"},
        {**H1, "indicator": "retail_sales", "measure": "yoy_pct", "value": -1.5, "unit": "percent"},
    ])


def test_empty_cells_give_nothing() -> None:
    text = """2024年上半年南充市主要经济指标
指标|单位|绝对额|同比增长(%)
地区生产总值|亿元|―|—
规模以上工业增加值|亿元|-|…
社会消费品零售总额|亿元|空|2.2
固定资产投资|亿元||3.1
"""
    assert_facts(facts(text), [
        {**H1, "indicator": "retail_sales", "measure": "yoy_pct", "value": 2.2, "unit": "percent"},
        {**H1, "indicator": "fixed_asset_investment", "measure": "yoy_pct", "value": 3.1, "unit": "percent"},
    ])


def test_a_figure_in_the_text_and_in_the_table_is_one_fact() -> None:
    text = """南充市上半年经济运行情况

上半年，南充市实现地区生产总值1234.5亿元，同比增长6.1%。

2024年上半年南充市主要经济指标
指标|单位|绝对额|同比增长(%)
地区生产总值|亿元|1234.5|6.1
社会消费品零售总额|亿元|610.2|-1.5
"""
    found = facts(text)
    gdp = [o for o in found if o["indicator"] == "gdp"]
    assert [(o["measure"], o["value"]) for o in gdp] == [("level", 123_450_000_000.0), ("yoy_pct", 6.1)]
    assert all("实现地区生产总值" in o["evidence"] for o in gdp)   # the text's statement, stated first
    assert {o["indicator"] for o in found} == {"gdp", "retail_sales"}


def test_one_cell_per_line_with_bars_between_cells() -> None:
    text = "\n".join(["2024年1-6月南充市主要经济指标", "指标", "|", "单位", "|", "累计", "|", "±%", "|",
                      "规模以上工业增加值", "|", "亿元", "|", "―", "|", "7.4", "|",
                      "社会消费品零售总额", "|", "亿元", "|", "610.2", "|", "-1.5", "|",
                      "居民消费价格指数", "|", "%", "|", "101.2", "|", "1.2", "|"])
    assert_facts(facts(text, lines_joined=True), [
        {**H1, "indicator": "industrial_value_added_above_scale", "measure": "yoy_pct", "value": 7.4,
         "unit": "percent"},
        {**H1, "indicator": "retail_sales", "measure": "level", "value": 61_020_000_000.0, "unit": "CNY"},
        {**H1, "indicator": "retail_sales", "measure": "yoy_pct", "value": -1.5, "unit": "percent"},
        # the index level (101.2 %) is not read; its change is
        {**H1, "indicator": "cpi", "measure": "yoy_pct", "value": 1.2, "unit": "percent"},
    ])


def test_header_line_then_one_cell_per_line() -> None:
    text = "\n".join(["2024年上半年南充市主要经济指标", "指标|单位|绝对额|同比增长(%)",
                      "地区生产总值", "亿元", "1234.5", "6.1", "进出口总额", "亿元", "88.6", "12.0"])
    assert_facts(facts(text), [
        {**H1, "indicator": "gdp", "measure": "level", "value": 123_450_000_000.0, "unit": "CNY"},
        {**H1, "indicator": "gdp", "measure": "yoy_pct", "value": 6.1, "unit": "percent"},
        {**H1, "indicator": "foreign_trade", "measure": "level", "value": 8_860_000_000.0, "unit": "CNY"},
        {**H1, "indicator": "foreign_trade", "measure": "yoy_pct", "value": 12.0, "unit": "percent"},
    ])


def test_markdown_table_share_column_and_last_year_column() -> None:
    text = """# 南充市上半年经济运行情况

2024年上半年南充市主要经济指标

| 指标 | 本期(亿元) | 上年同期(亿元) | 占全省比重(%) |
|---|---:|---:|---:|
| 地区生产总值 | 1234.5 | 1160.2 | 4.1 |
"""
    documents, _ = parse_documents(raw_frame({"path": "t.md", "content": text,
                                              "sidecar": {"published_at": "2024-07-20"}}))
    found = extract(documents).observations.to_dicts()
    assert_facts(found, [
        {**H1, "indicator": "gdp", "measure": "level", "value": 123_450_000_000.0, "unit": "CNY"},
        {**H1, "indicator": "gdp", "measure": "share_pct", "value": 4.1, "unit": "percent"},
    ])
    assert {o["benchmark"] for o in found if o["measure"] == "share_pct"} == {"四川省"}


def test_traditional_script_table() -> None:
    text = """2024年上半年南充市主要經濟指標
指標|單位|絕對額|同比增長(%)
地區生產總值|億元|1234.5|6.1
"""
    assert_facts(facts(text), [
        {**H1, "indicator": "gdp", "measure": "level", "value": 123_450_000_000.0, "unit": "CNY"},
        {**H1, "indicator": "gdp", "measure": "yoy_pct", "value": 6.1, "unit": "percent"},
    ])


def test_caption_above_a_unit_note_and_columns_of_other_periods() -> None:
    text = """2024年上半年南充市主要经济指标
单位：亿元，%
指标|本期|上年同期|6月|增速
地区生产总值|1234.5|1160.2|230.4|6.1
"""
    # 上年同期 is last year's figure and 6月 a single month: only the half year's are read
    assert_facts(facts(text), [
        {**H1, "indicator": "gdp", "measure": "level", "value": 123_450_000_000.0, "unit": "CNY"},
        {**H1, "indicator": "gdp", "measure": "yoy_pct", "value": 6.1, "unit": "percent"},
    ])


def test_a_rate_under_columns_of_two_periods_is_not_guessed() -> None:
    text = """南充市主要经济指标
指标|6月|1-6月|增长%
地区生产总值(亿元)|230.4|1234.5|6.1
"""
    assert_facts(facts(text), [
        {**H1, "start_month": 6, "indicator": "gdp", "measure": "level", "value": 23_040_000_000.0, "unit": "CNY"},
    ])


NOT_TABLES = [
    ("navigation bar", "首页 | 新闻 | 关于\n首页 | 政务 | 互动\n南充市召开经济形势分析会。"),
    ("prose with a bar", "上半年，南充市地区生产总值1234.5亿元 | 来源：南充日报\n增长较快 | 记者 王川"),
    ("rows without a measure header", "区县|负责人|电话\n顺庆区|王川|2221234\n高坪区|李明|2225678"),
]


@pytest.mark.parametrize("name,text", NOT_TABLES, ids=[n for n, _ in NOT_TABLES])
def test_lines_that_are_no_table_are_untouched(name: str, text: str) -> None:
    paras = paragraphs(_documents(text))
    assert read_tables(paras).equals(paras)


def test_navigation_bar_yields_nothing() -> None:
    assert facts("首页 | 新闻 | 关于\n首页 | 政务 | 互动") == []


def test_prose_with_a_bar_reads_as_before() -> None:
    text = "上半年，南充市地区生产总值1234.5亿元 | 来源：南充日报"
    assert_facts(facts(text), [{**H1, "indicator": "gdp", "measure": "level", "value": 123_450_000_000.0,
                                "unit": "CNY"}])


def test_offset_map_stays_inside_the_row_and_never_goes_back() -> None:
    text = FLAT + "\n" + "\n".join(["指标", "|", "单位", "|", "累计", "|", "±%", "|",
                                    "地区生产总值", "|", "亿元", "|", "1234.5", "|", "6.1"])
    rows = read_tables(paragraphs(_documents(text))).filter(pl.col("norm_to_display").is_not_null())
    assert rows.height == 5
    for display, norm, mapping in rows.select("display", "norm", "norm_to_display").iter_rows():
        offsets = np.frombuffer(mapping, dtype="<i4")
        assert len(offsets) == len(norm) + 1
        assert (np.diff(offsets) >= 0).all() and offsets[0] >= 0 and offsets[-1] == len(display)


def test_long_lines_of_bars_stay_linear() -> None:
    line = "|1" * 1_000_000
    text = f"指标|单位|绝对额|同比增长(%)\n{line}\n地区生产总值|亿元|1234.5|6.1\n{line}"
    started = time.perf_counter()
    paras = read_tables(paragraphs(_documents(text)))
    assert time.perf_counter() - started < 20
    assert paras.height == 3
