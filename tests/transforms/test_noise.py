"""Noise inside words (transforms/noise.py, transforms/clean.py): the facts are read from the text
without the noise, the evidence and offsets point into the text as found.

Every sentence here was written for this test. Fact rows list only the fields they pin down.
"""
from __future__ import annotations

import datetime as dt
import time

import numpy as np
import polars as pl
import pytest

from transforms.clean import display_offset, paragraphs
from transforms.extract import extract
from transforms.noise import MAY_HAVE_NOISE, read_line

PUB = dt.date(2024, 7, 20)
Z = {"entity": "成都高新区", "year": 2024, "start_month": 1, "end_month": 6}


def _documents(text: str) -> pl.DataFrame:
    return pl.DataFrame(
        {"document_id": ["d1"], "text": [text], "title_source": [None], "published_at": [PUB]},
        schema={"document_id": pl.String, "text": pl.String, "title_source": pl.String, "published_at": pl.Date},
    )


def _matches(found: dict, want: dict) -> bool:
    return all(abs(found[k] - v) < 1e-6 if isinstance(v, float) else found[k] == v for k, v in want.items())


def _assert_as_found(text: str, rows: list[dict]) -> None:
    """Evidence is text as found, and char_start/char_end locate it (one paragraph: offsets in the text)."""
    for row in rows:
        assert row["evidence"] in text, f"evidence {row['evidence']!r} is not in {text!r}"
        assert row["evidence"] in text[row["char_start"]:row["char_end"]]


def fact(indicator: str, measure: str, value: float) -> dict:
    """An expected observation of the zone's first half of 2024."""
    return {**Z, "indicator": indicator, "measure": measure, "value": value}


FACT_ROWS = [
    ("pinyin in ASCII parentheses, tone marks",
     "上半年，成都高新区地(dì)区(qū)生(shēng)产(chǎn)总(zǒng)值(zhí)同比增长6.3%。",
     [fact("gdp", "yoy_pct", 6.3)], "产(chǎn)总"),
    ("pinyin in lenticular brackets",
     "上半年，成都高新区固【gù】定【dìng】资【zī】产【chǎn】投【tóu】资【zī】同比增长8.2%。",
     [fact("fixed_asset_investment", "yoy_pct", 8.2)], "投【tóu】资【zī】"),
    ("pinyin in full-width parentheses, tone numbers", "上半年，成都高新区出（chu1）口（kou3）总额321.4亿元。",
     [fact("exports", "level", 32_140_000_000.0)], "出（chu1）口（kou3）总额"),
    ("pinyin in square brackets, ü written v, a toneless syllable among toned ones",
     "上半年，成都高新区进[jin4]口[kou3]总额[e2]下降2.5%，绿[lv4]色的[de]贸易增长较快。",
     [fact("imports", "yoy_pct", -2.5)], "总额[e2]下降2.5%"),
    ("traditional script with pinyin",
     "上半年，成都高新區實(shí)現(xiàn)地區(qū)生產(chǎn)總值1523.6億元，同比增長(zhǎng)6.3%。",
     [fact("gdp", "level", 152_360_000_000.0), fact("gdp", "yoy_pct", 6.3)], "同比增長(zhǎng)6.3%"),
    ("a closing tag inside a place name", "上半年，成都高</a></span>新区地区生产总值同比增长6.1%。",
     [fact("gdp", "yoy_pct", 6.1)], "成都高</a></span>新区"),
    ("font tags splitting a number",
     '上半年，成都高新区一般公共预算收入<font color="red">85.</font><font color="red">4</font>亿元。',
     [fact("general_budget_revenue", "level", 8_540_000_000.0)], '85.</font><font color="red">4</font>亿元'),
    ("ordinary, full-width and zero-width spaces between characters and digits",
     "上半年，成都高新区 规上工业增加值\u3000增长 9.4 %，出口总额增长\u200b5.2%。",
     [fact("industrial_value_added_above_scale", "yoy_pct", 9.4), fact("exports", "yoy_pct", 5.2)], "增长 9.4 %"),
    ("an HTML entity between the subject and the indicator", "上半年，成都高新区&nbsp;地区生产总值同比增长6.3%。",
     [fact("gdp", "yoy_pct", 6.3)], "&nbsp;地区生产总值"),
    ("a bold pair is markup, not a mask", "**上半年，成都高新区地区生产总值同比增长6.3%**",
     [fact("gdp", "yoy_pct", 6.3)], None),
    ("a mask in another clause does not touch the number", "区***介绍，上半年成都高新区地区生产总值同比增长6.1%。",
     [fact("gdp", "yoy_pct", 6.1)], None),
]


@pytest.mark.parametrize("text,expected,noise", [r[1:] for r in FACT_ROWS], ids=[r[0] for r in FACT_ROWS])
def test_facts_are_read_through_noise_and_evidence_keeps_it(text, expected, noise):
    result = extract(_documents(text))
    rows = result.observations.to_dicts()
    for want in expected:
        assert any(_matches(o, want) for o in rows), f"missing {want}\n  got: {rows}"
    assert result.defects.height == 0
    _assert_as_found(text, rows)
    if noise:
        assert any(noise in o["evidence"] for o in rows), f"no evidence keeps {noise!r}: {rows}"


DEFECT_ROWS = [
    # (name, text, defect kind, where the defect starts in the text, values never stored, values stored)
    ("a masked indicator word", "上半年，成都高新区**产业增加值80.7亿元，增长3.7%；第二产业增加值141.1亿元，增长10.4%。",
     "masked_word", "**产业", [8_070_000_000.0, 3.7], [14_110_000_000.0, 10.4]),
    ("a masked word that leaves a known indicator behind", "上半年，成都高新区**工业增加值80.7亿元，同比增长3.7%。",
     "masked_word", "**工业", [8_070_000_000.0, 3.7], []),
    ("a masked word does not take the indicator before it",
     "上半年，成都高新区第二产业增加值141.1亿元，增长10.4%；**增长3.7%。",
     "masked_word", "**增长", [3.7], [14_110_000_000.0, 10.4]),
    ("masked digits", "上半年，成都高新区规上工业增加值增长**%。出口总额增长5.2%。", "masked_number", "**%", [], [5.2]),
    ("a second decimal point", "上半年，成都高新区规上工业增加值增长1.2.%。", "merged_number", "1.2.%", [1.2, 12.0], []),
    ("two numbers run together once the space between them is read out",
     "上半年，成都高新区规上工业增加值增长6.3 7.2%。", "merged_number", "6.3 7.2%", [6.3, 6.37, 7.2], []),
    ("a figure label run into a year", "图12023年成都高新区一般公共预算收入结构", "merged_number", "12023年", [], []),
]


@pytest.mark.parametrize("text,kind,at,never,kept", [r[1:] for r in DEFECT_ROWS], ids=[r[0] for r in DEFECT_ROWS])
def test_masked_words_and_merged_numbers_are_defects_never_facts(text, kind, at, never, kept):
    result = extract(_documents(text))
    defects = result.defects.filter(pl.col("kind") == kind).to_dicts()
    assert defects, f"no {kind} defect in {result.defects.to_dicts()}"
    assert any(text[d["char_start"]:].startswith(at) for d in defects), defects
    values = result.observations.get_column("value").to_list()
    for value in never:
        assert not any(abs(v - value) < 1e-6 for v in values), f"{value} stored: {result.observations.to_dicts()}"
    for value in kept:
        assert any(abs(v - value) < 1e-6 for v in values), f"{value} missing: {result.observations.to_dicts()}"
    _assert_as_found(text, result.observations.to_dicts())


@pytest.mark.parametrize("line,reading", [
    ("經(jīng)濟(jì)", "經濟"),
    ("總額【zǒng é】", "總額【zǒng é】"),                 # two syllables in one bracket: not read
    ("生产总值(GDP)增长", "生产总值(GDP)增长"),
    ("指标(a)完成", "指标(a)完成"),                       # no toned pinyin on the line: a label
    ("产(chǎn)业(yè)(a)", "产业(a)"),                      # after a bracket, not after a character
    ("女(nu\u0308\u030c)工", "女工"),                      # decomposed tone marks
    ("GDP 增长", "GDP 增长"),
    ("&amp;&unknown;&#x4e2d;", "&&unknown;中"),
    ("<p>\u3000\u3000全区</p>", "全区"),
])
def test_read_line(line, reading):
    assert read_line(line)[0] == reading


def test_every_line_read_line_changes_is_flagged_for_it():
    lines = ["經(jīng)", "两江</a>新区", "增长 6.1", "a&nbsp;b", "增\u200b长", "**加粗**", "產【chǎn】", "进[jin4]口"]
    flagged = pl.Series(lines).str.contains(MAY_HAVE_NOISE).to_list()
    assert all(flagged)
    assert not any(pl.Series(["增长6.1%", "GDP 增长", "(GDP)增长", "A&B", "3 < 5"]).str.contains(MAY_HAVE_NOISE))


def test_a_noise_free_paragraph_has_no_map():
    paras = paragraphs(_documents("上半年，成都高新区地区生产总值同比增长6.3%。"))
    assert paras.get_column("norm_to_display").to_list() == [None]
    assert paras.get_column("norm").to_list() == ["上半年,成都高新区地区生产总值同比增长6.3%。"]


def test_the_map_points_every_read_character_at_its_place_in_the_paragraph_as_found():
    text = ("上半年，成都高新區實(shí)現(xiàn)地區(qū)生產(chǎn)總值1523.6億元，\n\n"
            "同比增長(zhǎng) 6.3 %，<b>增速</b>居全市前列。\n<div></div>\n下一段。")
    paras = paragraphs(_documents(text))
    first = paras.row(0, named=True)
    assert first["display"] == ("上半年，成都高新區實(shí)現(xiàn)地區(qū)生產(chǎn)總值1523.6億元，"
                                "同比增長(zhǎng) 6.3 %，<b>增速</b>居全市前列。")
    assert first["norm"] == "上半年,成都高新区实现地区生产总值1523.6亿元,同比增长6.3%,增速居全市前列。"
    offsets = np.frombuffer(first["norm_to_display"], dtype=np.int32)
    assert len(offsets) == len(first["norm"]) + 1 and offsets[-1] == len(first["display"])
    assert "".join(first["display"][i] for i in offsets[:-1]) == (
        "上半年，成都高新區實現地區生產總值1523.6億元，同比增長6.3%，增速居全市前列。")
    # the same through the expression the extractor uses
    start, end = first["norm"].index("同比"), first["norm"].index("%") + 1
    sliced = paras.head(1).select(pl.col("display").str.slice(
        display_offset(pl.lit(start)), display_offset(pl.lit(end)) - display_offset(pl.lit(start)))).item()
    assert sliced == "同比增長(zhǎng) 6.3 %"
    assert paras.get_column("display").to_list()[1] == "下一段。"     # the markup-only line is gone


@pytest.mark.parametrize("unit", ["經(jīng)濟(jì)增長(zhǎng)6.1%，", "两江</a></span>新区<font>1.2</font>亿元，",
                                  "地区 生产 总值 1 2 3 ，", "**甲** ", "產【chǎn】&nbsp;增\u200b长", "<a" * 3 + "x" * 190])
def test_reading_a_long_noisy_line_is_linear(unit):
    text = unit * (2_000_000 // len(unit.encode()))          # one 2 MB line
    started = time.monotonic()
    paras = paragraphs(_documents(text))
    assert time.monotonic() - started < 20
    offsets = paras.get_column("norm_to_display").to_list()[0]
    if offsets is not None:
        assert len(offsets) == 4 * (len(paras.get_column("norm")[0]) + 1)


def test_a_tab_between_two_figures_is_a_cell_boundary_not_noise() -> None:
    documents = pl.DataFrame({"document_id": ["t"], "text": ["上半年，某市出口总额\t378.2\t5.5"], "title_source": [None],
                              "published_at": [None]},
                             schema={"document_id": pl.String, "text": pl.String, "title_source": pl.String,
                                     "published_at": pl.Date})
    assert "378.25.5" not in "".join(paragraphs(documents).get_column("norm").to_list())
    assert extract(documents).defects.filter(pl.col("kind") == "merged_number").height == 0


@pytest.mark.parametrize("count", [3, 40])   # a few spans are cut out by slicing, many by NumPy: the same reading
def test_a_line_reads_the_same_however_many_spans_it_loses(count):
    unit = "<b>两</b>&amp;"
    reading, source = read_line(unit * count)
    assert reading == "两&" * count
    assert source.tolist() == [at + len(unit) * k for k in range(count) for at in (3, 8)]


@pytest.mark.parametrize("text,title", [
    ("标题\n正文内容。", (0, False)),                              # the text opens with its title
    ("要闻 > 新闻\n\u3000# 标题\u3000\n正文内容。", (1, False)),     # a heading under a breadcrumb
    ("正文内容。", (0, True)),                                     # not in the text: read, never for facts
])
def test_a_metadata_title_is_the_line_that_repeats_it(text, title):
    documents = pl.DataFrame({"document_id": ["d"], "text": [text], "title": [" # 标题"], "title_source": ["sidecar"]})
    paras = paragraphs(documents)
    assert paras.filter("is_title").select("para_no", "title_only").rows() == [title]
    assert paras.get_column("norm").to_list()[-1] == "正文内容。"
