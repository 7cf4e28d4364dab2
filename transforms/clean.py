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

import numpy as np
import polars as pl

from transforms.distinct import on_distinct
from transforms.noise import MAY_HAVE_NOISE, read_line
from transforms.runs import position, running_sum, shifted
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

_FULL_WIDTH = [chr(c) for c in range(0xFF01, 0xFF5F)] + ["\u3000"]
_HALF_WIDTH = [chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)] + [" "]

# Characters that occur only in traditional script and are frequent in economic news;
# a document containing any of them is converted with OpenCC.
_TRADITIONAL_HINT = (
    "[區產總億長發經濟實現這為們來時對會從開關業國際銷費進資電務營設計統萬點據調說頭應劃東還"
    "與個億額貿幣預劃廠鎮縣區園層創築積議優勢導維護態條達辦團體質華營數單雙級歲邊]"
)


@lru_cache(maxsize=1)
def _noise_regex() -> str:
    return "|".join(f"(?:{p})" for p in read_patterns(VOCAB_DIR / "noise_lines.txt"))


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


def _metadata_titles(documents: pl.DataFrame) -> tuple[list[str | None], list[int | None]]:
    """Per document: its metadata title when the text does not carry it as a line, and which of
    the text's first lines is that title (a Markdown heading repeating it, or a title under a
    scraped breadcrumb), if one is."""
    if "title" not in documents.columns:
        return [None] * documents.height, [None] * documents.height
    missing, title_line = [], []
    for title, source, text in documents.select("title", "title_source", "text").iter_rows():
        title = (title or "").strip().lstrip("#").strip()
        lines = [line.strip().lstrip("#").strip() for line in (text or "").splitlines() if line.strip()]
        from_metadata = source not in (None, "first_line") and bool(title)
        missing.append(title if from_metadata and title not in lines else None)
        head = lines[:_TITLE_SEARCH_LINES]
        title_line.append(head.index(title) if from_metadata and title in head else None)
    return missing, title_line


def _lines(documents: pl.DataFrame) -> pl.DataFrame:
    missing, title_line = _metadata_titles(documents)
    text = pl.col("text").str.replace_all("\r", "")
    return (
        documents.with_columns(pl.Series("metadata_title", missing, dtype=pl.String),
                               pl.Series("title_line", title_line, dtype=pl.Int64)).select(
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
            pl.col("line").str.replace(_prefix_regex(), "").str.strip_chars(),
        )
        .with_columns((pl.col("first_line") & pl.col("doc_title_only")).alias("title_only"))
        .drop("doc_title_only", "title_line")
    )


def _drop_noise(lines: pl.DataFrame) -> pl.DataFrame:
    line = pl.col("line")
    # lines repeat across a batch (bylines, navigation, boilerplate): each is matched once
    lines = on_distinct(lines, ["line"], lambda distinct: distinct.with_columns(
        (line.str.contains(_CREDIT) & (line.str.len_chars() <= _MAX_CREDIT_CHARS)).alias("_credit"),
        line.str.contains(_noise_regex()).alias("_noise"),
    ))
    caption = shifted(pl.col("_credit"), "document_id", n=-1).fill_null(False) & (
        line.str.len_chars() <= _MAX_CAPTION_CHARS
    )
    keep = ~pl.col("_noise") & ~caption & (line != "")
    return lines.filter(keep | (pl.col("first_line") & pl.col("has_title_line"))).drop("_credit", "_noise")


def _tidy(lines: pl.DataFrame) -> pl.DataFrame:
    """``line`` becomes the line as read (what the joining rules look at); ``raw`` keeps it as
    found and ``source`` (int32 bytes, null when the two are equal) maps the one to the other."""
    lines = lines.with_columns(pl.col("line").alias("raw"), pl.lit(None, dtype=pl.Binary).alias("source"))
    noisy = lines.get_column("line").str.contains(MAY_HAVE_NOISE).arg_true()
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
    continues = shifted(line, "document_id").is_not_null() & ~prev_is_title.fill_null(False) & (
        shifted(pl.col("_open_end"), "document_id") | line.str.contains(_STARTS_AS_CONTINUATION))
    lines = lines.with_columns(running_sum((~continues).cast(pl.Int32), "document_id").alias("para_no")) \
        .drop("_open_end")
    paras = lines.group_by("document_id", "para_no", maintain_order=True).agg(
        pl.col("raw").str.join("").alias("display"),
        (pl.col("first_line") & pl.col("has_title_line")).first().alias("is_title"),
        pl.col("title_only").first().alias("title_only"),
    )
    return _with_offset_maps(paras, lines)


def _with_offset_maps(paras: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    """``reading`` and ``norm_to_display`` of each paragraph with a line read through noise: its
    lines' readings and maps end to end (a clean line maps to itself), then the paragraph's end.
    A paragraph without noise reads as it is displayed."""
    if lines.get_column("source").null_count() == lines.height:
        return paras.with_columns(pl.col("display").alias("reading"),
                                  pl.lit(None, dtype=pl.Binary).alias("norm_to_display"))
    noisy = lines.filter(pl.col("source").is_not_null().any().over("document_id", "para_no"))
    found = noisy.group_by("document_id", "para_no", maintain_order=True).agg("raw", "line", "source")
    readings, maps = [], []
    # Python per noisy paragraph (few): NumPy joins the lines' maps, each shifted to its line's start
    for raws, lines_read, sources in found.select("raw", "line", "source").iter_rows():
        parts, start = [], 0
        for raw, line, source in zip(raws, lines_read, sources):
            offsets = np.arange(len(line), dtype=np.int32) if source is None else np.frombuffer(source, np.int32)
            parts.append(offsets + start)
            start += len(raw)
        parts.append(np.array([start], dtype=np.int32))
        readings.append("".join(lines_read))
        maps.append(np.concatenate(parts).tobytes())
    found = found.select("document_id", "para_no", pl.Series("reading", readings, dtype=pl.String),
                         pl.Series("norm_to_display", maps, dtype=pl.Binary))
    return (paras.join(found, on=["document_id", "para_no"], how="left", maintain_order="left")
            .with_columns(pl.col("reading").fill_null(pl.col("display"))))


def _normalize(paras: pl.DataFrame) -> pl.DataFrame:
    folded = pl.col("reading").str.replace_many(_FULL_WIDTH, _HALF_WIDTH)
    paras = paras.with_columns(folded.alias("norm")).drop("reading")
    needs_t2s = paras.get_column("norm").str.contains(_TRADITIONAL_HINT)
    if needs_t2s.any():
        norm = paras.get_column("norm").to_list()
        flags = needs_t2s.to_list()
        paras = paras.with_columns(
            pl.Series("norm", [to_simplified(t) if f else t for t, f in zip(norm, flags)], dtype=pl.String)
        )
    return paras


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
