"""Tests for transforms.read_markdown: Markdown forms read through parse_documents (markdown-it-py)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from tests.transforms.test_documents import one_doc, parse_one, raw_frame
from transforms.documents import parse_documents
from transforms.extract import extract


def test_a_pipe_table_reads_one_row_per_line_cells_joined_by_tab():
    md = (
        "# 南通市前三季度经济简况\n"
        "\n"
        "南通市2024年前三季度主要指标\n"
        "| 指标 | 绝对额(亿元) | 同比增长(%) |\n"
        "|:---|---:|---:|\n"
        "| 地区生产总值 | 8635.2 | 5.9 |\n"
        "| 一般公共预算收入 | **512.7** | 4.3 |\n"
        "\n"
        "全市经济运行总体平稳。\n"
    )
    row = one_doc("nt.md", md)
    assert row["format"] == "markdown"
    assert row["text"] == (
        "南通市前三季度经济简况\n"
        "\n"
        "南通市2024年前三季度主要指标\n"
        "指标\t绝对额(亿元)\t同比增长(%)\n"
        "地区生产总值\t8635.2\t5.9\n"
        "一般公共预算收入\t512.7\t4.3\n"
        "\n"
        "全市经济运行总体平稳。"
    )


def test_the_table_rows_are_read_as_facts():
    md = (
        "# 南通市前三季度经济简况\n\n南通市2024年1-9月主要经济指标\n\n"
        "| 指标 | 绝对额(亿元) | 同比增长(%) |\n|---|---:|---:|\n| 地区生产总值 | 8635.2 | 5.9 |\n"
    )
    docs, _ = parse_documents(raw_frame({"path": "nt.md", "content": md, "sidecar": {"published_at": "2024-10-25"}}))
    found = {(o["indicator"], o["measure"], o["value"]) for o in extract(docs).observations.to_dicts()}
    assert ("gdp", "level", 863_520_000_000.0) in found and ("gdp", "yoy_pct", 5.9) in found


def test_nested_list_items_are_one_per_line_and_ordered_items_keep_their_number():
    md = (
        "# 海门区经济运行\n"
        "\n"
        "- 工业\n"
        "  - 规上工业增加值增长7.2%\n"
        "  - 工业投资增长9.1%\n"
        "- 服务业\n"
        "  1. 营利性服务业营业收入增长6.4%\n"
        "  2. 其他服务业增长3.3%\n"
    )
    assert one_doc("hm.md", md)["text"] == (
        "海门区经济运行\n"
        "\n"
        "工业\n"
        "规上工业增加值增长7.2%\n"
        "工业投资增长9.1%\n"
        "服务业\n"
        "1. 营利性服务业营业收入增长6.4%\n"
        "2. 其他服务业增长3.3%"
    )


def test_a_link_inside_a_place_name_reads_as_the_whole_name():
    md = (
        "# 开发区简况\n\n"
        "[南通](https://example.cn/nt)经济技术开发区前三季度实现地区生产总值1021.5亿元。\n"
        "南通[经济技术开发区](https://example.cn/kfq \"开发区\")进出口总额增长4.4%。\n"
    )
    assert one_doc("kfq.md", md)["text"].split("\n")[2:] == [
        "南通经济技术开发区前三季度实现地区生产总值1021.5亿元。",
        "南通经济技术开发区进出口总额增长4.4%。",
    ]


def test_emphasis_inside_a_number_reads_as_the_number():
    md = "# 开发区简况\n\n2024年前三季度，南通经济技术开发区地区生产总值增长1**2**.5%，税收收入3*8*0.2亿元。\n"
    row = one_doc("kfq.md", md, sidecar={"published_at": "2024-10-25"})
    assert row["text"].endswith("地区生产总值增长12.5%，税收收入380.2亿元。")
    docs, _ = parse_one("kfq.md", md, sidecar={"published_at": "2024-10-25"})
    found = {(o["indicator"], o["measure"], o["value"]) for o in extract(docs).observations.to_dicts()}
    assert ("gdp", "yoy_pct", 12.5) in found


@pytest.mark.parametrize("line,text", [
    ("**地区生产总值（GDP）**同比增长5.9%。", "地区生产总值（GDP）同比增长5.9%。"),
    ("落实**“十四五”**规划，投资增长**8.1%**。", "落实“十四五”规划，投资增长8.1%。"),
    ("增长*5.9%*，高于全省：__0.7个百分点__。", "增长5.9%，高于全省：0.7个百分点。"),
    ("全省__0.7__个百分点", "全省__0.7__个百分点"),  # "_" inside a word is no emphasis (CommonMark)
    ("变量名 snake_case_name 与 2*3*4 保持原样", "变量名 snake_case_name 与 234 保持原样"),
])
def test_emphasis_next_to_cjk_punctuation_is_read_as_text(line, text):
    assert one_doc("e.md", "# 标题\n\n" + line + "\n")["text"] == "标题\n\n" + text


def test_front_matter_gives_title_date_and_url():
    md = (
        "---\n"
        "title: 南通经济技术开发区前三季度经济运行简况\n"
        "date: 2024-10-28 09:30:00\n"
        "source_url: https://example.cn/nt/a.html\n"
        "tags: [经济, 南通]\n"
        "---\n"
        "前三季度，开发区经济运行稳中有进。\n"
    )
    row = one_doc("fm.md", md)
    assert (row["title"], row["title_source"]) == ("南通经济技术开发区前三季度经济运行简况", "front_matter")
    assert (row["published_at"], row["date_source"]) == (dt.date(2024, 10, 28), "front_matter")
    assert row["source_url"] == "https://example.cn/nt/a.html"
    assert row["text"] == "前三季度，开发区经济运行稳中有进。"
    sidecar = one_doc("fm.md", md, sidecar={"title": "侧车标题", "published_at": "2024-11-01"})
    assert (sidecar["title_source"], sidecar["published_at"]) == ("sidecar", dt.date(2024, 11, 1))


def test_markup_only_lines_go_and_blank_lines_stay():
    md = (
        "# 标题 #\n"
        "![开发区全景](img/a.jpg)\n"
        "第一段第一行，\n"
        "第一段第二行。\n"
        "\n"
        "***\n"
        "\n"
        "```\n"
        "代码里的 **星号** 原样保留\n"
        "```\n"
        "> 引用里的[链接](https://example.cn)。\n"
        ">\n"
        "> 引用第二段。\n"
        "\n"
        "[ref]: https://example.cn/ref\n"
        "见[参考][ref]，转义的\\*星号\\*与&amp;实体。\n"
    )
    assert one_doc("m.md", md)["text"] == (
        "标题\n"
        "第一段第一行，\n"
        "第一段第二行。\n"
        "\n"
        "\n"
        "代码里的 **星号** 原样保留\n"
        "引用里的链接。\n"
        "\n"
        "引用第二段。\n"
        "\n"
        "见参考，转义的*星号*与&实体。"
    )


def test_raw_html_in_markdown_is_read_as_html():
    md = (
        "---\ntitle: 转载\n---\n"
        "<div>\n<p>　　开发区实现营业收入<font>1</font>2.5亿元。</p><style>.a{color:red}</style>\n"
        "<p>第二段<br>换行</p>\n</div>\n"
        "\n"
        "正文里的<span>行内标签</span>与<br>换行。\n"
    )
    assert one_doc("h.md", md)["text"] == (
        "　　开发区实现营业收入12.5亿元。\n第二段\n换行\n\n正文里的行内标签与\n换行。"
    )


@pytest.mark.parametrize("body", [
    "![" * 200_000,                        # markdown-it-py's costliest input, over the budget
    "- " * 500_000 + "x",                  # nests lists 100 deep and rescans the line per level
    "![" * 4_000 + "\n" + "> " * 3_000 + "深处。\n",  # within the budget: rendered, bounded nesting
])
def test_hostile_markdown_is_bounded_and_keeps_a_document(body):
    md = "# 标题\n\n" + body + "\n\n后文：地区生产总值增长5.9%。\n"
    start = time.perf_counter()
    row = one_doc("x.md", md)
    assert time.perf_counter() - start < 5.0
    assert row["format"] == "markdown"
    assert row["text"].endswith("后文：地区生产总值增长5.9%。")
