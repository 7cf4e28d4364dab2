"""documents → extraction coverage: how many economic figures a document's text states.

``coverage(documents, paras)`` takes the parsed documents and their paragraphs as the extractor
reads them (``transforms.clean.paragraphs``) and returns one row per document:

    document_id  str
    cue_numbers  int32  numbers with an economic unit standing shortly after a cue word

A *number with a cue* is an Arabic number (881.7, 1,234.5, 3-5) with a unit of the money,
percent, pp or multiple kinds of ``vocab/units.csv`` (亿元, 美元, %, 个百分点, 倍 …), at most
``WINDOW`` characters of the same clause after a word of ``vocab/coverage_cues.txt`` (增长,
实现, 占, 总额 …); the numbers listed right after it (增长6.1%、8.3%和5.2%) count too. Dates,
years and counts have no such unit and are never counted. The text is what the extractor
reads: ``transforms.clean.paragraphs`` (noise lines, captions and repeated paragraphs dropped),
without a metadata title the text does not carry. Compared with the facts a document yields,
the count shows where the reader is blind (view ``extraction_coverage``).
"""
from __future__ import annotations

import re
from functools import lru_cache

import polars as pl

from transforms.distinct import on_distinct
from transforms.numbers import range_separator
from transforms.vocabulary import VOCAB_DIR, read_patterns

SCHEMA = {"document_id": pl.String, "cue_numbers": pl.Int32}
UNIT_KINDS = ("money", "percent", "pp", "multiple")
# Characters between a cue and its number: 实现地区生产总值(GDP)1,234.5亿元 needs 11.
WINDOW = 12
# A cue's reach ends with its clause (full-width punctuation is folded to these by the cleaner).
_CLAUSE_END = r",.;:!?。；！？\n"
_ARABIC = r"[0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?"
_LIST_SEPARATOR = "[、和及与]"


@lru_cache(maxsize=1)
def _number_pattern() -> str:
    """One number with an economic unit: 881.7亿元, 1,234.5亿元, 3-5%, 500多亿元, 2.1倍."""
    units = pl.read_csv(VOCAB_DIR / "units.csv", comment_prefix="#", infer_schema=False).filter(
        pl.col("kind").is_in(UNIT_KINDS)).get_column("unit").to_list()
    unit = "|".join(re.escape(u) for u in sorted(units, key=len, reverse=True))
    return f"{_ARABIC}(?:{range_separator()}{_ARABIC})?[多余]?(?:{unit})"


@lru_cache(maxsize=1)
def _cued_pattern() -> str:
    """A cue, a short stretch of its clause, then numbers with units; the stretch never ends in a
    digit, so a number is matched whole (2024 is not read as 4 after a cut)."""
    cues = "|".join(re.escape(c) for c in sorted(read_patterns(VOCAB_DIR / "coverage_cues.txt"), key=len,
                                                    reverse=True))
    window = f"(?:[^{_CLAUSE_END}]{{0,{WINDOW - 1}}}?[^{_CLAUSE_END}0-9])??"
    number = _number_pattern()
    return f"(?:{cues}){window}{number}(?:{_LIST_SEPARATOR}{number})*"


def count_cue_numbers(text: pl.Expr) -> pl.Expr:
    """Numbers with cues in each value of ``text`` (0 for null). Matches do not overlap and the
    window is lazy, so each number is counted once, within the match of the nearest cue before it."""
    return (text.str.extract_all(_cued_pattern()).list.join("\n").str.count_matches(_number_pattern())
            .fill_null(0).cast(pl.Int32))


def coverage(documents: pl.DataFrame, paras: pl.DataFrame) -> pl.DataFrame:
    """``paras`` is ``transforms.clean.paragraphs(documents)``, as the extractor read them."""
    if documents.height == 0:
        return pl.DataFrame(schema=SCHEMA)
    # a paragraph repeated across the batch (boilerplate, reposts) is counted once (transforms.distinct)
    counted = on_distinct(paras.filter(~pl.col("title_only")).select("document_id", "norm"), ["norm"],
                          lambda texts: texts.with_columns(count_cue_numbers(pl.col("norm")).alias("_numbers")))
    counted = counted.group_by("document_id").agg(pl.col("_numbers").sum().alias("cue_numbers"))
    # a document the cleaner left no paragraph of still has a row: it states no figure
    return (documents.select("document_id").join(counted, on="document_id", how="left", maintain_order="left")
            .with_columns(pl.col("cue_numbers").fill_null(0)).cast(SCHEMA))
