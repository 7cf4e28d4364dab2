"""documents → paragraphs: drop non-article lines, join broken lines, read through noise, fold.

``paragraphs(documents)`` takes columns document_id, text, title_source and returns one
row per paragraph:

    document_id  str
    para_no      int    0-based order in the document (the title line, if any, is 0)
    is_title     bool   the document's title: its first line, or the title from its metadata
    title_only   bool   a metadata title (sidecar, front matter, HTML <title>) that the text
                        does not contain: read for the period and subject, never for facts
    display      str    the paragraph as found (lines joined), for evidence
    norm         str    the paragraph as read: noise inside words taken out (markup, entities,
                        invisible characters, pinyin after characters, spaces between CJK
                        characters or digits: transforms.noise), width-folded, simplified script
    norm_to_display  binary | null   for each offset 0..len(norm) in ``norm``, the offset in
                        ``display`` (int32 little-endian, len(norm) + 1 of them); null when
                        nothing was taken out, so ``norm`` and ``display`` share offsets.
                        Read it with ``display_offset``: a span [s, e) of ``norm`` is
                        ``display[display_offset(s):display_offset(e)]``, noise included.

Real scraped articles break sentences over blank lines ("手\\n\\n段"), wrap photo
captions and bylines between them, and repeat paragraphs; the facts must be read
once, from whole sentences.
"""
from __future__ import annotations

from functools import lru_cache
from itertools import groupby
from operator import itemgetter

import numpy as np
import polars as pl

from transforms.distinct import on_distinct
from transforms.noise import MAY_HAVE_NOISE, read_line
from transforms.runs import position, same_run, shifted
from transforms.vocabulary import VOCAB_DIR, read_patterns

# A line ends a sentence when it ends with one of these.
_TERMINAL = r"[。！？!?…”」』;；]$"
_PROSE = r"[,，;；:：。]"
_ENDS_WITH_FIGURE = r"[0-9%元个家项]$"
_STARTS_AS_CONTINUATION = r"^[,，、;；。%)）]"
_MIN_PROSE_CHARS = 10
_MIN_REPEATED_PARAGRAPH = 12
_TITLE_SEARCH_LINES = 5  # a metadata title repeated below a breadcrumb or a section label
# A caption sits on the line before a short photo credit.
_CREDIT = r"^(?:[\p{Han}]{0,8}记者[ \u3000]*)?[\p{Han}]{2,4}(?:[ \u3000]+[\p{Han}]{2,4})*[ \u3000]*摄$|摄[/／]"
_MAX_CREDIT_CHARS = 25
_MAX_CAPTION_CHARS = 80

# what Python's str.strip() takes as a space, and where str.splitlines() ends a line
_PY_SPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
             "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_PY_LINE_BREAK_CHARS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

_FULL_WIDTH = [chr(c) for c in range(0xFF01, 0xFF5F)] + ["\u3000"]
_HALF_WIDTH = [chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)] + [" "]

# Characters that occur only in traditional script and are frequent in economic news;
# a document containing any of them is converted with OpenCC.
_TRADITIONAL_HINT = (
    "[區產總億長發經濟實現這為們來時對會從開關業國際銷費進資電務營設計統萬點據調說頭應劃東還"
    "與個億額貿幣預劃廠鎮縣區園層創築積議優勢導維護態條達辦團體質華營數單雙級歲邊]"
)


@lru_cache(maxsize=1)
def _noise_regexes() -> tuple[str, ...]:
    """The noise lines' patterns as two regexes, those anchored at the line's start and the others:
    apart, the first is tried at a line's start only and the second scans for its literals."""
    patterns = read_patterns(VOCAB_DIR / "noise_lines.txt")
    groups = ([p for p in patterns if p.startswith("^")], [p for p in patterns if not p.startswith("^")])
    return tuple("|".join(f"(?:{p})" for p in group) for group in groups if group)


@lru_cache(maxsize=1)
def _prefix_regex() -> str:
    return "|".join(f"(?:{p})" for p in read_patterns(VOCAB_DIR / "line_prefixes.txt"))


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Simplified script with the same length as ``text`` (offsets must carry over)."""
    converted = _t2s().convert(text)
    if len(converted) == len(text):
        return converted
    convert = _t2s().convert
    return "".join(c if len(c) == 1 else ch for ch, c in ((ch, convert(ch)) for ch in text))


def _bare(text: pl.Expr) -> pl.Expr:
    """``text.strip().lstrip("#").strip()`` in Python's sense of a space."""
    return text.str.strip_chars(_PY_SPACE).str.strip_chars_start("#").str.strip_chars(_PY_SPACE)


def _metadata_titles(documents: pl.DataFrame) -> pl.DataFrame:
    """Per document (a row each, in order): ``metadata_title``, its metadata title when the text does
    not carry it as a line, and ``title_line``, which of the text's first non-blank lines is that
    title (a Markdown heading repeating it, or a title under a scraped breadcrumb), if one is."""
    schema = {"metadata_title": pl.String, "title_line": pl.Int64}
    if "title" not in documents.columns:
        return pl.DataFrame({k: [None] * documents.height for k in schema}, schema=schema)
    title = _bare(pl.col("title").fill_null(""))
    # the text's first non-blank line (str.splitlines), bare as the title is
    first = _bare(pl.col("text").str.extract(f"^[{_PY_SPACE}]*([^{_PY_LINE_BREAK_CHARS}]*)"))
    from_metadata = (pl.col("title_source") != "first_line") & (title != "")
    found = documents.select(pl.when(from_metadata).then(title).alias("title"),
                             pl.when(from_metadata).then(first == title).fill_null(False).alias("first"))
    titles, first_is_title = found.get_column("title"), found.get_column("first")
    missing = pl.repeat(None, documents.height, dtype=pl.String, eager=True)
    title_line = pl.select(pl.when(first_is_title).then(pl.lit(0, dtype=pl.Int64))).to_series()
    others = (titles.is_not_null() & ~first_is_title).arg_true()
    if others.len():   # Python on the few texts that do not open with their title: read line by line
        missing_at, line_at = [], []
        texts = documents.get_column("text").gather(others).to_list()
        for title, text in zip(titles.gather(others).to_list(), texts):
            lines = [line.strip().lstrip("#").strip() for line in (text or "").splitlines() if line.strip()]
            head = lines[:_TITLE_SEARCH_LINES]
            missing_at.append(None if title in lines else title)
            line_at.append(head.index(title) if title in head else None)
        missing = missing.scatter(others, pl.Series(missing_at, dtype=pl.String))
        title_line = title_line.scatter(others, pl.Series(line_at, dtype=pl.Int64))
    return pl.DataFrame([missing.alias("metadata_title"), title_line.alias("title_line")])


def _lines(documents: pl.DataFrame) -> pl.DataFrame:
    text = pl.col("text").str.replace_all("\r", "")
    lines = (
        documents.select("document_id", "title_source", "text", *_metadata_titles(documents).get_columns()).select(
            "document_id",
            (pl.col("title_source").fill_null("").eq("first_line") | pl.col("metadata_title").is_not_null()
             | pl.col("title_line").is_not_null()).alias("has_title_line"),
            pl.col("metadata_title").is_not_null().alias("doc_title_only"),
            pl.col("title_line").fill_null(0),
            pl.when(pl.col("metadata_title").is_not_null()).then(pl.col("metadata_title") + "\n" + text)
            .otherwise(text).str.split("\n").alias("line"),
        )
        .explode("line")
        .with_columns(pl.col("line").fill_null("").str.strip_chars())
        .filter(pl.col("line") != "")
        .with_columns(
            # "first_line": the line that is the document's title when it has one (its first, else
            # the line that repeats the metadata title)
            (position("document_id") == pl.col("title_line")).alias("first_line"),
        )
        .with_columns((pl.col("first_line") & pl.col("doc_title_only")).alias("title_only"))
        .drop("doc_title_only", "title_line")
    )
    # a dateline or byline prefix is cut from the few lines that start with one
    line = lines.get_column("line")
    prefixed = line.str.contains(_prefix_regex()).arg_true()
    if prefixed.len():
        line = line.scatter(prefixed, line.gather(prefixed).str.replace(_prefix_regex(), "").str.strip_chars())
    return lines.with_columns(line)


def _noise_marks(distinct: pl.DataFrame) -> pl.DataFrame:
    """``_credit`` (a short photo credit), ``_noise`` (a noise line) and ``_noisy`` (noise inside
    words may be left in it: ``_tidy`` reads it) of each line."""
    line = distinct.get_column("line")
    short = (line.str.len_chars() <= _MAX_CREDIT_CHARS).arg_true()   # a credit is read on short lines only
    credit = pl.repeat(False, distinct.height, dtype=pl.Boolean, eager=True).scatter(
        short, line.gather(short).str.contains(_CREDIT))
    noise = pl.any_horizontal(False, *(pl.col("line").str.contains(regex) for regex in _noise_regexes()))
    return distinct.with_columns(credit.alias("_credit"), noise.alias("_noise"),
                                 pl.col("line").str.contains(MAY_HAVE_NOISE).alias("_noisy"))


def _drop_noise(lines: pl.DataFrame) -> pl.DataFrame:
    line = pl.col("line")
    # lines repeat across a batch (bylines, navigation, boilerplate): each is matched once
    lines = on_distinct(lines, ["line"], _noise_marks)
    caption = shifted(pl.col("_credit"), "document_id", n=-1).fill_null(False) & (
        line.str.len_chars() <= _MAX_CAPTION_CHARS
    )
    keep = ~pl.col("_noise") & ~caption & (line != "")
    return lines.filter(keep | (pl.col("first_line") & pl.col("has_title_line"))).drop("_credit", "_noise")


def _tidy(lines: pl.DataFrame) -> pl.DataFrame:
    """``line`` becomes the line as read (what the joining rules look at); ``raw`` keeps it as
    found and ``source`` (int32 bytes, null when the two are equal) maps the one to the other.
    Only the lines ``_noisy`` marks (``_drop_noise``) can change."""
    lines = lines.with_columns(pl.col("line").alias("raw"), pl.lit(None, dtype=pl.Binary).alias("source"))
    noisy = lines.get_column("_noisy").arg_true()
    lines = lines.drop("_noisy")
    if noisy.len():
        # Python on the few lines that carry noise (once per distinct line): no library maps
        # offsets through deletions
        found = lines.get_column("line").gather(noisy).to_list()
        reading = {line: read_line(line) for line in set(found)}
        read = [reading[line] for line in found]
        lines = lines.with_columns(
            lines.get_column("line").scatter(noisy, [text for text, _ in read]),
            lines.get_column("source").scatter(noisy, [None if src is None else src.tobytes() for _, src in read]),
        )
    return lines.filter(pl.col("line") != "")


def _join_broken_lines(lines: pl.DataFrame) -> pl.DataFrame:
    line = pl.col("line")
    # a line left open (no sentence end, prose, long enough, not ending in a figure) is read on
    # itself once, then looked at from the line after it
    lines = lines.with_columns((~line.str.contains(_TERMINAL) & line.str.contains(_PROSE)
                                & (line.str.len_chars() >= _MIN_PROSE_CHARS) & ~line.str.contains(_ENDS_WITH_FIGURE))
                               .alias("_open_end"))
    prev_is_title = shifted(pl.col("first_line") & pl.col("has_title_line"), "document_id")
    continues = same_run("document_id") & ~prev_is_title.fill_null(False) & (
        shifted(pl.col("_open_end"), "document_id") | line.str.contains(_STARTS_AS_CONTINUATION))
    # "_para": the paragraph's row in the frame of paragraphs (its lines stand together)
    lines = lines.with_columns(((~continues).cum_sum().cast(pl.Int64) - 1).alias("_para")).drop("_open_end")
    para = pl.col("_para")
    paras = lines.filter(para.ne_missing(para.shift(1))).select(
        "document_id", pl.col("raw").alias("display"),
        (pl.col("first_line") & pl.col("has_title_line")).alias("is_title"), "title_only")
    # most paragraphs are one line: only the lines of longer ones are joined
    joined = (lines.filter(para.eq(para.shift(1)).fill_null(False) | para.eq(para.shift(-1)).fill_null(False))
              .group_by("_para", maintain_order=True).agg(pl.col("raw").str.join("")))
    if joined.height:
        paras = paras.with_columns(paras.get_column("display").scatter(joined.get_column("_para"),
                                                                       joined.get_column("raw")))
    return _with_offset_maps(paras, lines)


def _with_offset_maps(paras: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    """``reading`` and ``norm_to_display`` of each paragraph with a line read through noise: its
    lines' readings and maps end to end (a clean line maps to itself), then the paragraph's end.
    A paragraph without noise reads as it is displayed."""
    paras = paras.with_columns(pl.col("display").alias("reading"),
                               pl.lit(None, dtype=pl.Binary).alias("norm_to_display"))
    noisy = lines.filter(pl.col("source").is_not_null()).get_column("_para").unique()
    if not noisy.len():
        return paras
    at, readings, maps = [], [], []
    # Python per noisy paragraph (few): NumPy joins the lines' maps, each shifted to its line's start
    found = lines.filter(pl.col("_para").is_in(noisy.implode())).select("_para", "raw", "line", "source")
    for para, rows in groupby(found.iter_rows(), key=itemgetter(0)):
        rows = list(rows)
        at.append(para)
        if len(rows) == 1:   # one line read through noise (most): its map, then its end
            _, raw, line, source = rows[0]
            readings.append(line)
            maps.append(source + np.int32(len(raw)).tobytes())
            continue
        parts, read, start = [], [], 0
        for _, raw, line, source in rows:
            offsets = np.arange(len(line), dtype=np.int32) if source is None else np.frombuffer(source, np.int32)
            parts.append(offsets + start)
            read.append(line)
            start += len(raw)
        parts.append(np.array([start], dtype=np.int32))
        readings.append("".join(read))
        maps.append(np.concatenate(parts).tobytes())
    return paras.with_columns(paras.get_column("reading").scatter(at, pl.Series(readings, dtype=pl.String)),
                              paras.get_column("norm_to_display").scatter(at, pl.Series(maps, dtype=pl.Binary)))


def _normalize(paras: pl.DataFrame) -> pl.DataFrame:
    # paragraphs repeat across a batch (boilerplate, reposts): each is folded and converted once
    return on_distinct(paras, ["reading"], _fold).drop("reading")


def _fold(readings: pl.DataFrame) -> pl.DataFrame:
    norm = readings.get_column("reading").str.replace_many(_FULL_WIDTH, _HALF_WIDTH).alias("norm")
    traditional = norm.str.contains(_TRADITIONAL_HINT).arg_true()
    if traditional.len():   # Python on the paragraphs in traditional script (few): OpenCC takes a string
        converted = [to_simplified(text) for text in norm.gather(traditional).to_list()]
        norm = norm.scatter(traditional, pl.Series(converted, dtype=pl.String))
    return readings.with_columns(norm)


def display_offset(offset: pl.Expr) -> pl.Expr:
    """The offset in ``display`` of ``offset`` in ``norm``, on a frame that carries ``norm_to_display``.

    The map is bytes rather than a list because sentences and tiles repeat their paragraph's
    row: a binary value is shared between the copies, a list would be copied into each.
    """
    return (pl.col("norm_to_display").bin.slice(offset * 4, 4).bin.reinterpret(dtype=pl.Int32, endianness="little")
            .fill_null(offset))


def paragraphs(documents: pl.DataFrame) -> pl.DataFrame:
    if documents.height == 0:
        return pl.DataFrame(schema={"document_id": pl.String, "para_no": pl.Int32, "is_title": pl.Boolean,
                                    "title_only": pl.Boolean, "display": pl.String, "norm": pl.String,
                                    "norm_to_display": pl.Binary})
    paras = _normalize(_join_broken_lines(_tidy(_drop_noise(_lines(documents)))))
    # A paragraph repeated in the same document states its facts once.
    repeated = (pl.col("norm").str.len_chars() >= _MIN_REPEATED_PARAGRAPH) \
        & ~pl.struct("document_id", "title_only", "norm").is_first_distinct()
    return (
        paras.filter(~repeated)
        .with_columns(position("document_id").cast(pl.Int32).alias("para_no"))
        .select("document_id", "para_no", "is_title", "title_only", "display", "norm", "norm_to_display")
    )
