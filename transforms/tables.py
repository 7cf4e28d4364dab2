"""paragraphs → paragraphs whose table rows read as sentences (FACT_MODEL "Tables").

``read_tables(paras)`` takes and returns the frame of ``clean.paragraphs``. A table: a header (≥ 2
cells split by "|" or "\\t", on one line or one per line after 指标) with a measure word
(vocab/table_headers.csv) in a column, then rows (lines of ≥ 2 cells, or cells one per line as many
as the header's), under a caption (the short line above). Each row that states a figure becomes
one paragraph: ``display`` the row as found (cells one per line: joined by "\\n"); ``norm`` a
sentence the extractor reads, the caption's period, the row label, a clause per figure
(``2023年1-9月,地区生产总值2510.3亿元,同比增长5.6%。``); ``norm_to_display`` maps each of its
characters into that display, never backwards (an added word to its cell). The header and the "|"
between cells are dropped, the caption stays (a heading: the subject); para_no is renumbered.
Other paragraphs (navigation bars, prose with a "|") are returned as they were. An empty cell (―,
—, -, …, 空) gives nothing; a level needs a unit; a level in % (CPI 104.8) is not read.
"""
from __future__ import annotations

import re
from collections import namedtuple
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import groupby

import numpy as np
import opencc
import polars as pl

from transforms.clean import to_simplified
from transforms.periods import parse_period, period_pattern
from transforms.runs import position, running_sum, shifted
from transforms.vocabulary import vocab_rows

_MAX_ROW_CHARS = 200      # a longer paragraph is prose, never a table line (bounds the Python below)
_MAX_CELL_CHARS = 40
_MAX_CAPTION_CHARS = 60
_PRIORITY = {"skip": 4, "share": 3, "yoy": 2, "level": 1, "unit": 0, "label": 0}
_MEASURES = ("level", "yoy", "share")
_READ = ("display", "norm", "norm_to_display")
_CUT = re.compile(r"[|\t]")
# a figure: sign, digits (thousands commas allowed), then at most a unit word (cells are short)
_NUMBER = re.compile(r"([-+−]?)([0-9][0-9,]{0,20}(?:\.[0-9]{1,10})?)[ ]?(.{0,5})")
_BRACKET = re.compile(r"[(（]([^()（）]{1,12})[)）]")
_UNIT_NOTE = re.compile(r"单位[:：]\s{0,3}([^\s,，、;；/)）]{1,6})")
_LABEL_PREFIX = re.compile(   # 其中：, #, 1., 一、, (一) before a row label
    r"(?:其中[:：]?|[#＃△▲*※·]|[0-9]{1,2}[.、]|[一二三四五六七八九十]{1,3}、|[(（][0-9一二三四五六七八九十]{1,3}[)）]|\s){0,6}")
_WORDY = re.compile(r"[\u4e00-\u9fffA-Za-z]")
_SHARE_LEAD = re.compile(r"占[\u4e00-\u9fffA-Za-z]{1,8}")


@lru_cache(maxsize=1)
def _headers() -> dict[str, str]:
    return dict(vocab_rows("table_headers.csv"))


@lru_cache(maxsize=1)
def _header_words() -> tuple[str, list[str]]:
    """Measure words (a regex) and label words in both scripts: a cell (指標) can escape conversion."""
    s2t = opencc.OpenCC("s2t").convert
    forms = {r: sorted({f for w, role in _headers().items() if role in r for f in (w, s2t(w))}, key=len, reverse=True)
             for r in (_MEASURES, ("label",))}
    return "|".join(map(re.escape, forms[_MEASURES])), forms["label",]


@lru_cache(maxsize=1)
def _units() -> dict[str, str]:   # unit word → kind, for the kinds a table states figures in
    return {u: kind for u, kind, *_ in vocab_rows("units.csv") if kind in ("money", "count", "percent", "pp")}


def _period(text: str) -> str | None:
    """The first period ``text`` states (not a basis such as 比上年, a date, or 今年 alone)."""
    found = (m.group(0) for m in re.finditer(period_pattern(), text))   # re caches the compiled pattern
    return next((p for p in found if (q := parse_period(p))["period_kind"] not in ("basis", "date", "invalid")
                 and (q["start_month"] is not None or q["explicit_year"] is not None)), None)


def _same_period(a: str, b: str) -> bool:
    ps = [parse_period(a), parse_period(b)]   # a bare year (2023年) agrees with any months of its year
    return len({p["explicit_year"] for p in ps} - {None}) <= 1 and len(
        {(p["start_month"], p["end_month"]) for p in ps if p["period_kind"] != "bare_year"}) <= 1


@lru_cache(maxsize=4096)
def _simplified(text: str) -> str:   # labels and captions repeat from table to table
    return to_simplified(text)


def _figure(text: str) -> re.Match[str] | None:   # a number, with at most a unit word after it
    return m if (m := _NUMBER.fullmatch(text)) and (not (u := m.group(3).strip()) or u in _units()) else None


# a column's role, the unit and period its header names, the words a share is read with (占全市比重)
_Column = namedtuple("_Column", "role unit period lead", defaults=(None, None, "占比"))


@lru_cache(maxsize=4096)
def _column(text: str) -> _Column:
    words = [w for w in _headers() if w in text]
    word = max(words, key=lambda w: (len(w), _PRIORITY[_headers()[w]]), default=None)
    role = _headers()[word] if word else None
    unit = next((b.strip() for b in _BRACKET.findall(text) if b.strip() in _units()),
                "%" if text.endswith("%") else None)
    period = _period(text)
    if role is None and (period or _units().get(text) == "money"):   # a column named by its period or unit
        role, unit = "level", unit or (text if text in _units() else None)
    lead = _SHARE_LEAD.match(_BRACKET.sub("", text).rstrip("%"))
    return _Column(role, unit, period, lead.group(0) if lead else "占比")


_Cell = namedtuple("_Cell", "text at")   # at: the display offset of each character of text, then of its end


@dataclass(eq=False)   # not frozen: a frozen one sets each field by a call, and each line of a table's document is one
class _Para:
    no: int
    display: str
    norm: str
    mapping: bytes | None   # norm_to_display (transforms.clean): null when norm and display share offsets
    material: bool        # short, and not the title: may be part of a table
    header: bool          # may be a table's header (a measure word and a separator, or 指标 alone)

    @cached_property
    def cells(self) -> list[_Cell]:
        # a cell (指標) can escape the paragraph's conversion; a "\t" between figures or CJK is taken out
        # of the reading (transforms.noise): a cell also ends where one was, after its last character
        text = _simplified(self.norm)
        if self.mapping is None:   # nothing was taken out: the cells lie between the cuts
            out, start = [], 0
            for piece in _CUT.split(text) if "\t" in text else text.split("|"):
                cell = piece.strip()
                s = start + len(piece) - len(piece.lstrip())   # an empty cell: at the end of its piece
                out.append(_Cell(cell, range(s, s + len(cell) + 1)))
                start += len(piece) + 1
            return out
        offsets = np.frombuffer(self.mapping, dtype="<i4")[:len(text) + 1]
        at, gaps = offsets.tolist(), np.flatnonzero(offsets[1:-1] > offsets[:-2] + 1) + 1
        taken = [k for k in gaps.tolist() if _CUT.search(self.display, at[k - 1] + 1, at[k])]
        cuts = sorted([(-1, 0), (len(text), None), *(m.span() for m in _CUT.finditer(text)),
                       *((k, k) for k in taken)])
        out = []
        for (_, s), (e, _) in zip(cuts, cuts[1:]):
            cell = text[s:e]
            s, e = s + len(cell) - len(cell.lstrip()), e - len(cell) + len(cell.rstrip())
            out.append(_Cell(text[s:e], [*at[s:e], at[e - 1] + 1 if e > s else at[s]]))
        return out

    def line(self) -> list[_Cell] | None:
        """The cells of a table line ("|a|b|" as a, b); None for a paragraph no table holds."""
        if not self.material:
            return None
        cells, bars = self.cells, self.norm.strip()
        lo = int(len(cells) > 1 and bars[:1] == "|" and not cells[0].text)
        return cells[lo:len(cells) - int(len(cells) - lo > 1 and bars[-1:] == "|" and not cells[-1].text)]

    def stream(self) -> list[_Cell] | None:
        """The cell of a one-cell-per-line paragraph ([] for a bare "|"), None for anything else."""
        cells = [c for c in self.cells if c.text] if self.material else [None, None]
        return None if len(cells) > 1 or any(len(c.text) > _MAX_CELL_CHARS or "。" in c.text for c in cells) else cells


def _label(cell: _Cell) -> tuple[int, int, str | None] | None:
    """Start and end of the row label in the cell (without 其中：, #, numbering) and its "(亿元)"."""
    return _label_in(cell.text)


@lru_cache(maxsize=4096)   # row labels repeat from table to table
def _label_in(text: str) -> tuple[int, int, str | None] | None:
    if not text or len(text) > _MAX_CELL_CHARS or "。" in text or _figure(text) or not _WORDY.search(text):
        return None
    start, end, unit = _LABEL_PREFIX.match(text).end(), len(text), None
    if (m := _BRACKET.search(text, len(text) - 10)) and m.end() == len(text) and m.group(1) in _units():
        end, unit = m.start(), m.group(1)   # 地区生产总值(亿元)
    end = start + len(text[start:end].rstrip(":： "))
    return (start, end, unit) if _WORDY.search(text[start:end]) else None


def _copy(text: list[str], at: list[int], cell: _Cell, s: int, e: int) -> None:
    """Put the cell's own characters ``s:e`` (without thousands commas) where they were found."""
    part = cell.text[s:e]
    if "," not in part:
        text.append(part)
        at += cell.at[s:e]
        return
    keep = [k for k in range(s, e) if cell.text[k] != ","]
    text.extend(cell.text[k] for k in keep)
    at.extend(cell.at[k] for k in keep)


def _read_row(columns: list[_Column], cells: list[_Cell], period: str | None, default_unit: str | None,
              end: int) -> tuple[str, bytes] | None:
    """The row as a sentence and its map into the row's display (whose end is ``end``). An added
    word maps to its cell: a period to the label, a lead to its figure, a unit and the "," and
    "。" after a clause to the end of its figure's cell (its evidence ends with its cell)."""
    if (label := _label(cells[0])) is None:
        return None
    units = _units()
    text, at = [], []   # the sentence's pieces and the display offset of each of their characters
    row_unit = next((c.text for col, c in zip(columns, cells) if col.role == "unit" and c.text in units), None)
    if period:
        text.append(period + ",")
        at += [cells[0].at[label[0]]] * (len(period) + 1)
    _copy(text, at, cells[0], label[0], label[1])
    last_end = None
    for col, cell in zip(columns[1:], cells[1:]):
        if col.role not in _MEASURES or (period and col.period and not _same_period(period, col.period)) or (
                m := _figure(cell.text)) is None:
            continue
        suffix, negative = m.group(3).strip(), m.group(1) in ("-", "−")
        if col.role == "level":
            unit = suffix or row_unit or label[2] or col.unit or default_unit
            if negative or units.get(unit or "") not in ("money", "count"):
                continue   # a level in % is an index or a rate the header does not name
            lead, tail = "", unit
        else:
            if suffix not in ("", "%") or (col.unit or "%") != "%" or (negative and col.role == "share"):
                continue   # 百分点 is a gap, not a rate
            lead, tail = ("同比下降" if negative else "同比增长") if col.role == "yoy" else col.lead, "%"
        if last_end is not None:
            text.append(",")
            at.append(last_end)
        text.append(lead)
        at += [cell.at[0]] * len(lead)
        _copy(text, at, cell, m.start(2), m.end(2))
        last_end = cell.at[len(cell.text)]
        text.append(tail)
        at += [last_end] * len(tail)
    if last_end is None:
        return None
    text.append("。")
    at += (last_end, end)
    return "".join(text), np.array(at, dtype="<i4").tobytes()


def _caption(paras: list[_Para], i: int, corner: str) -> tuple[str, str | None]:
    """The caption of the header at ``i`` (the short line above, or above a 单位： line) and that unit."""
    lines: list[str] = []
    for p in reversed(paras[max(0, i - 2):i]):   # the title too: a document may open with its table
        if len(p.norm) > _MAX_CAPTION_CHARS or "。" in p.norm or _CUT.search(p.display):
            break
        lines.append(_simplified(p.norm).strip())
        if not _UNIT_NOTE.match(lines[-1]):
            break
    units = [m.group(1) for n in [*lines, corner] if (m := _UNIT_NOTE.search(n)) and m.group(1) in _units()]
    return next((n for n in lines if not _UNIT_NOTE.match(n)), ""), (units or [None])[0]


def _table_at(paras: list[_Para], i: int, edits: dict[int, tuple | None]) -> int:
    """Read the table whose header is paragraph ``i`` into ``edits``; the index after it."""
    first, n = paras[i].line(), len(paras)
    if not first or any(_figure(c.text) for c in first):
        return i + 1
    header, j = first, i + 1
    if len(first) == 1 and _headers().get(first[0].text) != "label":
        return i + 1
    while len(first) == 1 and j < n and (more := paras[j].stream()) is not None and all(  # a cell per line
            _column(c.text).role for c in more):
        header, j = header + more, j + 1
    header_end = j
    corner = 0 if len(header[0].text) <= 10 and _column(header[0].text).role in _MEASURES else 1
    columns = [_Column("label")] + [_column(c.text) for c in header[corner:]]
    if len(header) < 2 or not any(c.role in _MEASURES for c in columns) or any(
            len(c.text) > _MAX_CELL_CHARS for c in header[1:]):
        return i + 1
    caption, unit = _caption(paras, i, header[0].text)
    stated = [c.period for c in columns if c.role in _MEASURES and c.period]
    if not (period := _period(caption) or _period(header[0].text)) and len(set(stated)) > 1:   # 9月|1-9月|增长%: whose?
        columns = [c if c.period or c.role not in _MEASURES else c._replace(role="skip") for c in columns]
    period = period or next(iter(stated), None)
    rows, bars, width = [], [], len(columns)   # rows: (cell, paragraph index); bars: a "|" between rows
    if len(first) >= 2 and j < n and len(paras[j].line() or []) >= 2:   # a row per line
        while j < n and (cells := paras[j].line()) is not None:
            if 2 <= len(cells) <= width + 1:
                rows.append([(c, j) for c in cells])
            elif not (len(cells) == 1 and len(cells[0].text) <= 20 and "。" not in cells[0].text and j + 1 < n
                      and len(paras[j + 1].line() or []) >= 2):   # but a section row (其中：, 二、工业)
                break
            j += 1
    else:   # a cell per line
        pending: list[tuple[_Cell, int]] = []
        while j < n and (more := paras[j].stream()) is not None:
            if not more and not pending:
                bars.append(j)
            pending += [(c, j) for c in more]
            if len(pending) == width:
                if _label(pending[0][0]) is None or not all(
                        _figure(c.text) or (col.role == "unit" and len(c.text) <= 6)
                        or (len(c.text) <= 3 and not _WORDY.search(c.text.replace("空", "")))
                        for col, (c, _) in zip(columns[1:], pending[1:])):
                    break   # no row: the table has ended
                rows.append(pending)
                pending = []
            j += 1
    found: dict[int, tuple | None] = {}
    for row in rows:
        span = range(row[0][1], row[-1][1] + 1)
        if len(span) > 1:   # cells one per line: their offsets move to the lines' places in the row
            display = "\n".join(paras[k].display for k in span)
            starts = np.cumsum([0] + [len(paras[k].display) + 1 for k in span])   # lines joined by "\n"
            cells = [_Cell(c.text, [x + int(starts[k - span[0]]) for x in c.at]) for c, k in row]
        else:
            display, cells = paras[span[0]].display, [c for c, _ in row]
        cols = columns if len(cells) <= width else [_Column("label")] + columns   # a header without its corner
        if (read := _read_row(cols, cells, period, unit, len(display))) is not None:
            found[paras[span[0]].no] = (display, *read)
            found.update((paras[k].no, None) for k in span[1:])
    if found:   # the header and bars go, but a caption on the header's line stays (a heading)
        edits.update({**found, **{paras[k].no: None for k in [*range(i, header_end), *bars]}})
        if len(first) >= 2 and first[0].text and _headers().get(first[0].text) != "label":
            edits[paras[i].no] = (paras[i].display, first[0].text, np.array(first[0].at, dtype="<i4").tobytes())
    return j


def read_tables(paras: pl.DataFrame) -> pl.DataFrame:
    norm, document = pl.col("norm"), "document_id"
    measure_words, label_words = _header_words()
    material = (norm.str.len_chars() <= _MAX_ROW_CHARS) & ~pl.col("is_title") & ~pl.col("title_only")
    marks = paras.select(material.alias("_material"),
                         (material & pl.col("display").str.contains(r"[|\t]")).alias("_cut"),
                         (material & norm.str.strip_chars(" |\t").is_in(label_words)).alias("_header"))
    header, cut = marks.get_column("_header"), marks.get_column("_cut").arg_true()
    if cut.len():   # the measure words are looked for on the few lines with a "|" or "\t" only
        measured = paras.get_column("norm").gather(cut).str.contains(measure_words)
        header = header.scatter(cut, header.gather(cut) | measured)
    if not header.any():
        return paras.with_columns(position(document).cast(pl.Int32).alias("para_no"))
    # a table reads its header, the caption in the two lines above it and the lines below it
    is_header = pl.col("_header")
    near = (running_sum(is_header.cast(pl.Int32), document) > 0) | pl.any_horizontal(
        shifted(is_header, document, n=-1).fill_null(False), shifted(is_header, document, n=-2).fill_null(False))
    rows = (paras.select(document, *_READ).with_columns(marks.get_column("_material"), header)
            .with_row_index("_row").filter(near)
            .select(document, "_row", *_READ, "_material", "_header").iter_rows())
    # Python over those lines of the documents with a header line (few): rows, cells and offset
    # maps are read cell by cell and character by character, which no column expression does.
    # A paragraph is named by its row in ``paras``.
    edits: dict[int, tuple | None] = {}
    for _, doc in groupby(rows, key=lambda r: r[0]):
        items = [_Para(no, display, text, mapping, ok, is_header) for _, no, display, text, mapping, ok, is_header in doc]
        i = 0
        while i < len(items):
            i = _table_at(items, i, edits) if items[i].header else i + 1
    # a rewritten row has all three values; a dropped paragraph (header, "|") none
    rewritten = {row: e for row, e in edits.items() if e is not None}
    at = pl.Series(list(rewritten), dtype=pl.UInt32)
    columns = [paras.get_column(k).scatter(at, pl.Series(values, dtype=paras.schema[k]))
               for k, values in zip(_READ, zip(*rewritten.values()))]
    dropped = [row for row, e in edits.items() if e is None]
    kept = pl.Series(np.ones(paras.height, dtype=bool)).scatter(dropped, False)
    return (paras.with_columns(columns).filter(kept)
            .with_columns(position(document).cast(pl.Int32).alias("para_no")))
