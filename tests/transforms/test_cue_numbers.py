"""transforms.coverage: numbers with cues, counted on sentences written for the test."""
from __future__ import annotations

import polars as pl
import pytest

from transforms.clean import paragraphs
from transforms.coverage import SCHEMA, count_cue_numbers, coverage


def count(text: str) -> int:
    return pl.select(count_cue_numbers(pl.lit(text))).item()


@pytest.mark.parametrize("text, expected", [
    # money, percent, pp and multiples after a cue
    ("上半年,园区实现地区生产总值(GDP)1,234.5亿元,同比增长6.1%。", 2),
    ("出口总额88.2亿元、增长5.5%。", 2),
    ("增速比一季度提高1.5个百分点。", 1),
    ("占全区比重达42.3%。", 1),
    ("营收规模是上年的2.1倍。", 1),
    ("利润总额3.2万亿元。", 1),
    ("外资企业投资5000万美元。", 1),
    ("实现营收300多亿元。", 1),
    ("目标增长3-5%。", 1),
    # a list after one cue: every number counts
    ("三项指标分别增长6.1%、8.3%和5.2%。", 3),
    # dates, years, counts and people are not economic figures
    ("2024年5月1日,园区召开年中会议。", 0),
    ("2023年,全区新增企业120家,增加就业岗位3000个。", 0),
    ("截至2024年6月底,累计引进项目45项。", 0),
    # a figure without a cue, or whose cue ends in another clause
    ("一本画册售价58元。", 0),
    ("产值大幅提升。今年门票58元。", 0),
    # lost digits are defects, not figures
    ("实现.9亿元。", 0),
    ("", 0),
])
def test_counts_numbers_with_cues(text, expected):
    assert count(text) == expected


def test_full_width_text_is_counted_as_the_extractor_reads_it():
    """The cleaner folds width (，→ , ％ → %): a full-width document counts like a half-width one."""
    documents = pl.DataFrame({"document_id": ["w"], "title_source": [None], "title": [None],
                              "text": ["园区实现产值１２０．５亿元，同比增长７．２％。"]},
                             schema={"document_id": pl.String, "title_source": pl.String, "title": pl.String,
                                     "text": pl.String})
    assert coverage(documents, paragraphs(documents)).rows() == [("w", 2)]


def test_counts_only_what_the_cleaner_keeps():
    """A metadata title the text does not carry, a photo caption and a repeated paragraph are not
    read by the extractor, so their figures are not counted either."""
    body = "全区固定资产投资同比增长8.8%,工业投资同比增长12.4%。"
    documents = pl.DataFrame({
        "document_id": ["kept", "noise", "empty"],
        "title_source": ["first_line", "sidecar", None],
        "title": ["园区前三季度经济", "园区产值同比增长99.9%", None],
        "text": [
            f"园区前三季度经济\n{body}\n",
            "园区新厂房实现产值20亿元\n记者 王小明 摄\n" + f"{body}\n{body}\n",
            "   \n",
        ],
    })
    found = dict(coverage(documents, paragraphs(documents)).rows())
    assert found == {"kept": 2, "noise": 2, "empty": 0}


def test_empty_batch_has_the_schema():
    empty = pl.DataFrame(schema={"document_id": pl.String, "text": pl.String, "title_source": pl.String})
    assert coverage(empty, paragraphs(empty)).schema == pl.Schema(SCHEMA)
