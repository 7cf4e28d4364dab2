"""paragraphs → paragraphs whose table rows read as sentences (FACT_MODEL "Tables").

``read_tables(paras)`` takes the frame of ``clean.paragraphs`` and returns one with the same
columns (document_id, para_no, is_title, title_only, display, norm, norm_to_display). A paragraph
outside a table is returned as it was. In a table:

- each data row that states a figure is one paragraph: ``display`` is the row as found (a row
  written one cell per line: its lines joined by "\\n"), ``norm`` a sentence the extractor reads,
  the caption's period, the row label (indicator and segment) and one clause per numeric column
  (``2023年1-9月，地区生产总值2510.3亿元，同比增长5.6%。``), and ``norm_to_display`` maps each of its
  characters into the row's own display, never backwards: a copied character to where it was
  found, an added word to the cell it reads, so evidence is the row as found;
- the header is dropped (it states no figure, and its 增长% would read as one with lost digits),
  but for a caption glued before its first cell, kept as a heading; so are the bare "|"
  separators of cells written one per line;
- the caption (the paragraph above the header) stays as it is: a heading, it names the subject;
- ``para_no`` is renumbered.

A table is a header (≥ 2 cells split by "|" or "\\t" on one line, or one per line after a label
word such as 指标) with a column whose words (vocab/table_headers.csv) name a measure, then rows:
lines of ≥ 2 cells, or cells one per line in groups as wide as the header. Navigation bars and
prose with a "|" have no such header and are not touched. An empty cell (―, —, -, …, 空) gives
nothing; a level needs a unit (the cell's, the unit column's, the label's "(亿元)", the header's or
the caption's 单位：); a level in % (an index such as CPI 104.8) is not read.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl

from transforms.clean import to_simplified
from transforms.periods import parse_period, period_pattern
from transforms.vocabulary import vocab_rows

_MAX_ROW_CHARS = 200      # a longer paragraph is prose, never a table line (bounds the Python below)
_MAX_CELL_CHARS = 40
_MAX_CAPTION_CHARS = 60
_PRIORITY = {"skip": 4, "share": 3, "yoy": 2, "level": 1, "unit": 0, "label": 0}
_MEASURES = ("level", "yoy", "share")
_CUT = re.compile(r"[|\t]")
# a figure: sign, digits (thousands commas allowed), then at most a unit word; cells are short
_NUMBER = re.compile(r"([-+−]?)([0-9][0-9,]{0,20}(?:\.[0-9]{1,10})?)[ ]?(.{0,5})")
_BRACKET = re.compile(r"[(（]([^()（）]{1,12})[)）]")
_LABEL_UNIT = re.compile(r"[(（]([^()（）]{1,8})[)）]$")
_UNIT_NOTE = re.compile(r"单位[:：]\s{0,3}([^\s,，、;；/)）]{1,6})")
_LABEL_PREFIX = re.compile(r"(?:其中[:：]?|[#＃△▲*※·]|[0-9]{1,2}[.、]|[一二三四五六七八九十]{1,3}、"
                           r"|[(（][0-9一二三四五六七八九十]{1,3}[)）]|\s){0,6}")
_WORDY = re.compile(r"[\u4e00-\u9fffA-Za-z]")
_HAN = re.compile(r"[\u4e00-\u8fff\u9000-\u9fff]")
_RULE = re.compile(r":?-{2,}:?")   # a Markdown rule row (|---|---|)
_SHARE_LEAD = re.compile(r"占[\u4e00-\u9fffA-Za-z]{1,8}")


@lru_cache(maxsize=1)
def _headers() -> dict[str, str]:
    return dict(vocab_rows("table_headers.csv"))


@lru_cache(maxsize=1)
def _units() -> dict[str, str]:
    """unit word → kind, for the kinds a table states figures in."""
    return {u: kind for u, kind, *_ in vocab_rows("units.csv") if kind in ("money", "count", "percent", "pp")}


@lru_cache(maxsize=1)
def _period_re() -> re.Pattern[str]:
    return re.compile(period_pattern())


def _period(text: str) -> str | None:
    """The first period ``text`` states (not a basis such as 比上年, a date, or 今年 alone)."""
    for m in _period_re().finditer(text):
        p = parse_period(m.group(0))
        if p["period_kind"] not in ("basis", "date", "invalid") and (
                p["start_month"] is not None or p["explicit_year"] is not None):
            return m.group(0)
    return None


def _same_period(a: str, b: str) -> bool:
    pa, pb = parse_period(a), parse_period(b)
    if None not in (pa["explicit_year"], pb["explicit_year"]) and pa["explicit_year"] != pb["explicit_year"]:
        return False
    bare = "bare_year" in (pa["period_kind"], pb["period_kind"])
    return bare or (pa["start_month"], pa["end_month"]) == (pb["start_month"], pb["end_month"])


@dataclass(frozen=True)
class _Column:
    role: str | None
    unit: str | None = None
    period: str | None = None
    lead: str = "占比"   # the words a share is read with (占全市比重 when the header says so)


def _column(text: str) -> _Column:
    words = [w for w in _headers() if w in text]
    word = max(words, key=lambda w: (len(w), _PRIORITY[_headers()[w]]), default=None)
    role = _headers()[word] if word else None
    unit = next((b.strip() for b in _BRACKET.findall(text) if b.strip() in _units()), None)
    unit = unit or ("%" if text.endswith("%") else None)
    period = _period(text)
    if role is None and (period or _units().get(text) == "money"):
        role, unit = "level", unit or (text if text in _units() else None)   # a column named by its period or unit
    lead = _SHARE_LEAD.match(_BRACKET.sub("", text).rstrip("%"))
    return _Column(role, unit, period, lead.group(0) if lead else "占比")


@dataclass(frozen=True)
class _Cell:
    text: str
    at: np.ndarray   # display offset of each character of ``text``, then of its end


@dataclass(frozen=True)
class _Para:
    no: int
    display: str
    norm: str
    offsets: np.ndarray   # norm → display, len(norm) + 1
    material: bool        # short, and not the title: may be part of a table

    def cells(self) -> list[_Cell]:
        # a "\t" between two figures or CJK characters is no separator in the reading
        # (transforms.noise takes it out as a space): a cell also ends where one was taken out
        cuts = [(-1, 0)]
        for k, ch in enumerate(self.norm):
            if ch in "|\t":
                cuts.append((k, k + 1))
            elif k and self.offsets[k] > self.offsets[k - 1] + 1 and _CUT.search(
                    self.display, int(self.offsets[k - 1]) + 1, int(self.offsets[k])):
                cuts.append((k, k))
        cuts.append((len(self.norm), None))
        out = []
        for (_, s), (e, _) in zip(cuts, cuts[1:]):
            while s < e and self.norm[s].isspace():
                s += 1
            while e > s and self.norm[e - 1].isspace():
                e -= 1
            out.append(_Cell(self.norm[s:e], self.offsets[s:e + 1]))
        return out

    def line(self) -> list[_Cell] | None:
        """The cells of a table line ("|a|b|" as a, b); None for a paragraph no table holds."""
        if not self.material:
            return None
        cells = self.cells()
        stripped = self.norm.strip()
        if len(cells) > 1 and stripped[:1] == "|" and not cells[0].text:
            cells = cells[1:]
        if len(cells) > 1 and stripped[-1:] == "|" and not cells[-1].text:
            cells = cells[:-1]
        return cells

    def stream(self) -> list[_Cell] | None:
        """The cell of a one-cell-per-line paragraph ([] for a bare "|"), None for anything else."""
        cells = [c for c in self.cells() if c.text] if self.material else None
        if cells is None or len(cells) > 1 or any(len(c.text) > _MAX_CELL_CHARS or "。" in c.text for c in cells):
            return None
        return cells


def _value_like(text: str) -> bool:
    return bool(_NUMBER.fullmatch(text)) or (len(text) <= 3 and not _HAN.search(text.replace("空", "")))


def _label(cell: _Cell) -> tuple[int, int, str | None] | None:
    """Start and end of the row label in the cell (without 其中：, #, numbering) and its "(亿元)"."""
    text = cell.text
    if not text or len(text) > _MAX_CELL_CHARS or "。" in text or _NUMBER.fullmatch(text) or not _WORDY.search(text):
        return None
    start, end, unit = _LABEL_PREFIX.match(text).end(), len(text), None
    if (m := _LABEL_UNIT.search(text)) and m.group(1) in _units():
        end, unit = m.start(), m.group(1)
    while end > start and text[end - 1] in ":： ":
        end -= 1
    return (start, end, unit) if _WORDY.search(text[start:end]) else None


def _read_row(columns: list[_Column], cells: list[_Cell], period: str | None, default_unit: str | None,
              end: int) -> tuple[str, bytes] | None:
    """The row as a sentence and its map into the row's display (whose end is ``end``)."""
    label = _label(cells[0])
    if label is None:
        return None
    ls, le, label_unit = label
    text: list[str] = []
    at: list[int] = []

    def put(words: str, pos) -> None:
        text.append(words)
        at.extend([int(pos)] * len(words))

    def copy(cell: _Cell, s: int, e: int) -> None:
        for k in range(s, e):
            if cell.text[k] != ",":
                text.append(cell.text[k])
                at.append(int(cell.at[k]))

    row_unit = next((c.text for col, c in zip(columns, cells) if col.role == "unit" and c.text in _units()), None)
    if period:
        put(period + "，", cells[0].at[ls])
    copy(cells[0], ls, le)
    clauses, last_end = 0, None
    for col, cell in zip(columns[1:], cells[1:]):
        if col.role not in _MEASURES or (period and col.period and not _same_period(period, col.period)):
            continue
        m = _NUMBER.fullmatch(cell.text)
        suffix = m.group(3).strip() if m else None
        if m is None or (suffix and suffix not in _units()):
            continue
        negative = m.group(1) in ("-", "−")
        if col.role == "level":
            unit = suffix or row_unit or label_unit or col.unit or default_unit
            if negative or _units().get(unit or "") not in ("money", "count"):
                continue   # a level in % is an index or a rate the header does not name
            lead, tail = "", unit
        else:
            if suffix not in ("", "%") or (col.unit or "%") != "%" or (negative and col.role == "share"):
                continue   # 百分点 is a gap, not a rate
            lead = ("同比下降" if negative else "同比增长") if col.role == "yoy" else col.lead
            tail = "%"
        if clauses:
            put("，", last_end)   # at the end of the clause before: its evidence ends with its cell
        put(lead, cell.at[0])
        copy(cell, m.start(2), m.end(2))
        last_end = cell.at[len(cell.text)]
        put(tail, last_end)
        clauses += 1
    if not clauses:
        return None
    put("。", end)
    return "".join(text), np.array([*at, end], dtype="<i4").tobytes()


def _table_at(paras: list[_Para], i: int, edits: dict[int, tuple | None]) -> int:
    """Read the table whose header is paragraph ``i`` into ``edits``; the index after it."""
    first = paras[i].line()
    if first is None or not first or any(_NUMBER.fullmatch(c.text) for c in first):
        return i + 1
    header, j = first, i + 1
    if len(first) == 1:   # one cell per line: a label word, then header words
        if _headers().get(first[0].text) != "label":
            return i + 1
        while j < len(paras) and (more := paras[j].stream()) is not None and all(
                _column(c.text).role for c in more):
            header, j = header + more, j + 1
    header_end = j
    columns = [_Column("label")] + [_column(c.text) for c in header[1:]]
    if len(header) < 2 or not any(c.role in _MEASURES for c in columns) or any(
            len(c.text) > _MAX_CELL_CHARS for c in header[1:]):
        return i + 1
    # the caption: the short line above (above a 单位：亿元 line, if one), or text glued before the header
    above = [p.norm for p in paras[max(0, i - 2):i] if p.material and len(p.norm) <= _MAX_CAPTION_CHARS
             and "。" not in p.norm and len(p.line() or []) == 1]
    notes = above[-2:] + [header[0].text]
    default_unit = next((m.group(1) for n in notes if (m := _UNIT_NOTE.search(n)) and m.group(1) in _units()), None)
    if above and _UNIT_NOTE.match(above[-1]):
        above = above[:-1]
    caption = above[-1] if above else ""
    period = _period(caption) or _period(header[0].text) or next(
        (c.period for c in columns if c.role in _MEASURES and c.period), None)
    found: dict[int, tuple | None] = {}
    width = len(columns)
    if j < len(paras) and len(paras[j].line() or []) >= 2 and len(first) >= 2:
        while j < len(paras) and (cells := paras[j].line()) is not None:
            if len(cells) < 2 or len(cells) > width + 1:
                nxt = paras[j + 1].line() if j + 1 < len(paras) else None
                if len(cells) == 1 and len(cells[0].text) <= 20 and "。" not in cells[0].text and nxt is not None and len(nxt) >= 2:
                    # a section row (其中：, 二、工业) inside the table
                    j += 1
                    continue
                break
            if all(_RULE.fullmatch(c.text) for c in cells):
                found[paras[j].no] = None
            else:
                cols = columns if len(cells) <= width else [_Column("label")] + columns   # header without a corner
                if (read := _read_row(cols, cells, period, default_unit, len(paras[j].display))) is not None:
                    found[paras[j].no] = (paras[j].display, *read)
            j += 1
    else:
        pending: list[tuple[_Cell, int]] = []
        while j < len(paras) and (more := paras[j].stream()) is not None:
            pending += [(c, j) for c in more]
            if not more and not pending:
                found[paras[j].no] = None   # a "|" between rows
            if len(pending) == width:
                if not _stream_row(paras, pending, columns, period, default_unit, found):
                    break
                pending = []
            j += 1
    if any(v is not None for v in found.values()):
        edits.update(found)
        for p in paras[i:header_end]:
            edits[p.no] = None
        kept = first[0]
        if len(first) >= 2 and kept.text and _headers().get(kept.text) != "label":
            # caption and header on one line: the caption stays, as a heading
            edits[paras[i].no] = (paras[i].display, kept.text, kept.at.astype("<i4").tobytes())
    return j


def _stream_row(paras, pending, columns, period, default_unit, found) -> bool:
    """Read one row written one cell per line; False when the cells are no table row."""
    cells = [c for c, _ in pending]
    if _label(cells[0]) is None or not all(_value_like(c.text) or c.text in _units() for c in cells[1:]):
        return False
    span = range(pending[0][1], pending[-1][1] + 1)
    base, display = {}, []
    for k in span:   # the row's lines joined by "\n": where each one starts
        base[k] = sum(len(x) + 1 for x in display)
        display.append(paras[k].display)
    shifted = [_Cell(c.text, c.at + base[k]) for c, k in pending]
    joined = "\n".join(display)
    if (read := _read_row(columns, shifted, period, default_unit, len(joined))) is not None:
        found[paras[span[0]].no] = (joined, *read)
        for k in span[1:]:
            found[paras[k].no] = None
    return True


@lru_cache(maxsize=2)
def _header_forms(roles: tuple[str, ...]) -> list[str]:
    """The header words of ``roles`` in both scripts: a short cell (指標) can escape conversion."""
    import opencc

    words = [w for w, role in _headers().items() if role in roles]
    return sorted(set(words) | {opencc.OpenCC("s2t").convert(w) for w in words}, key=len, reverse=True)


def read_tables(paras: pl.DataFrame) -> pl.DataFrame:
    norm = pl.col("norm")
    material = (norm.str.len_chars() <= _MAX_ROW_CHARS) & ~pl.col("is_title") & ~pl.col("title_only")
    measure_words = "|".join(re.escape(w) for w in _header_forms(_MEASURES))
    header = material & ((pl.col("display").str.contains(r"[|\t]") & norm.str.contains(measure_words))
                         | norm.str.strip_chars(" |\t").is_in(_header_forms(("label",))))
    candidates = paras.with_columns(material.alias("_material")).filter(header.any().over("document_id"))
    if candidates.height == 0:
        return paras
    # Python over the documents that have a header line (few): a table's rows, cells and offset
    # maps are read cell by cell, which no column expression does
    edits: list[tuple] = []
    for (document_id,), doc in candidates.partition_by("document_id", as_dict=True, maintain_order=True).items():
        items = []
        for no, display, text, mapping, is_material in doc.select(
                "para_no", "display", "norm", "norm_to_display", "_material").iter_rows():
            offsets = (np.frombuffer(mapping, dtype="<i4").astype(np.int64) if mapping is not None
                       else np.arange(len(text) + 1)) if is_material else np.zeros(0, dtype=np.int64)
            items.append(_Para(no, display, to_simplified(text) if is_material else text, offsets, is_material))
        found: dict[int, tuple | None] = {}
        i = 0
        while i < len(items):
            i = _table_at(items, i, found) if items[i].material else i + 1
        edits += [(document_id, no, e is None, *(e or (None, None, None))) for no, e in found.items()]
    if not edits:
        return paras
    edited = pl.DataFrame(edits, orient="row", schema={
        "document_id": pl.String, "para_no": pl.Int32, "_drop": pl.Boolean, "_display": pl.String,
        "_norm": pl.String, "_map": pl.Binary})
    return (paras.join(edited, on=["document_id", "para_no"], how="left", maintain_order="left")
            .filter(~pl.col("_drop").fill_null(False))
            .with_columns(pl.coalesce("_display", "display").alias("display"),
                          pl.coalesce("_norm", "norm").alias("norm"),
                          pl.when(pl.col("_norm").is_not_null()).then(pl.col("_map"))
                          .otherwise(pl.col("norm_to_display")).alias("norm_to_display"),
                          pl.int_range(pl.len()).over("document_id").cast(pl.Int32).alias("para_no"))
            .select(paras.columns))
