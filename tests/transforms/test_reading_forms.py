"""The forms real articles use (issue 15), one row per rule, on sentences written for the test.

Each row is a rule of the language, not of one article: the place names and figures are
invented. See test_extract_patterns.py for the row conventions.
"""
from __future__ import annotations

import datetime as dt

import pytest

from tests.transforms.test_extract_patterns import assert_contains, observations

H1 = {"year": 2024, "start_month": 1, "end_month": 6}

ROWS = [
    ("a city's short form is the city, not the county of its name", "上半年，湘潭GDP同比增长5.3%。",
     [{"entity": "湘潭市", "indicator": "gdp", "value": 5.3}]),
    ("a second 分别 reuses the listed places",
     "上半年，长沙、株洲、湘潭三市GDP分别为7120亿元、1750亿元、1380亿元，分别增长4.9%、5.6%和5.3%。",
     [{"entity": "长沙市", "measure": "yoy_pct", "value": 4.9}, {"entity": "株洲市", "measure": "yoy_pct", "value": 5.6},
      {"entity": "湘潭市", "measure": "yoy_pct", "value": 5.3}]),
    ("a list before a basis phrase", "前三季度，宜宾市规上工业总产值、固定资产投资分别比上年同期增长12.3%和8.9%。",
     [{"indicator": "industrial_output_above_scale", "value": 12.3},
      {"indicator": "fixed_asset_investment", "value": 8.9}]),
    ("a remark after a comma is not one more item",
     "上半年，宜宾、泸州、内江固定资产投资增速分别为8.1%、7.4%、6.9%，均超过两位数。",
     [{"entity": "内江市", "value": 6.9}]),
    ("an industry's segment carries to the numbers after it", "1-10月，株洲市高新技术产业产值2100.5亿元，增长9.1%。",
     [{"indicator": "industry_output", "segment": "高新技术产业", "measure": "yoy_pct", "value": 9.1}]),
    ("an indicator form with two gaps", "1-11月，宜宾市32户规模以上入园工业企业实现产值65.2亿元，增长16.9%。",
     [{"indicator": "industrial_output_above_scale", "measure": "level", "value": 6_520_000_000.0}]),
    ("points gained on the same period last year change a share, not a gap",
     "1-11月，宜宾市工业园区产值占全市比重达55.3%，较同期提高1.2个百分点。",
     [{"indicator": "industry_output", "measure": "share_pct", "value": 55.3}]),
    ("a note in brackets after a figure does not stop its indicator",
     "前三季度，宜宾市实现合同外资1.2亿美元（商务部口径），同比下降19.6%。",
     [{"indicator": "contracted_foreign_capital", "measure": "yoy_pct", "value": -19.6}]),
    ("a conversion basis names nothing", "全年宜宾市人均地区生产总值45102元，按年平均汇率计算为6791美元，增长3.2%。",
     [{"indicator": "gdp_per_capita", "measure": "yoy_pct", "value": 3.2}]),
    ("a component after its total with 其中 and a comma",
     "全年宜宾市一般公共预算收入70.5亿元，其中，税收收入52.9亿元。",
     [{"indicator": "general_budget_revenue", "segment": "税收收入", "value": 5_290_000_000.0}]),
    ("a stretch of time is not the period of what follows", "上半年，宜宾GDP增长6.1%，经过二季度后，增速达到6.1%。",
     [{"start_month": 1, "end_month": 6, "indicator": "gdp", "value": 6.1}]),
    ("两位数 is at least ten percent", "一季度，宜宾的GDP增速达到了两位数。",
     [{"entity": "宜宾市", "indicator": "gdp", "measure": "yoy_pct", "value": 10.0, "qualifier": "at_least"}]),
    ("a rate after a conjunction continues the paragraph's topic",
     "上半年，宜宾GDP领先泸州。尽管宜宾的体量更大，但泸州的增速达到6.4%。",
     [{"entity": "泸州市", "indicator": "gdp", "measure": "yoy_pct", "value": 6.4}]),
    ("a pull named in an earlier clause leaves the growth rate alone",
     "上半年，受锂电池出口拉动，宜宾出口增长达到41.6%。",
     [{"entity": "宜宾市", "indicator": "exports", "measure": "yoy_pct", "value": 41.6}]),
    ("a parenthetical scope inside a place list is not an item",
     "上半年，宜宾（不含兴文）、泸州、内江固定资产投资增速分别为8.1%、7.4%、6.9%。",
     [{"entity": "宜宾市", "value": 8.1}, {"entity": "泸州市", "value": 7.4}, {"entity": "内江市", "value": 6.9}]),
    ("和 before a place joins the list, it does not start a name",
     "上半年，马鞍山、蚌埠和安庆GDP分别增长2.8%、10.8%和9.4%。",
     [{"entity": "安庆市", "indicator": "gdp", "value": 9.4}]),
    ("items that are each an indicator share nothing",
     "上半年，绵阳市进出口总值和全社会固定资产投资分别增长19.3%和20.5%。",
     [{"indicator": "foreign_trade", "segment": None, "value": 19.3},
      {"indicator": "fixed_asset_investment", "segment": None, "value": 20.5}]),
    ("a component after its total with 其中",
     "前三季度，宜宾市一般公共预算收入52.1亿元，其中税收收入39.4亿元，下降8.0%。",
     [{"indicator": "general_budget_revenue", "segment": "税收收入", "measure": "level", "value": 3_940_000_000.0},
      {"indicator": "general_budget_revenue", "segment": "税收收入", "measure": "yoy_pct", "value": -8.0}]),
    ("the same component on its own keeps its code", "前三季度，宜宾市实现税收收入39.4亿元。",
     [{"indicator": "tax_revenue", "segment": None, "value": 3_940_000_000.0}]),
    ("trade with a partner is a segment of the subject's trade", "一季度，我国对东盟进出口1.2万亿元，同比增长9.1%。",
     [{"entity": "中国", "indicator": "foreign_trade", "segment": "东盟", "measure": "yoy_pct", "value": 9.1}]),
    ("a count of something else does not stop the list's indicator",
     "1-7月，宜宾经济技术开发区主营业务收入410.5亿元，在全省100个工业园区中排第六位；江安工业园区215.3亿元。",
     [{"entity": "江安工业园区", "indicator": "main_business_revenue", "value": 21_530_000_000.0}]),
    ("a breakdown is its parent indicator with the form as segment",
     "上半年，绵阳市基础设施投资增长12.5%，民间投资下降3.1%。",
     [{"indicator": "fixed_asset_investment", "segment": "基础设施投资", "value": 12.5},
      {"indicator": "fixed_asset_investment", "segment": "民间投资", "value": -3.1}]),
    ("a breakdown's segment carries to the next number of the sentence",
     "上半年，绵阳市制造业投资完成210.4亿元，增长9.9%。",
     [{"indicator": "fixed_asset_investment", "segment": "制造业投资", "measure": "level", "value": 21_040_000_000.0},
      {"indicator": "fixed_asset_investment", "segment": "制造业投资", "measure": "yoy_pct", "value": 9.9}]),
    ("new tier-1 codes", "上半年，绵阳市财政总收入85.2亿元，实际利用内资120.5亿元，农民人均纯收入8650元。",
     [{"indicator": "fiscal_revenue", "value": 8_520_000_000.0},
      {"indicator": "utilized_domestic_capital", "value": 12_050_000_000.0},
      {"indicator": "rural_net_income_per_capita", "value": 8650.0}]),
    ("dollars stay dollars", "上半年，绵阳市协议外资3.2亿美元，同比增长15.1%。",
     [{"indicator": "contracted_foreign_capital", "measure": "level", "value": 320_000_000.0, "unit": "USD"}]),
    ("Chinese-numeral month range", "一至七月，绵阳市工业总产值完成905.6亿元。",
     [{"start_month": 1, "end_month": 7, "indicator": "industrial_output", "value": 90_560_000_000.0}]),
    ("no change on the year is a growth of zero", "1至11月份，绵阳市进出口总额120.3亿元，同比持平。",
     [{"start_month": 1, "end_month": 11, "indicator": "foreign_trade", "measure": "yoy_pct", "value": 0.0}]),
    ("nominal growth is growth", "上半年，绵阳市地区生产总值同比名义增长6.4%。",
     [{"indicator": "gdp", "measure": "yoy_pct", "value": 6.4}]),
    ("同增 in headlines", "上半年绵阳市外贸进出口同增12.1%。",
     [{"indicator": "foreign_trade", "measure": "yoy_pct", "value": 12.1}]),
    ("the numbers after 分别 take the indicators named before them",
     "上半年，绵阳市完成地区生产总值1520亿元、工业总产值2210亿元，分别增长6.1%和8.3%。",
     [{"indicator": "gdp", "measure": "yoy_pct", "value": 6.1},
      {"indicator": "industrial_output", "measure": "yoy_pct", "value": 8.3}]),
    ("a list of places before 分别", "上半年，宜宾、泸州、内江固定资产投资增速分别为8.1%、7.4%、6.9%。",
     [{"entity": "宜宾市", "indicator": "fixed_asset_investment", "value": 8.1},
      {"entity": "泸州市", "indicator": "fixed_asset_investment", "value": 7.4},
      {"entity": "内江市", "indicator": "fixed_asset_investment", "value": 6.9}]),
    ("a bare rate continues the paragraph's topic", "上半年，宜宾GDP同比增长4.9%，泸州的增速达到5.6%。",
     [{"entity": "泸州市", "indicator": "gdp", "measure": "yoy_pct", "value": 5.6}]),
    ("a benchmark's own rate in brackets", "上半年，宜宾市GDP增长5.9%，高于全省平均水平（4.1%）。",
     [{"entity": "四川省", "indicator": "gdp", "measure": "yoy_pct", "value": 4.1}]),
    ("a rounded rate restating the exact one is one fact",
     "一季度，绵阳市外贸进出口增长超过10%。一季度，绵阳市外贸进出口增长10.8%。",
     [{"indicator": "foreign_trade", "measure": "yoy_pct", "value": 10.8, "qualifier": "exact"}]),
    ("parts introduced by 分…看 belong to the paragraph's indicator",
     "1-6月，绵阳市固定资产投资增长3.6%。分产业看：第一产业增长21.5%，第二产业增长4.4%。",
     [{"indicator": "fixed_asset_investment", "segment": "第一产业", "value": 21.5},
      {"indicator": "fixed_asset_investment", "segment": "第二产业", "value": 4.4}]),
]


@pytest.mark.parametrize("name,text,expected", ROWS, ids=[r[0] for r in ROWS])
def test_form(name: str, text: str, expected: list[dict]) -> None:
    assert_contains(observations(text), expected)


def test_a_breakdown_never_gets_a_code_of_its_own() -> None:
    found = observations("上半年，绵阳市房地产开发投资下降8.2%，高技术产业投资增长20.1%。")
    assert {o["indicator"] for o in found} == {"fixed_asset_investment"}
    assert {o["segment"] for o in found} == {"房地产开发投资", "高技术产业投资"}


def test_a_rounded_restatement_is_not_kept() -> None:
    found = observations("一季度，绵阳市外贸进出口增长超过10%。一季度，绵阳市外贸进出口增长10.8%。")
    assert [o["value"] for o in found if o["measure"] == "yoy_pct"] == [10.8]


def test_a_margin_is_not_a_level() -> None:
    found = observations("上半年，宜宾市GDP以近百亿元领先泸州，两市差距扩大到120亿元。")
    assert [o for o in found if o["measure"] == "level"] == []


def test_a_place_after_a_comparison_verb_is_not_the_next_subject() -> None:
    text = ("上半年，宜宾市GDP增长5.9%，分别高于全国、全省0.9和1.8个百分点。"
            "其中，第二产业增加值812.4亿元，增长7.2%。")
    found = observations(text)
    assert_contains(found, [{"entity": "宜宾市", "indicator": "value_added_secondary", "value": 7.2}])
    assert all(o["entity"] == "宜宾市" for o in found)


def test_a_dateline_place_is_not_the_subject() -> None:
    text = "新华社北京7月15日电 国家统计局今日发布数据，上半年全国规模以上工业增加值同比增长6.0%。"
    found = observations(text)
    assert_contains(found, [{"entity": "中国", "indicator": "industrial_value_added_above_scale", "value": 6.0}])


def test_groups_of_zones_are_subjects() -> None:
    text = ("湖南省12个国家级经开区前三季度进出口增长8%\n"
            "前三季度，全省12个国家级经济技术开发区实现进出口总额1203.5亿元，同比增长8%。")
    found = observations(text, title_source="first_line")
    assert_contains(found, [{"entity": "湖南省国家级经济技术开发区", "indicator": "foreign_trade",
                             "measure": "level", "value": 120_350_000_000.0}])


def test_a_national_group_needs_no_place() -> None:
    found = observations("前三季度，169家国家高新区实现园区生产总值11.2万亿元，同比增长6.1%。")
    assert_contains(found, [{"entity": "国家高新区", "indicator": "gdp", "value": 11.2e12}])


def test_the_leads_period_and_year_cover_later_paragraphs() -> None:
    text = ("据统计，2019年1—8月全市工业园区运行平稳。\n"
            "宜宾市工业园区实现主营业务收入1203.4亿元，同比增长9.1%。")
    found = observations(text, published_at=None)
    assert_contains(found, [{"year": 2019, "start_month": 1, "end_month": 8, "indicator": "main_business_revenue",
                             "value": 120_340_000_000.0}])


def test_the_titles_year_dates_a_body_that_states_none() -> None:
    text = ("2023年1-10月鄞州区经济运行简况\n"
            "1-10月，全区完成固定资产投资125.6亿元，同比增长8.2%。")
    found = observations(text, published_at=None, title_source="first_line")
    assert_contains(found, [{"entity": "鄞州区", "year": 2023, "start_month": 1, "end_month": 10,
                             "indicator": "fixed_asset_investment", "measure": "yoy_pct", "value": 8.2}])
    # a repost a year on: the title's year, not the publication's
    found = observations(text, published_at=dt.date(2024, 11, 20), title_source="first_line")
    assert {o["year"] for o in found} == {2023}
    # a year the body's lead states outranks the title's
    text = ("鄞州区经济运行简况（2023年）\n"
            "2022年1-10月，全区固定资产投资同比增长8.2%。")
    found = observations(text, published_at=None, title_source="first_line")
    assert {o["year"] for o in found} == {2022}


def test_growth_against_an_earlier_year_is_not_yoy() -> None:
    found = observations("1-7月，宜宾市固定资产投资同比增长6.2%，比2019年1-7月增长15.5%。", dt.date(2021, 8, 20))
    assert [(o["year"], o["measure"], o["value"]) for o in found] == [(2021, "yoy_pct", 6.2)]


def test_a_kind_of_firm_is_not_the_indicator() -> None:
    found = observations("一季度，我国出口企业申领原产地证书12.5万份，进口国关税减让3.1亿元。")
    assert [o for o in found if o["indicator"] in ("exports", "imports")] == []


def test_a_scope_word_in_a_guiding_phrase_is_not_the_subject() -> None:
    text = ("宜宾经济技术开发区以全市科技大会精神为指导，优化投资环境。"
            "上半年，新批外资企业18家，实际利用外资1.6亿美元，同比增长12.1%。")
    found = observations(text)
    assert {o["entity"] for o in found} == {"宜宾经济技术开发区"}


def test_a_planning_office_is_not_a_plan() -> None:
    found = observations("据市规划局数据，前三季度宜宾市地区生产总值达到2510.3亿元。")
    assert [o["measure"] for o in found] == ["level"]


def test_what_will_happen_is_a_target() -> None:
    found = observations("根据预测，2025年宜宾市经济总量会突破4000亿元。")
    assert [o["measure"] for o in found] == ["target"]


def test_a_citys_parks_as_one_group() -> None:
    found = observations("宜宾市工业经济运行情况\n1-7月，全市园区实现主营业务收入1203.4亿元，同比增长9.1%。",
                         title_source="first_line")
    assert_contains(found, [{"entity": "宜宾市工业园区", "indicator": "main_business_revenue",
                             "value": 120_340_000_000.0}])


def test_points_on_the_same_period_are_no_gap() -> None:
    found = observations("1-11月，宜宾市工业园区产值占全市比重达55.3%，较同期提高1.2个百分点。")
    assert [o for o in found if o["measure"] == "diff_pp"] == []


def test_an_inline_section_marker_starts_a_new_subject_stretch() -> None:
    text = ("宜宾市产业园区发展成效显著\n"
            "(一)园区建设顺利推进。其中，宜宾经济开发区累计完成投资近1000万元。"
            "(二)园区经济健康运行。1-11月，园区规模以上工业企业实现产值88亿元，增长26.9%。")
    found = observations(text, title_source="first_line")
    assert_contains(found, [{"entity": "宜宾市产业园区", "indicator": "industrial_output_above_scale",
                             "measure": "yoy_pct", "value": 26.9}])

