"""Tests for transforms.documents: bytes in, (documents, quarantine) frames out."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time

import polars as pl
import pytest

from transforms.documents import (
    DOCUMENT_SCHEMA,
    QUARANTINE_SCHEMA,
    RAW_FILE_SCHEMA,
    parse_documents,
)

MIB = 1024 * 1024
BODY = "今年上半年，全区实现地区生产总值356.2亿元，同比增长6.3%。"


# --------------------------------------------------------------------------- helpers


def raw_frame(*files: dict) -> pl.DataFrame:
    """Build an inbox frame. Each file: path, content (bytes|str), and optionally
    sidecar (bytes|str|dict), read_error, size_bytes."""
    rows = []
    for f in files:
        content = f.get("content")
        if isinstance(content, str):
            content = content.encode("utf-8")
        sidecar = f.get("sidecar")
        if isinstance(sidecar, dict):
            sidecar = json.dumps(sidecar, ensure_ascii=False)
        if isinstance(sidecar, str):
            sidecar = sidecar.encode("utf-8")
        rows.append(
            {
                "path": f["path"],
                "content": content,
                "size_bytes": f.get("size_bytes", len(content) if content is not None else 0),
                "sha256": hashlib.sha256(content or b"").hexdigest(),
                "sidecar": sidecar,
                "read_error": f.get("read_error"),
            }
        )
    return pl.DataFrame(rows, schema=RAW_FILE_SCHEMA)


def parse_one(path: str = "a.txt", content: bytes | str = BODY, **kw):
    return parse_documents(raw_frame({"path": path, "content": content, **kw}))


def one_doc(path: str = "a.txt", content: bytes | str = BODY, **kw) -> dict:
    docs, quarantine = parse_one(path, content, **kw)
    assert quarantine.height == 0, quarantine.select("reason", "detail").rows()
    assert docs.height == 1
    return docs.row(0, named=True)


def assert_fields(row: dict, **want) -> None:
    """The named fields of a document row have these values (the others are not looked at)."""
    assert {name: row[name] for name in want} == want


def by_date(table: dict[dt.date | None, list[str]]) -> list:
    """``(text, date)`` params from texts grouped under the date each must give (``None``: no date)."""
    return [pytest.param(text, date, id=text) for date, texts in table.items() for text in texts]


def one_rejection(path: str = "a.txt", content: bytes | str | None = BODY, max_bytes=None, **kw):
    raw = raw_frame({"path": path, "content": content, **kw})
    if max_bytes is None:
        docs, quarantine = parse_documents(raw)
    else:
        docs, quarantine = parse_documents(raw, max_bytes=max_bytes)
    assert docs.height == 0, docs.rows()
    assert quarantine.height == 1
    return quarantine.row(0, named=True)


# --------------------------------------------------------------------------- schemas


def test_empty_input_returns_both_schemas():
    docs, quarantine = parse_documents(pl.DataFrame(schema=RAW_FILE_SCHEMA))
    assert docs.height == 0 and quarantine.height == 0
    assert list(docs.columns) == list(DOCUMENT_SCHEMA)
    assert dict(docs.schema) == DOCUMENT_SCHEMA
    assert dict(quarantine.schema) == QUARANTINE_SCHEMA


def test_schema_constants():
    assert dict(RAW_FILE_SCHEMA) == {
        "path": pl.Utf8,
        "content": pl.Binary,
        "size_bytes": pl.Int64,
        "sha256": pl.Utf8,
        "sidecar": pl.Binary,
        "read_error": pl.Utf8,
    }
    assert DOCUMENT_SCHEMA["published_at"] == pl.Date
    assert list(QUARANTINE_SCHEMA) == ["path", "sha256", "reason", "detail", "payload"]
    assert QUARANTINE_SCHEMA["payload"] == pl.Binary


def test_mixed_batch_every_row_lands_exactly_once():
    raw = raw_frame(
        {"path": "good.txt", "content": BODY},
        {"path": "empty.txt", "content": b""},
        {"path": "img.txt", "content": b"\x89PNG\r\n\x1a\n" + b"\x00" * 20},
        {"path": "ok.md", "content": "# 标题\n\n" + BODY},
    )
    docs, quarantine = parse_documents(raw)
    assert dict(docs.schema) == DOCUMENT_SCHEMA
    assert dict(quarantine.schema) == QUARANTINE_SCHEMA
    assert sorted(docs["path"].to_list()) == ["good.txt", "ok.md"]
    assert sorted(quarantine["path"].to_list()) == ["empty.txt", "img.txt"]
    assert docs["document_id"].to_list() == docs["sha256"].to_list()
    assert docs["sha256"].to_list() == [hashlib.sha256(BODY.encode()).hexdigest(),
                                        hashlib.sha256(("# 标题\n\n" + BODY).encode()).hexdigest()]


def test_missing_optional_columns_are_treated_as_null():
    raw = pl.DataFrame({"path": ["a.txt"], "content": [BODY.encode()]},
                       schema={"path": pl.Utf8, "content": pl.Binary})
    docs, quarantine = parse_documents(raw)
    assert quarantine.height == 0
    row = docs.row(0, named=True)
    assert row["sha256"] == hashlib.sha256(BODY.encode()).hexdigest()
    assert row["size_bytes"] == len(BODY.encode())


# --------------------------------------------------------------------------- stems


@pytest.mark.parametrize(
    ("path", "stem"),
    [
        ("000_72b3c930691b5ace.txt", "000_72b3c930691b5ace"),
        ("a/b/x.html", "x"),
        ("x.tar.txt", "x.tar"),
        ("noext", "noext"),
        ("sub.dir/report", "report"),
        (".hidden", ".hidden"),
    ],
)
def test_stem(path, stem):
    assert one_doc(path)["stem"] == stem


# --------------------------------------------------------------------------- encodings

TEXT = "武汉东湖高新区1-11月规模以上工业增加值增长9.2%，高于全市3.1个百分点。\n第二段：ＧＤＰ（全角）与繁體字保持原樣。"


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("gbk"), "gb18030"),
        (TEXT.encode("gb18030"), "gb18030"),
        (b"\xff\xfe" + TEXT.encode("utf-16-le"), "utf-16"),
        (b"\xfe\xff" + TEXT.encode("utf-16-be"), "utf-16"),
    ],
    ids=["utf-8", "utf-8-bom", "gbk", "gb18030", "utf-16-le-bom", "utf-16-be-bom"],
)
def test_encodings(content, encoding):
    row = one_doc("e.txt", content)
    assert row["encoding"] == encoding
    assert row["text"] == TEXT  # no BOM, no folding of full-width or traditional chars
    assert row["format"] == "text"


def test_gb18030_four_byte_character():
    text = "𠮷野家开发区实现营收12.5亿元。"
    row = one_doc("g.txt", text.encode("gb18030"))
    assert row["encoding"] == "gb18030"
    assert row["text"] == text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"line1\r\nline2\rline3\n", "line1\nline2\nline3"),
        ("第一行\u2028第二行".encode(), "第一行\n第二行"),
        # a few controls in real text are stripped (\t kept); mostly-control is binary
        (f"{BODY}\x01\x1b\x7f\n\t{BODY}".encode(), f"{BODY}\n\t{BODY}"),
        (f"{BODY}\u0085{BODY}".encode(), BODY + BODY),  # C1 control stripped
    ],
)
def test_newlines_and_control_chars(content, expected):
    assert one_doc("n.txt", content)["text"] == expected


# --------------------------------------------------------------------------- formats


def test_plain_text_keeps_lines_blank_lines_and_duplicates():
    text = (
        "成都高新区上半年经济运行情况\n"
        "\n"
        "今年上半年，成都高新区实现地区生产\n"
        "\n"
        "总值1523.6亿元。\n"
        "重复段落。\n"
        "重复段落。\n"
    )
    row = one_doc("plain.md", text)  # .md extension but plain prose
    assert row["format"] == "text"
    assert row["text"] == text.rstrip("\n")


def test_markdown_with_front_matter_in_txt_file():
    md = (
        "---\n"
        "title: 苏州工业园区前三季度经济运行\n"
        "date: 2023-10-20\n"
        "source_url: https://example.com/sip\n"
        "---\n"
        "# 前三季度经济运行\n"
        "\n"
        "## 总体情况\n"
        "![独占一行的图片](images/pic.jpg)\n"
        "园区实现**地区生产总值**2650.1亿元，同比增长*5.6%*。\n"
        "详见[统计公报](https://example.com/x)。![图片](img.png)\n"
        "- 进出口总额增长3.2%\n"
        "> 引用段落\n"
        "`代码` 和 __下划线强调__ 以及 snake_case_name\n"
    )
    row = one_doc("sip.txt", md)
    assert_fields(row, format="markdown", title="苏州工业园区前三季度经济运行", title_source="front_matter",
                  published_at=dt.date(2023, 10, 20), date_source="front_matter", source_url="https://example.com/sip")
    assert row["text"] == (
        "前三季度经济运行\n"
        "\n"
        "总体情况\n"
        "园区实现地区生产总值2650.1亿元，同比增长5.6%。\n"
        "详见统计公报。\n"
        "进出口总额增长3.2%\n"
        "引用段落\n"
        "代码 和 下划线强调 以及 snake_case_name"
    )


def test_markdown_without_front_matter_title_from_first_heading():
    row = one_doc("n.txt", "# 宁波市经济运行简况\n\n全市实现地区生产总值增长5.4%。\n")
    assert row["format"] == "markdown"
    assert row["title"] == "宁波市经济运行简况"
    assert row["title_source"] == "first_line"
    assert row["text"] == "宁波市经济运行简况\n\n全市实现地区生产总值增长5.4%。"


def test_malformed_front_matter_is_removed_but_ignored():
    md = "---\ntitle: [unclosed\ndate: 2023-10-20\n---\n正文第一段很长很长，并且以句号结尾。\n"
    row = one_doc("bad_fm.md", md)
    assert row["format"] == "markdown"
    assert row["text"] == "正文第一段很长很长，并且以句号结尾。"
    assert row["title"] is None and row["published_at"] is None


@pytest.mark.parametrize("depth", [100, 3000, 30000])
def test_deeply_nested_front_matter_does_not_crash(depth):
    # libyaml's C composer segfaults on ~30k nested flow sequences
    md = "---\ntitle: " + "[" * depth + "]" * depth + "\n---\n# 标题\n正文。\n"
    start = time.perf_counter()
    row = one_doc("deep.md", md)
    assert row["format"] == "markdown"
    assert row["text"] == "标题\n正文。"
    assert row["title"] == "标题" and row["title_source"] == "first_line"  # non-str title ignored
    assert time.perf_counter() - start < 5.0


HTML = """<!DOCTYPE html>
<html><head>
<meta charset="utf-8">
<title>宁波市2024年国民经济和社会发展统计公报</title>
<meta name="publishdate" content="2025-01-20">
<style>p { color: red; }</style>
<script>var secret = "不应出现";</script>
</head>
<body>
<header><h1>宁波发布</h1></header>
<nav><a href="/">首页</a> | <a href="/news">新闻</a></nav>
<article>
  <h2>一、综合</h2>
  <p>全市实现地区生产总值
  17965.3亿元，按可比价格计算，比上年增长5.4%。</p>
  <p>其中&nbsp;第三产业增加值&amp;占比50.1%，<b>高于</b>全省1.2个百分点。<br>第二行</p>
  <table><tr><td>指标</td><td>数值</td></tr></table>
  <noscript>请启用脚本</noscript>
  <form><input value="x">搜索</form>
</article>
<aside>相关阅读</aside>
<footer>版权所有</footer>
<script>document.write("也不应出现")</script>
</body></html>"""


def test_html_structure_is_stripped():
    row = one_doc("ningbo.txt", HTML)
    assert_fields(row, format="html", title="宁波市2024年国民经济和社会发展统计公报", title_source="html",
                  published_at=dt.date(2025, 1, 20), date_source="html_meta")
    assert row["text"] == (
        "一、综合\n"
        "全市实现地区生产总值 17965.3亿元，按可比价格计算，比上年增长5.4%。\n"
        "其中\xa0第三产业增加值&占比50.1%，高于全省1.2个百分点。\n"
        "第二行\n"
        "指标\t数值"
    )
    for gone in ("不应出现", "首页", "宁波发布", "相关阅读", "版权所有", "搜索", "请启用脚本", "color"):
        assert gone not in row["text"]


@pytest.mark.parametrize(
    ("html", "title", "date"),
    [
        (
            '<html><head><meta property="og:title" content="OG标题"><title>页面标题</title>'
            '<meta property="article:published_time" content="2024-07-28T09:30:00+08:00">'
            "</head><body><h1>H1标题</h1><p>正文。</p></body></html>",
            "OG标题",
            dt.date(2024, 7, 28),
        ),
        (
            "<html><body><h1>只有H1</h1><time datetime='2023-03-05'>3月5日</time><p>正文。</p></body></html>",
            "只有H1",
            dt.date(2023, 3, 5),
        ),
        (
            '<html><head><meta name="PubDate" content="2022/4/26 09:15"></head><body><p>正文。</p></body></html>',
            None,  # no html title, and the first line is a sentence
            dt.date(2022, 4, 26),
        ),
    ],
    ids=["og-title", "h1-time", "pubdate-case"],
)
def test_html_title_and_date_sources(html, title, date):
    row = one_doc("p.html", html)
    assert row["title"] == title
    assert row["published_at"] == date
    assert row["date_source"] == "html_meta"


@pytest.mark.parametrize(
    ("content", "fmt"),
    [
        ("<p>段落一</p>\n<p>段落二</p>", "html"),  # fragment, no <html>
        ("正文里提到<div>标签一次。\n第二行。", "text"),
        ("#话题# 不是标题", "text"),
        ("前言\n## 二级标题\n正文", "markdown"),
        ("正文[链接](https://example.com)。", "markdown"),
        ("<?xml version='1.0' encoding='utf-8'?>\n<html><body><p>x</p></body></html>", "html"),
    ],
)
def test_format_is_sniffed_from_content(content, fmt):
    row = one_doc("x.txt", content)
    assert row["format"] == fmt


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>实现地区生产\n   总值</p>", "实现地区生产总值"),  # no space between CJK
        ("<p>GDP\n  grew</p>", "GDP grew"),
        ("<p>a<br>b</p><ul><li>c</li><li>d</li></ul>", "a\nb\nc\nd"),
        ("<div><pre>第一行\n  第二行</pre></div>", "第一行\n第二行"),  # pre keeps its breaks
        ("<p>&lt;b&gt; &#20135;&#19994; &yen;</p>", "<b> 产业 ¥"),
    ],
)
def test_html_whitespace_and_blocks(html, text):
    assert one_doc("w.html", html)["text"] == text


def test_html_fragment_paragraphs():
    assert one_doc("f.txt", "<p>段落一</p>\n<p>段落二</p>")["text"] == "段落一\n段落二"


def test_deeply_nested_html_does_not_crash_and_keeps_text():
    html = "<html><body><p>之前</p>" + "<div>" * 5000 + "深处" + "</div>" * 5000 + "<p>之后</p></body></html>"
    row = one_doc("deep.html", html)
    assert row["format"] == "html"
    for word in ("之前", "深处", "之后"):
        assert word in row["text"]


def test_html_with_only_script_is_empty():
    rej = one_rejection("s.html", "<html><head><script>var a=1;</script></head><body></body></html>")
    assert rej["reason"] == "empty"


# --------------------------------------------------------------------------- precedence

FM = "---\ntitle: 前置标题\ndate: 2023-02-02\n---\n"
DATED = "发布时间：2023-04-04 10:00\n"
HTML_META = (
    "<html><head><title>网页标题</title><meta name='pubdate' content='2023-03-03'></head>"
    "<body><p>发布时间：2023-04-04 10:00</p><p>正文段落。</p></body></html>"
)
SIDECAR = {"published_at": "2023-01-01", "title": "旁注标题", "source_url": "https://example.com/s"}


@pytest.mark.parametrize(
    ("content", "sidecar", "date", "date_source", "title", "title_source"),
    [
        (FM + DATED + BODY, SIDECAR, dt.date(2023, 1, 1), "sidecar", "旁注标题", "sidecar"),
        (FM + DATED + BODY, None, dt.date(2023, 2, 2), "front_matter", "前置标题", "front_matter"),
        (HTML_META, SIDECAR, dt.date(2023, 1, 1), "sidecar", "旁注标题", "sidecar"),
        (HTML_META, None, dt.date(2023, 3, 3), "html_meta", "网页标题", "html"),
        ("短标题\n" + DATED + BODY, None, dt.date(2023, 4, 4), "text", "短标题", "first_line"),
        (BODY, None, None, None, None, None),
        # wrong types in the sidecar are ignored, not quarantined
        (FM + BODY, {"published_at": 5, "title": ["x"], "source_url": 3},
         dt.date(2023, 2, 2), "front_matter", "前置标题", "front_matter"),
        # unparseable date string in the sidecar falls through
        (DATED + BODY, {"published_at": "not a date"}, dt.date(2023, 4, 4), "text", None, None),
        (BODY, {"published_at": "2020-08-01T09:30:00+08:00", "extra": {"nested": 1}},
         dt.date(2020, 8, 1), "sidecar", None, None),
    ],
    ids=["sidecar>fm", "fm>text", "sidecar>html", "html>text", "text", "none",
         "bad-types", "bad-date-string", "sidecar-datetime"],
)
def test_metadata_precedence(content, sidecar, date, date_source, title, title_source):
    row = one_doc("m.txt", content, sidecar=sidecar)
    assert row["published_at"] == date
    assert row["date_source"] == date_source
    assert row["title"] == title
    assert row["title_source"] == title_source


def test_source_url_precedence():
    assert one_doc("s.txt", FM + BODY, sidecar=SIDECAR)["source_url"] == "https://example.com/s"
    fm = "---\ntitle: t\nurl: https://example.com/fm\nsource: 新华网\n---\n" + BODY
    assert one_doc("s.txt", fm)["source_url"] == "https://example.com/fm"
    fm_name_only = "---\ntitle: t\nsource: 新华网\n---\n" + BODY
    assert one_doc("s.txt", fm_name_only)["source_url"] is None
    html = '<html><head><link rel="canonical" href="https://example.com/c"></head><body><p>x</p></body></html>'
    assert one_doc("s.html", html)["source_url"] == "https://example.com/c"


# --------------------------------------------------------------------------- dated lines


@pytest.mark.parametrize(("line", "date"), by_date({
    dt.date(2024, 9, 15): ["2024/9/15 12:49:00", "2024/9/15", "TUhjnbcbe - 2024/9/15 12:49:00"],
    dt.date(2023, 7, 31): ["2023-07-31", "2023-07-31 08:00", "2023.07.31", "2023年7月31日", "2023年07月31日 10:20",
                           "发布时间：2023-07-31", "来源：区融媒体中心 2023-07-31"],
    dt.date(2022, 4, 26): ["发布时间：2022-04-26 09:15  浏览次数：1024"],
    None: ["2023年7月31日，全区召开大会，部署下半年重点工作。", "2023年7月31日，全区召开大会",
           "2023-13-45", "2023-02-30", "1989-06-01", "2101-01-01", "营收2021.12.3亿元", "编号12023-07-31",
           "来源：" + "很长的来源名称" * 7 + " 2023-07-31"],  # the last one: its label is too long
}))
def test_dated_line_rules(line, date):
    row = one_doc("d.txt", f"区域经济简报\n{line}\n\n{BODY}")
    assert row["published_at"] == date
    assert row["date_source"] == ("text" if date else None)


def test_dated_line_only_in_first_40_lines():
    lines = [f"第{i}段内容，数据平稳。" for i in range(45)]
    late = "\n".join(lines[:41] + ["2023-07-31"] + lines[41:])
    early = "\n".join(lines[:5] + ["2023-07-31"] + lines[5:])
    assert one_doc("late.txt", late)["published_at"] is None
    assert one_doc("early.txt", early)["published_at"] == dt.date(2023, 7, 31)


@pytest.mark.parametrize(
    ("first_line", "title"),
    [
        ("西安高新区一季度经济运行稳中有进", "西安高新区一季度经济运行稳中有进"),
        ("今年一季度，西安高新区经济运行稳中有进。", None),  # sentence ending
        ("这一行" * 25, None),  # > 60 chars
        ("发布时间：2022-04-26 09:15", None),  # a dated line is no title
    ],
)
def test_first_line_title(first_line, title):
    row = one_doc("t.txt", f"\n\n{first_line}\n{BODY}")
    assert row["title"] == title
    assert row["title_source"] == ("first_line" if title else None)


# --------------------------------------------------------------------------- quarantine


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x01" * 40


@pytest.mark.parametrize(
    ("file", "reason", "detail_part"),
    [
        ({"content": None, "read_error": "PermissionError: [Errno 13] Permission denied"},
         "unreadable", "Permission denied"),
        ({"content": b"x" * 100, "size_bytes": int(25.3 * MIB)}, "oversized",
         "file is 25.3 MB, over the 20.0 MB limit (ZONEFACTS_MAX_FILE_BYTES)"),
        ({"content": b""}, "empty", "0 bytes"),
        ({"content": " \n\t\r\n\u3000 ".encode()}, "empty", "only whitespace"),
        ({"content": b"\xef\xbb\xbf"}, "empty", "only whitespace"),
        ({"content": BODY.encode() + b"\x00\x01" + BODY.encode()}, "binary",
         f"NUL bytes at offset {len(BODY.encode())}"),
        ({"content": _png()}, "binary", "PNG image"),
        ({"content": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"}, "binary", "PDF"),
        ({"content": b"\x1f\x8b\x08\x00" + b"\x07" * 30}, "binary", "gzip"),
        ({"content": b"PK\x03\x04" + b"\x14" * 30}, "binary", "ZIP"),
        ({"content": b"\x80\x80\x80\x80" * 16}, "undecodable", "nor GB18030"),
        ({"content": bytes([0xAA, 0xA1]) * 40}, "undecodable", "private-use"),  # GBK user area
        ({"content": b"ab\x01\x02\x03\x04\x05\x06cd" * 20}, "binary", "control characters"),
        ({"content": BODY, "sidecar": b'{"published_at": "2020-08-01" "title": 1}'}, "bad_sidecar",
         "sidecar a.meta.json is not valid JSON: Expecting ',' delimiter: line 1 column 31"),
        ({"content": BODY, "sidecar": b'["2020-08-01"]'}, "bad_sidecar", "not an object (got list)"),
        ({"content": BODY, "sidecar": b"<unreadable sidecar: [Errno 13] Permission denied>"},
         "bad_sidecar", "(it begins '<unreadable sidecar: [Errno 13] Permission denied>')"),
        ({"content": BODY, "sidecar": b"\xff\xff\xff"}, "bad_sidecar", "a.meta.json is not valid UTF-8"),
        ({"content": BODY, "sidecar": b"[" * 100_000}, "bad_sidecar", "a.meta.json is not valid JSON"),
    ],
    ids=["unreadable", "oversized", "empty", "whitespace", "bom-only", "nul", "png", "pdf", "gzip",
         "zip", "undecodable", "gb18030-garbage", "control-heavy", "sidecar-json", "sidecar-list",
         "sidecar-not-json",
         "sidecar-encoding", "sidecar-deep"],
)
def test_quarantine_reasons(file, reason, detail_part):
    rej = one_rejection("dir/a.txt", **file)
    assert rej["reason"] == reason
    assert detail_part in rej["detail"]
    assert rej["path"] == "dir/a.txt"
    content = file["content"]
    if isinstance(content, str):
        content = content.encode()
    assert rej["payload"] == (content[:MIB] if content is not None else None)
    assert rej["sha256"] == hashlib.sha256(content or b"").hexdigest()


def test_undecodable_bytes_really_are_invalid_in_both_codecs():
    data = b"\x80\x80\x80\x80" * 16
    for codec in ("utf-8", "gb18030"):
        with pytest.raises(UnicodeDecodeError):
            data.decode(codec)


def test_max_bytes_parameter_and_payload_cap():
    big = (BODY * 60_000).encode()  # ~5 MB
    rej = one_rejection("big.txt", big, max_bytes=MIB)
    assert rej["reason"] == "oversized"
    assert "over the 1.0 MB limit" in rej["detail"]
    assert len(rej["payload"]) == MIB and rej["payload"] == big[:MIB]
    docs, quarantine = parse_documents(raw_frame({"path": "big.txt", "content": big}))
    assert docs.height == 1 and quarantine.height == 0


def test_check_order_read_error_before_size_and_empty():
    rej = one_rejection("x.txt", b"", read_error="OSError: gone", size_bytes=50 * MIB)
    assert rej["reason"] == "unreadable"
    rej = one_rejection("x.txt", b"\x89PNG\r\n\x1a\n", size_bytes=50 * MIB)
    assert rej["reason"] == "oversized"
    # an empty document with a broken sidecar is reported as empty
    rej = one_rejection("x.txt", b"   ", sidecar=b"{")
    assert rej["reason"] == "empty"


def test_utf16_with_bom_is_not_binary_despite_nul_bytes():
    row = one_doc("u16.txt", b"\xff\xfe" + "Plain ASCII in UTF-16".encode("utf-16-le"))
    assert row["encoding"] == "utf-16" and row["text"] == "Plain ASCII in UTF-16"


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["utf-8", "utf-8-bom"])
def test_a_sidecar_is_read_with_or_without_a_byte_order_mark(bom):
    sidecar = bom + json.dumps({"title": "侧车标题", "published_at": "2023-07-31"}, ensure_ascii=False).encode()
    assert_fields(one_doc("b.txt", BODY, sidecar=sidecar), title="侧车标题", title_source="sidecar",
                  published_at=dt.date(2023, 7, 31), date_source="sidecar")
    rej = one_rejection("b.txt", BODY, sidecar=bom + b'{"title": "\xff"}')
    assert rej["reason"] == "bad_sidecar" and "byte offset 11" in rej["detail"]


def test_hostile_sidecar_values_are_data_only():
    sidecar = {"title": "<script>alert(1)</script>", "source_url": "file:///etc/passwd",
               "published_at": "__import__('os')"}
    row = one_doc("h.txt", BODY, sidecar=sidecar)
    assert row["title"] == "<script>alert(1)</script>"
    assert row["source_url"] == "file:///etc/passwd"
    assert row["published_at"] is None


# --------------------------------------------------------------------------- performance

FIVE_MB = 5 * MIB


@pytest.mark.parametrize(
    "content",
    [
        ("中" * (FIVE_MB // 3)).encode(),
        b"[" * FIVE_MB,
        b"*a_" * (FIVE_MB // 3),
        b"# " + b"[x](http://a *b* " * (FIVE_MB // 18),
        b"<p>" + ("经济" * (FIVE_MB // 6)).encode() + b"</p>",
        b"<" * FIVE_MB,
        b"<!--" * (FIVE_MB // 4),
        b"\n" * (FIVE_MB - 1) + b"x",
        b"---\ntitle: x\n" + b"a" * FIVE_MB,
        ("2023-07-31 " * (FIVE_MB // 11)).encode(),
    ],
    ids=["cjk", "brackets", "emphasis", "md-links", "html-text", "lt", "comments", "newlines",
         "open-front-matter", "dates"],
)
def test_5mb_single_line_is_fast(content):
    start = time.perf_counter()
    docs, quarantine = parse_documents(raw_frame({"path": "big.txt", "content": content}))
    elapsed = time.perf_counter() - start
    assert docs.height + quarantine.height == 1
    assert elapsed < 5.0, f"took {elapsed:.1f}s"


def test_batch_of_2000_mixed_files_is_fast():
    para = "今年上半年，某某高新区实现地区生产总值同比增长6.3%。其中，出口总额321.4亿元、增长8.1%。\n\n"
    text = "某某高新区上半年经济运行稳中向好\n发布时间：2024-07-28 10:00\n\n" + para * 60
    md = "---\ntitle: 标题\ndate: 2024-01-02\n---\n# 标题\n\n" + para.replace("出口", "**出口**") * 60
    html = ("<html><head><title>t</title><meta name='pubdate' content='2024-01-02'></head><body>"
            "<nav>导航</nav>" + "".join(f"<p>{para.strip()}</p>\n" for _ in range(60)) + "</body></html>")
    variants = [text.encode(), md.encode(), html.encode(), text.encode("gbk")]
    raw = raw_frame(*({"path": f"f{i}.txt", "content": variants[i % 4]} for i in range(2000)))
    start = time.perf_counter()
    docs, quarantine = parse_documents(raw)
    elapsed = time.perf_counter() - start
    assert docs.height == 2000 and quarantine.height == 0
    assert docs["format"].value_counts().height == 3
    # ~0.5-1.5 s on a shared 2-core box, i.e. 10k such files in a few seconds
    assert elapsed < 5.0, f"took {elapsed:.1f}s"


def test_html_description_leads_a_body_that_does_not_state_it() -> None:
    page = ("<html><head><title>某市经济数据</title><meta name='description' content='上半年，某市GDP同比增长5.5%。'>"
            "</head><body><div>${page.content}</div></body></html>")
    assert one_doc("a.html", page)["text"].splitlines()[0] == "上半年，某市GDP同比增长5.5%。"


def test_html_description_the_body_repeats_is_not_added() -> None:
    page = ("<html><head><meta name='description' content='上半年，某市GDP同比增长5.5%。'></head>"
            "<body><p>上半年，某市GDP同比增长5.5%。</p><p>下半年继续。</p></body></html>")
    assert one_doc("a.html", page)["text"].count("同比增长5.5%") == 1


@pytest.mark.parametrize("url,date", by_date({
    dt.date(2019, 3, 8): ["http://news.example.cn/system/2019/03/08/000123.shtml"],
    dt.date(2023, 11, 5): ["http://www.example.gov.cn/zwgk/202311/t20231105_998.html"],
    dt.date(2018, 7, 12): ["http://example.com/info/20180712/n123456.html"],
    dt.date(2021, 9, 30): ["http://example.com/a/2021/0930/77.shtml"],
    dt.date(2017, 2, 15): ["http://example.com/detail.aspx?id=20170215103000-1"],
    None: ["http://example.com/news/1727505405180702722.html", "http://example.com/2019/13/45/x.html"],
}))
def test_a_date_in_the_source_urls_path_is_the_publication_date(url, date) -> None:
    doc = one_doc("a.txt", "上半年，某市GDP同比增长5.5%。", sidecar=json.dumps({"source_url": url}).encode())
    assert doc["published_at"] == date
    assert doc["date_source"] == ("url" if date else None)
