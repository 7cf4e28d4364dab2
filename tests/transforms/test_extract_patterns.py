"""One row per pattern: a sentence written for the test and the observation(s) it must give.

Each expected observation lists only the fields it pins down; `None` in a field means
the field must be null. Negative rows expect no observation at all.
"""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from transforms.extract import extract

PUB = dt.date(2024, 7, 20)


def observations(text: str, published_at: dt.date | None = PUB, title_source: str | None = None) -> list[dict]:
    documents = pl.DataFrame(
        {"document_id": ["d1"], "text": [text], "title_source": [title_source], "published_at": [published_at]},
        schema={"document_id": pl.String, "text": pl.String, "title_source": pl.String, "published_at": pl.Date},
    )
    return extract(documents).observations.to_dicts()


def assert_contains(found: list[dict], expected: list[dict]) -> None:
    for want in expected:
        matches = [o for o in found if all(
            (o[k] is None if v is None else (abs(o[k] - v) < 1e-6 if isinstance(v, float) else o[k] == v))
            for k, v in want.items())]
        assert matches, f"missing {want}\n  got: {[{k: o[k] for k in want} for o in found]}"


Z = {"entity": "成都高新区"}
H1 = {"year": 2024, "start_month": 1, "end_month": 6}

MEASURE_ROWS = [
    ("yoy", "今年上半年，成都高新区实现地区生产总值同比增长6.3%。",
     [{**Z, **H1, "indicator": "gdp", "measure": "yoy_pct", "value": 6.3, "unit": "percent"}]),
    ("level money 亿元", "上半年，成都高新区实现地区生产总值1523.6亿元。",
     [{**Z, **H1, "indicator": "gdp", "measure": "level", "value": 152_360_000_000.0, "unit": "CNY"}]),
    ("level money 万元", "上半年，成都高新区一般公共预算收入实现85430万元。",
     [{**Z, "indicator": "general_budget_revenue", "measure": "level", "value": 854_300_000.0}]),
    ("level money 万亿元", "上半年，成都高新区外贸进出口总额1.2万亿元。",
     [{**Z, "indicator": "foreign_trade", "measure": "level", "value": 1.2e12}]),
    ("level and yoy share one indicator", "上半年，成都高新区出口总额321.4亿元、增长8.1%。",
     [{**Z, "indicator": "exports", "measure": "level", "value": 32_140_000_000.0},
      {**Z, "indicator": "exports", "measure": "yoy_pct", "value": 8.1}]),
    ("decline is negative", "上半年，成都高新区进口总额下降3.2%。",
     [{**Z, "indicator": "imports", "measure": "yoy_pct", "value": -3.2}]),
    ("同比减少", "上半年，成都高新区固定资产投资同比减少1.5%。",
     [{**Z, "indicator": "fixed_asset_investment", "measure": "yoy_pct", "value": -1.5}]),
    ("增速 达", "上半年，成都高新区规上工业增加值增速达9.4%。",
     [{**Z, "indicator": "industrial_value_added_above_scale", "measure": "yoy_pct", "value": 9.4}]),
    ("增长 N 倍", "上半年，成都高新区技术合同成交额增长1.5倍。",
     [{**Z, "indicator": "technology_contract_value", "measure": "yoy_pct", "value": 150.0}]),
    ("翻一番", "上半年，成都高新区网络零售额实现翻一番。",
     [{**Z, "indicator": "online_retail_sales", "measure": "yoy_pct", "value": 100.0}]),
    ("share of city", "上半年，成都高新区外贸进出口总额占全市比重达62.5%。",
     [{**Z, "indicator": "foreign_trade", "measure": "share_pct", "value": 62.5, "benchmark": "成都市"}]),
    ("diff above city", "上半年，成都高新区GDP增长6.3%，高于全市1.8个百分点。",
     [{**Z, "indicator": "gdp", "measure": "diff_pp", "value": 1.8, "benchmark": "成都市"}]),
    ("diff below province", "上半年，成都高新区社会消费品零售总额增长2.1%，低于全省0.6个百分点。",
     [{**Z, "indicator": "retail_sales", "measure": "diff_pp", "value": -0.6, "benchmark": "四川省"}]),
    ("diff parity", "上半年，成都高新区工业投资增长7%，与全市持平。",
     [{**Z, "indicator": "industrial_investment", "measure": "diff_pp", "value": 0.0, "benchmark": "成都市"}]),
    ("rank", "上半年，成都高新区GDP增速位居全市第一。",
     [{**Z, "indicator": "gdp", "measure": "rank", "value": 1.0, "benchmark": "成都市"}]),
    ("two-year average", "上半年，成都高新区地区生产总值两年平均增长5.6%。",
     [{**Z, "indicator": "gdp", "measure": "yoy_pct_2y_avg", "value": 5.6}]),
    ("target with year", "到2027年，成都高新区力争实现地区生产总值5000亿元。",
     [{**Z, "indicator": "gdp", "measure": "target", "value": 5e11, "year": 2027, "start_month": None}]),
    ("预计 is a target, never a level", "成都高新区预计全年固定资产投资增长10%。",
     [{**Z, "indicator": "fixed_asset_investment", "measure": "target", "value": 10.0}]),
]

QUALIFIER_ROWS = [
    ("超", "上半年，成都高新区实际使用外资超12亿元。", [{**Z, "qualifier": "at_least", "value": 1.2e9}]),
    ("突破", "上半年，成都高新区技术合同交易额突破80亿元。", [{**Z, "qualifier": "at_least", "value": 8e9}]),
    ("以上", "上半年，成都高新区工业投资增长20%以上。", [{**Z, "qualifier": "at_least", "value": 20.0}]),
    ("约", "上半年，成都高新区出口总额约300亿元。", [{**Z, "qualifier": "about", "value": 3e10}]),
    ("近", "上半年，成都高新区进口总额近200亿元。", [{**Z, "qualifier": "about", "value": 2e10}]),
    ("左右", "上半年，成都高新区GDP增长6%左右。", [{**Z, "qualifier": "about", "value": 6.0}]),
    ("不到", "上半年，成都高新区进口总额不到50亿元。", [{**Z, "qualifier": "at_most", "value": 5e9}]),
    ("exact by default", "上半年，成都高新区出口总额300亿元。", [{**Z, "qualifier": "exact"}]),
]

PERIOD_ROWS = [
    ("一季度", "一季度，成都高新区GDP增长5.1%。", [{"start_month": 1, "end_month": 3, "year": 2024}]),
    ("二季度", "二季度，成都高新区GDP增长5.1%。", [{"start_month": 4, "end_month": 6}]),
    ("上半年", "上半年，成都高新区GDP增长5.1%。", [{"start_month": 1, "end_month": 6}]),
    ("前三季度 (last year, published before it ended)", "前三季度，成都高新区GDP增长5.1%。",
     [{"start_month": 1, "end_month": 9, "year": 2023}]),
    ("1-5月", "1-5月，成都高新区GDP增长5.1%。", [{"start_month": 1, "end_month": 5, "year": 2024}]),
    ("1－5月 full-width", "1－5月，成都高新区GDP增长5.1%。", [{"start_month": 1, "end_month": 5}]),
    ("1~5月", "1~5月，成都高新区GDP增长5.1%。", [{"start_month": 1, "end_month": 5}]),
    ("1至5月", "1至5月，成都高新区GDP增长5.1%。", [{"start_month": 1, "end_month": 5}]),
    ("1月至5月", "1月至5月，成都高新区GDP增长5.1%。", [{"start_month": 1, "end_month": 5}]),
    ("1-5月份", "1-5月份，成都高新区GDP增长5.1%。", [{"start_month": 1, "end_month": 5}]),
    ("前5个月", "前5个月，成都高新区GDP增长5.1%。", [{"start_month": 1, "end_month": 5}]),
    ("前五个月", "前五个月，成都高新区GDP增长5.1%。", [{"start_month": 1, "end_month": 5}]),
    ("截至5月底", "截至5月底，成都高新区GDP增长5.1%。", [{"start_month": 1, "end_month": 5}]),
    ("前两月", "前两月，成都高新区GDP增长5.1%。", [{"start_month": 1, "end_month": 2}]),
    ("截至2023年底 is as of, not a plan", "截至2023年底，成都高新区高新技术企业达到5100家。",
     [{"measure": "level", "year": 2023, "start_month": 1, "end_month": 12, "value": 5100.0}]),
    ("single month", "6月，成都高新区出口总额增长5.1%。", [{"start_month": 6, "end_month": 6}]),
    ("今年以来 is open", "今年以来，成都高新区工业投资增长5.1%。", [{"start_month": 1, "end_month": None, "year": 2024}]),
    ("explicit year wins", "2022年一季度，成都高新区GDP增长5.1%。", [{"start_month": 1, "end_month": 3, "year": 2022}]),
    ("去年全年", "去年全年，成都高新区GDP增长5.1%。", [{"start_month": 1, "end_month": 12, "year": 2023}]),
    ("period carries over in the paragraph", "上半年，成都高新区GDP增长5.1%。其中，出口总额增长3%。",
     [{"indicator": "exports", "start_month": 1, "end_month": 6}]),
]

ENTITY_ROWS = [
    ("alias from the vocabulary", "上半年，重庆高新技术产业开发区GDP增长5.1%。", [{"entity": "重庆高新区", "entity_type": "zone"}]),
    ("subject carries over (其中)", "上半年，成都高新区GDP增长5.1%。其中，出口总额增长3%。",
     [{"entity": "成都高新区", "indicator": "exports"}]),
    ("gazetteer zone by its short name", "上半年，绵阳经开区GDP增长5.1%。",
     [{"entity": "绵阳经济技术开发区", "entity_type": "zone"}]),
    ("discovered 经济开发区", "上半年，宁海经济开发区GDP增长5.1%。", [{"entity": "宁海经济开发区", "entity_type": "zone"}]),
    ("discovered 县", "上半年，宜宾县GDP增长5.1%。", [{"entity": "宜宾县", "entity_type": "county"}]),
    ("全市 in a city's own bulletin is the city", "2023年，全市实现地区生产总值2100亿元，比上年增长5.5%。",
     [{"entity": "珠海市", "indicator": "gdp", "measure": "level", "year": 2023}]),
]

ENUMERATION_ROWS = [
    ("三次产业", "上半年，成都高新区一二三产增加值分别增长2.1%、7.5%、6.2%。",
     [{"indicator": "value_added_primary", "value": 2.1}, {"indicator": "value_added_secondary", "value": 7.5},
      {"indicator": "value_added_tertiary", "value": 6.2}]),
    ("segments", "上半年，成都高新区电子信息、生物医药产值分别增长12.1%、8.8%。",
     [{"indicator": "industry_output", "segment": "电子信息", "value": 12.1},
      {"indicator": "industry_output", "segment": "生物医药", "value": 8.8}]),
    ("with 突破", "上半年，成都高新区出口、进口分别突破200亿元、100亿元。",
     [{"indicator": "exports", "value": 2e10, "qualifier": "at_least"},
      {"indicator": "imports", "value": 1e10, "qualifier": "at_least"}]),
]

NUMERAL_ROWS = [
    ("Chinese numeral count", "上半年，成都高新区新增高新技术企业一百六十九家。",
     [{"indicator": "high_tech_enterprises", "value": 169.0, "unit": "count"}]),
    ("两千", "截至6月底，成都高新区研发平台达两千个。", [{"indicator": "rd_platforms", "value": 2000.0}]),
    ("full-width digits", "上半年，成都高新区ＧＤＰ增长６．３％。", [{"indicator": "gdp", "value": 6.3}]),
    ("traditional script, evidence as found", "上半年，成都高新區地區生產總值增長6.3%。",
     [{"entity": "成都高新区", "indicator": "gdp", "value": 6.3}]),
]

NEGATIVE_ROWS = [
    ("a date", "2024年7月18日，成都高新区召开经济形势分析会。"),
    ("a phone number", "咨询电话：028-85331234，成都高新区管委会。"),
    ("plan name", "成都高新区紧扣全市“33618”现代制造业集群体系目标。"),
    ("policy count", "成都高新区出台支持制造业高质量发展十条措施。"),
    ("physical size", "成都高新区规划面积130平方公里，新建厂房4.8万平方米。"),
    ("size class", "成都高新区签约50亿元级项目。"),
    ("period change is not diff_pp", "上半年，成都高新区GDP增速较一季度提升1.2个百分点。"),
    ("contribution is not diff_pp", "上半年，工业投资拉动成都高新区投资增长3.1个百分点。"),
    ("count of another noun", "成都高新区围绕研发平台建设等10个方面出台措施。"),
    ("no subject, no date", "出口额是一个重要指标。"),
]

DEFECT_ROWS = [
    ("lost integer digits", "上半年，成都高新区规上工业总产值实现.9亿元。"),
    ("lost percent digits", "上半年，成都高新区出口总额同比增长%。"),
    ("lost amount digits", "上半年，成都高新区固定资产投资总投资亿元。"),
    ("lost count digits", "上半年，成都高新区引进重大项目个，总投资达.6亿元。"),
]


@pytest.mark.parametrize(("text", "defects"), [
    ("年9月11日，成都高新区建设动员大会召开。", 1),          # the year's digits are gone
    ("今年5月27日，成都高新区建设动员大会召开。", 0),        # a relative year is a whole date
    ("去年9月11日，成都高新区建设动员大会召开。", 0),
])
def test_lost_year_digits_are_told_from_relative_years(text, defects) -> None:
    documents = pl.DataFrame({"document_id": ["d1"], "text": [text], "title_source": [None], "published_at": [PUB]},
                             schema={"document_id": pl.String, "text": pl.String, "title_source": pl.String,
                                     "published_at": pl.Date})
    assert extract(documents).defects.height == defects


@pytest.mark.parametrize("name,text,expected", MEASURE_ROWS + QUALIFIER_ROWS + PERIOD_ROWS + ENTITY_ROWS
                         + ENUMERATION_ROWS + NUMERAL_ROWS, ids=[r[0] for r in MEASURE_ROWS + QUALIFIER_ROWS + PERIOD_ROWS + ENTITY_ROWS + ENUMERATION_ROWS + NUMERAL_ROWS])
def test_pattern(name: str, text: str, expected: list[dict]) -> None:
    published = dt.date(2024, 1, 20) if "bulletin" in name else PUB
    if "bulletin" in name:
        text = "珠海市2023年国民经济和社会发展统计公报\n" + text
    assert_contains(observations(text, published, title_source="first_line" if "bulletin" in name else None),
                    expected)


@pytest.mark.parametrize("name,text", NEGATIVE_ROWS, ids=[r[0] for r in NEGATIVE_ROWS])
def test_gives_nothing(name: str, text: str) -> None:
    assert observations(text) == []


@pytest.mark.parametrize("name,text", DEFECT_ROWS, ids=[r[0] for r in DEFECT_ROWS])
def test_defects_are_reported_not_stored(name: str, text: str) -> None:
    documents = pl.DataFrame({"document_id": ["d1"], "text": [text], "title_source": [None], "published_at": [PUB]},
                             schema={"document_id": pl.String, "text": pl.String, "title_source": pl.String,
                                     "published_at": pl.Date})
    result = extract(documents)
    assert result.observations.height == 0
    assert result.defects.height >= 1


def test_year_is_null_without_any_date() -> None:
    found = observations("上半年，成都高新区GDP增长6.3%。", published_at=None)
    assert found and found[0]["year"] is None


def test_january_rule_full_year() -> None:
    found = observations("全年，成都高新区GDP增长6.3%。", published_at=dt.date(2024, 1, 15))
    assert found[0]["year"] == 2023 and (found[0]["start_month"], found[0]["end_month"]) == (1, 12)


def test_repeated_paragraph_gives_one_observation() -> None:
    paragraph = "上半年，成都高新区出口总额321.4亿元、增长8.1%。"
    found = observations(f"{paragraph}\n\n其他内容。\n\n{paragraph}")
    assert len([o for o in found if o["indicator"] == "exports" and o["measure"] == "yoy_pct"]) == 1


def test_line_broken_mid_sentence_is_joined() -> None:
    found = observations("上半年，成都高新区坚持稳中求进，实现地区生产\n\n总值1523.6亿元，同比增长6.3%。")
    assert_contains(found, [{"indicator": "gdp", "measure": "level", "value": 152_360_000_000.0},
                            {"indicator": "gdp", "measure": "yoy_pct", "value": 6.3}])


def test_caption_and_byline_dropped() -> None:
    text = ("本报记者 张三\n\n上半年，成都高新区出口总额增长8.1%，\n\n"
            "图为成都高新区的生产线。记者 李四 摄\n\n进口总额增长5.5%。")
    found = observations(text)
    assert_contains(found, [{"indicator": "imports", "value": 5.5}])
    assert all("摄" not in o["evidence"] for o in found)


def test_traditional_evidence_kept_as_found() -> None:
    found = observations("上半年，成都高新區地區生產總值增長6.3%。")
    assert "地區生產總值" in found[0]["evidence"]


def test_title_gives_subject_when_body_names_none() -> None:
    found = observations("绵阳经开区上半年经济运行情况\n上半年，地区生产总值增长5.2%。", title_source="first_line")
    assert_contains(found, [{"entity": "绵阳经济技术开发区", "indicator": "gdp", "value": 5.2}])


def _with_title(text: str, title: str, published_at: dt.date) -> list[dict]:
    documents = pl.DataFrame(
        {"document_id": ["d1"], "text": [text], "title": [title], "title_source": ["sidecar"],
         "published_at": [published_at]},
        schema={"document_id": pl.String, "text": pl.String, "title": pl.String, "title_source": pl.String,
                "published_at": pl.Date})
    return extract(documents).observations.to_dicts()


def test_metadata_title_gives_period_and_subject_but_no_facts() -> None:
    found = _with_title("全区固定资产投资同比增长11.2%。", "绵阳经开区1-10月经济运行情况：GDP增长6.5%",
                        dt.date(2024, 11, 20))
    assert_contains(found, [{"entity": "绵阳经济技术开发区", "year": 2024, "start_month": 1, "end_month": 10,
                             "indicator": "fixed_asset_investment", "value": 11.2}])
    assert all(o["indicator"] != "gdp" for o in found), "a title that is not in the text is not evidence"


@pytest.mark.parametrize(("text", "published_at", "year", "months"), [
    ("2023年，成都高新区实现地区生产总值3201.6亿元，同比增长6.3%。", dt.date(2024, 2, 1), 2023, (1, 12)),
    ("记者获悉，2023年，成都高新区GDP同比增长6.3%。", dt.date(2024, 2, 1), 2023, (1, 12)),
    # the year is not over yet: a bare year dates the statement, it does not make it a full year
    ("2024年，成都高新区GDP同比增长6.3%。", dt.date(2024, 7, 1), 2024, (None, None)),
    ("成都高新区2023年GDP同比增长6.3%。", dt.date(2024, 2, 1), 2023, (1, 12)),
    # not opening a clause: the name of a list, neither the period nor its year
    ("成都高新区入选2023年国家名单的企业GDP同比增长6.3%。", dt.date(2024, 2, 1), 2024, (None, None)),
])
def test_bare_year_opening_a_clause_is_the_whole_year_once_it_is_over(text, published_at, year, months) -> None:
    found = [o for o in observations(text, published_at=published_at) if o["measure"] == "yoy_pct"]
    assert found and (found[0]["start_month"], found[0]["end_month"]) == months
    assert found[0]["year"] == year


def test_target_year_does_not_date_the_rest_of_the_paragraph() -> None:
    found = observations("到2027年，成都高新区力争实现产值1000亿元。前三季度，成都高新区GDP增长5.1%。",
                         published_at=dt.date(2024, 10, 20))
    assert_contains(found, [{"measure": "target", "year": 2027, "value": 1e11},
                            {"indicator": "gdp", "measure": "yoy_pct", "year": 2024, "start_month": 1, "end_month": 9}])


@pytest.mark.parametrize(("text", "expected"), [
    ("上半年，成都高新区实现地区生产总值1523.6亿元，按可比价格计算，同比增长6.3%。",
     [{**Z, "indicator": "gdp", "measure": "yoy_pct", "value": 6.3}]),
    ("上半年，成都高新区一般公共预算收入83.5亿元，同口径增长4.1%。",
     [{**Z, "indicator": "general_budget_revenue", "measure": "yoy_pct", "value": 4.1}]),
])
def test_computation_basis_does_not_break_the_clause(text, expected) -> None:
    assert_contains(observations(text), expected)


def test_rounded_bound_restating_the_exact_figure_is_not_a_second_fact() -> None:
    found = observations("上半年，成都高新区规上工业总产值突破千亿元，达到1052亿元，同比增长9.5%。")
    levels = [o for o in found if o["measure"] == "level"]
    assert [(o["value"], o["qualifier"]) for o in levels] == [(105_200_000_000.0, "exact")]


def test_zone_named_with_its_city_is_one_entity_under_that_city() -> None:
    text = ("南京江北新区：上半年主要指标增速领跑全市\n"
            "上半年，江北新区实现地区生产总值1236.6亿元，高于全市2.3个百分点。\n一般公共预算收入83.5亿元。")
    found = observations(text, title_source="first_line")
    assert {o["entity"] for o in found} == {"江北新区"}
    assert_contains(found, [{"indicator": "gdp", "measure": "diff_pp", "value": 2.3, "benchmark": "南京市"},
                            {"indicator": "general_budget_revenue", "measure": "level", "value": 8.35e9}])


@pytest.mark.parametrize("text", [
    "前三季度，绵阳市GDP同比增长6.1%，分别高于全国、全省1.3、0.6个百分点。",
    "前三季度，绵阳市GDP同比增长6.1%，分别高于全国、全省1.3个和0.6个百分点。",
    "前三季度，绵阳市GDP同比增长6.1%，比全国、全省分别高1.3和0.6个百分点。",
    "前三季度，绵阳市GDP同比增长6.1%，高于全国1.3个百分点、全省0.6个百分点。",
])
def test_gaps_to_several_benchmarks_give_one_diff_pp_each(text) -> None:
    gaps = sorted((o["benchmark"], o["value"]) for o in observations(text, published_at=dt.date(2024, 10, 22))
                  if o["measure"] == "diff_pp")
    assert gaps == [("中国", 1.3), ("四川省", 0.6)]


def test_gaps_below_several_benchmarks_are_negative() -> None:
    found = observations("前三季度，绵阳市GDP同比增长4.1%，比全国、全省分别低0.7和0.4个百分点。")
    assert sorted(o["value"] for o in found if o["measure"] == "diff_pp") == [-0.7, -0.4]


@pytest.mark.parametrize(("text", "months"), [
    ("11月末，绵阳市金融机构本外币存款余额8123.4亿元。", (1, 11)),
    ("截至6月底，绵阳市金融机构本外币存款余额8123.4亿元。", (1, 6)),
])
def test_a_stock_at_the_end_of_a_month_covers_the_year_so_far(text, months) -> None:
    found = observations(text)
    assert [(o["start_month"], o["end_month"]) for o in found] == [months]


def test_sector_growth_without_the_word_value_added_and_sector_investment_apart() -> None:
    found = observations("上半年，绵阳市第二产业增长9.1%，第三产业投资增长1.1%。")
    assert_contains(found, [{"indicator": "value_added_secondary", "value": 9.1},
                            {"indicator": "fixed_asset_investment", "segment": "第三产业投资", "value": 1.1}])


@pytest.mark.parametrize(("text", "expected"), [
    ("上半年，成都高新区GDP同比增长-2.1%。", {"indicator": "gdp", "measure": "yoy_pct", "value": -2.1}),
    ("上半年，成都高新区GDP增长3-5%。", {"indicator": "gdp", "measure": "yoy_pct", "value": 3.0, "qualifier": "at_least"}),
    ("上半年，成都高新区规模工业增加值同比增长8.3%。",
     {"indicator": "industrial_value_added_above_scale", "measure": "yoy_pct", "value": 8.3}),
    ("1至10月，成都高新区实现规模工业总产值2866亿元。",
     {"indicator": "industrial_output_above_scale", "measure": "level", "value": 2.866e11}),
    ("上半年，成都高新区地区生产总值同比增长7.6%，居全市首位。",
     {"indicator": "gdp", "measure": "rank", "value": 1.0, "benchmark": "成都市"}),
    ("2024年，郑州航空港区外贸进出口总值4021.2亿元，位列全省榜首。",
     {"entity": "郑州航空港区", "indicator": "foreign_trade", "measure": "rank", "value": 1.0}),
    # the verb after an industry's name is not part of the segment
    ("上半年，成都高新区电子信息产业实现产值1865亿元。",
     {"indicator": "industry_output", "segment": "电子信息产业", "measure": "level", "value": 1.865e11}),
    # above-quota retail is a part of retail sales, not the whole: the parent with a segment
    ("上半年，成都高新区限额以上社会消费品零售额同比增长4.9%。",
     {"indicator": "retail_sales", "segment": "限额以上社会消费品零售额", "measure": "yoy_pct", "value": 4.9}),
])
def test_signed_rates_ranges_and_regional_names_of_indicators(text, expected) -> None:
    assert_contains(observations(text), [expected])


def test_first_place_without_a_rank_verb_is_not_a_rank() -> None:
    found = observations("上半年，我们始终把创新摆在首位，成都高新区GDP增长6%。")
    assert [o["measure"] for o in found] == ["yoy_pct"]


def test_enterprise_with_parent_region() -> None:
    text = "上半年，成都高新区的四川长虹电子有限公司产值增长15.2%。"
    result = extract(pl.DataFrame({"document_id": ["d1"], "text": [text], "title_source": [None], "published_at": [PUB]},
                                  schema={"document_id": pl.String, "text": pl.String, "title_source": pl.String,
                                          "published_at": pl.Date}))
    enterprise = [o for o in result.observations.to_dicts() if o["entity_type"] == "enterprise"]
    assert enterprise and enterprise[0]["entity"] == "四川长虹电子有限公司"
    parents = dict(result.entities.select("name", "parent").iter_rows())
    assert parents["四川长虹电子有限公司"] == "成都高新区"


BULLETIN = """2023年台州市国民经济和社会发展统计公报
台州市统计局
一、综合
初步核算，全市实现地区生产总值6240.7亿元，按可比价格计算，比上年增长6.1%。其中，第一产业增加值310.2亿元，增长3.2%；第二产业增加值2790.4亿元，增长5.9%；第三产业增加值3140.1亿元，增长6.6%。
二、工业和投资
全年规模以上工业实现增加值1702.5亿元，比上年增长7.4%。全年固定资产投资比上年增长5.2%，其中民间投资增长1.1%，增速比前三季度回落0.4个百分点。
三、对外经济
全年货物进出口总额2620.3亿元，比上年增长4.4%。其中，出口总额2250.8亿元，增长5.1%；进口总额369.5亿元，下降0.8%。
"""


def test_city_bulletin_genre() -> None:
    found = observations(BULLETIN, dt.date(2024, 3, 18), title_source="first_line")
    full_year = {"entity": "台州市", "year": 2023, "start_month": 1, "end_month": 12}
    assert_contains(found, [
        {**full_year, "indicator": "gdp", "measure": "level", "value": 624_070_000_000.0},
        {**full_year, "indicator": "gdp", "measure": "yoy_pct", "value": 6.1},
        {**full_year, "indicator": "value_added_primary", "measure": "yoy_pct", "value": 3.2},
        {**full_year, "indicator": "value_added_tertiary", "measure": "level", "value": 314_010_000_000.0},
        {**full_year, "indicator": "industrial_value_added_above_scale", "measure": "level", "value": 170_250_000_000.0},
        {**full_year, "indicator": "fixed_asset_investment", "measure": "yoy_pct", "value": 5.2},
        {**full_year, "indicator": "fixed_asset_investment", "segment": "民间投资", "measure": "yoy_pct", "value": 1.1},
        {**full_year, "indicator": "imports", "measure": "yoy_pct", "value": -0.8},
    ])
    assert all(o["measure"] != "diff_pp" for o in found), "a change between periods is not a diff_pp"
    assert len(found) == 18


NOISE_ROWS = [
    ("leftover markup and entities", "上半年，<b>成都高新区</b>实现地区生产总值同比增长&nbsp;6.3%。<br/>",
     [{"entity": "成都高新区", "indicator": "gdp", "value": 6.3}]),
    ("spaces inside a figure", "上半年，成都高新区地区 生产总值 同比增长 6.3 %。",
     [{"entity": "成都高新区", "indicator": "gdp", "value": 6.3}]),
    ("invisible characters", "上半年，成都\u200b高新区出口总额\ufeff321.4亿元。",
     [{"entity": "成都高新区", "indicator": "exports", "value": 32_140_000_000.0}]),
    ("truncated ending", "上半年，成都高新区出口总额增长8.1%，进口总额增",
     [{"entity": "成都高新区", "indicator": "exports", "value": 8.1}]),
]


@pytest.mark.parametrize("name,text,expected", NOISE_ROWS, ids=[r[0] for r in NOISE_ROWS])
def test_noisy_scrape(name: str, text: str, expected: list[dict]) -> None:
    assert_contains(observations(text), expected)


def test_second_enumeration_reuses_the_listed_items() -> None:
    found = observations("前三季度，西安高新区货物进出口总额、出口总额分别为1560.2亿元、980.4亿元，分别增长6.2%、9.8%。")
    assert_contains(found, [
        {"indicator": "foreign_trade", "measure": "level", "value": 156_020_000_000.0},
        {"indicator": "exports", "measure": "level", "value": 98_040_000_000.0},
        {"indicator": "foreign_trade", "measure": "yoy_pct", "value": 6.2},
        {"indicator": "exports", "measure": "yoy_pct", "value": 9.8},
    ])


@pytest.mark.parametrize("text,value", [
    ("上半年，成都高新区GDP增长8%，增速比全市高2.1个百分点。", 2.1),
    ("上半年，成都高新区GDP增长3%，较全市低0.4个百分点。", -0.4),
    ("上半年，成都高新区GDP增长8%，增速快于全市2.1个百分点。", 2.1),
])
def test_comparison_with_the_city_written_before_the_direction(text: str, value: float) -> None:
    assert_contains(observations(text), [{"indicator": "gdp", "measure": "diff_pp", "value": value,
                                          "benchmark": "成都市"}])
