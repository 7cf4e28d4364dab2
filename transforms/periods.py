"""Period expressions → (start_month, end_month) and the year they belong to.

``period_pattern()`` finds period phrases (上半年, 1-11月, 截至5月底, 今年以来, 从3月起,
2022年一季度 …); ``parse_period`` reads one phrase; ``resolve_year`` applies the
FACT_MODEL year rules as Polars expressions.
"""
from __future__ import annotations

import re
from functools import lru_cache

import polars as pl

from transforms.numbers import parse_numeral, range_separator
from transforms.vocabulary import VOCAB_DIR, read_patterns

_M = r"(?:1[0-2]|0?[1-9])"
_CN_M = "[一二两三四五六七八九十]{1,2}"
_SEP = range_separator()
RELATIVE_YEARS = {"今年": 0, "本年": 0, "当年": 0, "去年": -1, "上年": -1, "上一年": -1, "明年": 1}


@lru_cache(maxsize=1)
def period_words() -> dict[str, tuple[int | None, int | None]]:
    table = pl.read_csv(VOCAB_DIR / "periods.csv", comment_prefix="#",
                        schema_overrides={"start_month": pl.Int32, "end_month": pl.Int32})
    return {w: (s, e) for w, s, e in table.iter_rows()}


@lru_cache(maxsize=1)
def compared_period_pattern() -> str:
    """比一季度, 较2019年1-7月, 比上月: 比/较 and a period a change is measured against
    (vocab/compared_periods.txt, a month, a month range or 前N个月)."""
    words = "|".join(re.escape(w) for w in read_patterns(VOCAB_DIR / "compared_periods.txt"))
    return rf"(?:比|较)(?:20[0-9]{{2}}年)?(?:{words}|{_M}月?{_SEP}{_M}月份?|{_M}月份?|前[0-9]{{1,2}}个月)"


@lru_cache(maxsize=1)
def period_pattern() -> str:
    words = "|".join(re.escape(w) for w in sorted(period_words(), key=len, reverse=True))
    rel = "(?:" + "|".join(sorted(RELATIVE_YEARS, key=len, reverse=True)) + ")"
    year = r"(?:20[0-9]{2}年)"
    return (
        "(?:"
        # a date is not a period; matched first so that 7月31日 is not read as July
        rf"(?:20[0-9]{{2}}年)?{_M}月[0-9]{{1,2}}日"
        # 比上年, 较去年同期: the basis of a growth rate, not the period of the fact
        r"|(?:比|较|同|与|和)(?:上年|去年|上一年)(?:同期)?"
        # and 比一季度, 较1-5月: the other side of a change between periods
        rf"|{compared_period_pattern()}"
        rf"|[,，:：]年[,，]"
        rf"|从{rel}?{year}?{_M}月份?起"
        rf"|截至{rel}?{year}?{_M}月(?:底|末|份)?"
        rf"|{rel}?{year}?{_M}月?{_SEP}{_M}月份?"
        rf"|{rel}?{year}?{_CN_M}月?{_SEP}{_CN_M}月份?"
        rf"|{rel}?{year}?前{_CN_M}个?月"
        rf"|{rel}?{year}?前[0-9]{{1,2}}个?月"
        rf"|{rel}?{year}?(?:{words})"
        rf"|20[0-9]{{2}}年(?:底|末)"
        rf"|{rel}?{year}?{_M}月(?:底|末)"
        rf"|{rel}?{year}?{_M}月份?"
        rf"|{rel}"
        rf"|{year}"
        ")"
    )


_YEAR = re.compile(r"(20[0-9]{2})年")
_REL = re.compile("|".join(sorted(RELATIVE_YEARS, key=len, reverse=True)))
_MONTHS = re.compile(rf"({_M}|{_CN_M})月?{_SEP}({_M}|{_CN_M})月")
_FIRST_N = re.compile(rf"前([0-9]{{1,2}}|{_CN_M})个?月")
_UNTIL = re.compile(rf"截至.*?({_M})月|({_M})月(?:底|末)$")
_FROM = re.compile(rf"从.*?({_M})月份?起")
_SINGLE = re.compile(rf"({_M})月")


@lru_cache(maxsize=4096)
def parse_period(phrase: str) -> dict:
    """One phrase → start/end month, explicit year, relative year offset, and its kind."""
    out = {"start_month": None, "end_month": None, "explicit_year": None, "relative_year": None,
           "period_kind": "period", "year_lost": False}
    if re.fullmatch(rf"(?:20[0-9]{{2}}年)?{_M}月[0-9]{{1,2}}日", phrase):
        out["period_kind"] = "date"
        return out
    if phrase[0] in "比较同与和":
        out["period_kind"] = "basis"
        return out
    if re.fullmatch(r"[,，:：]年[,，]", phrase):
        out.update(start_month=1, end_month=12, year_lost=True)
        return out
    if (m := _YEAR.search(phrase)):
        out["explicit_year"] = int(m.group(1))
    if (m := _REL.search(phrase)):
        out["relative_year"] = RELATIVE_YEARS[m.group(0)]
    words = period_words()
    for word in sorted(words, key=len, reverse=True):
        if phrase.endswith(word):
            out["start_month"], out["end_month"] = words[word]
            return out
    if (m := _FROM.search(phrase)):
        out["start_month"] = int(m.group(1))
    elif (m := _UNTIL.search(phrase)):
        # a stock at the end of a month (截至5月底, 11月末) covers the year so far
        out.update(start_month=1, end_month=int(m.group(1) or m.group(2)))
    elif (m := _MONTHS.search(phrase)):
        out.update(start_month=_month_number(m.group(1)), end_month=_month_number(m.group(2)))
    elif (m := _FIRST_N.search(phrase)):
        out.update(start_month=1, end_month=_month_number(m.group(1)))
    elif (m := _SINGLE.search(phrase)):
        out.update(start_month=int(m.group(1)), end_month=int(m.group(1)))
    elif out["explicit_year"] is not None and phrase.endswith("年"):
        out.update(start_month=1, end_month=12, period_kind="bare_year")
    else:
        out["period_kind"] = "year_only"
    if out["start_month"] is not None and (
        out["start_month"] > 12 or (out["end_month"] is not None and not out["start_month"] <= out["end_month"] <= 12)
    ):
        out.update(start_month=None, end_month=None, period_kind="invalid")
    return out


def _month_number(text: str) -> int:
    """7 or 七 (一至七月); 0 when a Chinese numeral is not a month, which invalidates the phrase."""
    return int(text) if text.isdigit() else int(parse_numeral(text) or 0)


PERIOD_FIELDS = {"start_month": pl.Int32, "end_month": pl.Int32, "explicit_year": pl.Int32,
                 "relative_year": pl.Int32, "period_kind": pl.String, "year_lost": pl.Boolean}


def period_label(year: pl.Expr, start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """2024-H1, 2024-Q1, 2024-Q1-Q3, 2024-FY, 2024-M01-M11, 2024-M03, 2024-M01-open, 2024."""
    y = pl.when(year.is_null()).then(pl.lit("????")).otherwise(year.cast(pl.String))
    m = lambda e: pl.lit("M") + e.cast(pl.String).str.zfill(2)  # noqa: E731
    body = (
        pl.when(start.is_null()).then(pl.lit(""))
        .when(end.is_null()).then(pl.lit("-") + m(start) + pl.lit("-open"))
        .when((start == 1) & (end == 12)).then(pl.lit("-FY"))
        .when((start == 1) & (end == 6)).then(pl.lit("-H1"))
        .when((start == 7) & (end == 12)).then(pl.lit("-H2"))
        .when((start == 1) & (end == 9)).then(pl.lit("-Q1-Q3"))
        .when((start % 3 == 1) & (end == start + 2)).then(pl.lit("-Q") + ((start + 2) // 3).cast(pl.String))
        .when(start == end).then(pl.lit("-") + m(start))
        .otherwise(pl.lit("-") + m(start) + pl.lit("-") + m(end))
    )
    return y + body


def resolve_year(explicit: pl.Expr, context_year: pl.Expr, relative: pl.Expr, lead_year: pl.Expr,
                 end_month: pl.Expr, published_at: pl.Expr, year_lost: pl.Expr) -> pl.Expr:
    """FACT_MODEL year rules, in order.

    An explicit year in the phrase or its clause/paragraph wins; else 今年/去年 against the
    publication date; else the year the document's body first states for a period (a lead
    "2016年1-7月" dates the paragraphs after it, and outranks a repost's publication date), or
    failing that its title;
    else the publication year, except that a period that had not ended
    when the article was published (全年 or 1-11月 published in January) is the previous
    year's. No date and no year → null, never a guess; lost year digits → null.
    """
    pub_year = published_at.dt.year().cast(pl.Int32)
    pub_month = published_at.dt.month().cast(pl.Int32)
    unfinished = end_month.is_not_null() & (end_month > pub_month)
    return (
        pl.when(year_lost).then(None)
        .when(explicit.is_not_null()).then(explicit)
        .when(context_year.is_not_null()).then(context_year)
        .when(relative.is_not_null()).then(pub_year + relative)
        .when(lead_year.is_not_null()).then(lead_year)
        .when(unfinished).then(pub_year - 1)
        .otherwise(pub_year)
        .cast(pl.Int32)
    )
