"""Noise inside words: what mirrors and scrapers leave between the characters of a sentence.

``read_line(line) -> (reading, source)``: the line as it is read, with markup (``两江</a></span>
新区``, ``<font>1.2</font>``, a Markdown ``**bold**`` pair), HTML entities (decoded), invisible
characters, pinyin after characters (``經(jīng)濟(jì)``, ``產【chǎn】``, ``實（shi2）``) and
spaces between CJK characters or digits taken out, and the ends stripped. ``source`` gives,
for each character of ``reading``, its offset in ``line`` (int32 array), or is ``None`` when
nothing was taken out (``reading == line``).

``MAY_HAVE_NOISE`` (Rust syntax, for Polars) matches every line that ``read_line`` changes
(a line already stripped at both ends), so the Python here runs on those lines only.

Masks are not noise: ``**产业`` or ``市***`` stay in the reading, where transforms/vocab/
defects.csv finds them (a lone ``**`` is a mask; a pair around a phrase is bold).

Every pattern is linear: bounded repetitions, possessive runs, one-character look-around.
"""
from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache
from itertools import chain

import numpy as np

_HAN = (r"\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3038-\u303b\u3400-\u4dbf\u4e00-\u9fff"
        r"\uf900-\ufaff\U00020000-\U0003134f")
# a tab is a table's cell boundary (HTML cells are joined by one), never noise: "378.2\t5.5"
_SPACE = r" \u00a0\u2000-\u200a\u202f\u205f\u3000"
_INVISIBLE = r"\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
# a space is noise between these ("增长 6.3 %", "地区 生产总值", "、 工业"), not before a Latin word
_BEFORE_SPACE = r"0-9\uff10-\uff19%\uff05.\uff0e,\uff0c\u3001"
_AFTER_SPACE = r"0-9\uff10-\uff19%\uff05.\uff0e"
_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹḿ"
_OPEN, _CLOSE = r"(（【\[〔", r")）】\]〕"

_TAG = re.compile(r"</?[A-Za-z][^<>]{0,200}>")
_BOLD = re.compile(r"(?<!\*)\*\*(?![\s*])[^*]{0,200}?(?<![\s*])\*\*(?!\*)")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_INVISIBLE_RUN = re.compile(f"[{_INVISIBLE}]++")
_PINYIN = re.compile(f"(?<=[{_HAN}])[{_OPEN}]([a-zü{_TONED}\u0300\u0301\u0304\u0308\u030c]{{1,8}}[1-5]?)[{_CLOSE}]")
_SPACED = re.compile(f"(?<=[{_HAN}{_BEFORE_SPACE}])[{_SPACE}]++(?=[{_HAN}{_AFTER_SPACE}])")
# what the two above cannot match without: a pattern that opens with a look-behind is tried at
# every character, one that opens with a class skips to where the class matches
_ANY_OPEN = re.compile(f"[{_OPEN}]")
_ANY_SPACE = re.compile(f"[{_SPACE}]")

MAY_HAVE_NOISE = (
    r"</?[A-Za-z]|&#?[A-Za-z0-9]{1,32};|\*\*"
    f"|[{_INVISIBLE}]"
    rf"|[\p{{Han}}{_BEFORE_SPACE}][{_SPACE}]+[\p{{Han}}{_AFTER_SPACE}]"
    rf"|\p{{Han}}[{_OPEN}][a-zü{_TONED}]"
)

# One syllable without its tone, ü written ü or v; loose (a few impossible pairs such as "fi"
# pass), which is harmless: it only ever reads lowercase Latin in brackets right after a character.
_SYLLABLE = re.compile(
    r"(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])"
    r"(?:iang|iong|uang|ueng|ang|eng|ing|ong|iao|ian|uai|uan|üan|ai|ei|ao|ou|an|en|ia|ie|iu|in|"
    r"ua|uo|ui|un|üe|ue|ün|a|o|e|i|u|ü)"
    r"|ang|eng|ai|ei|ao|ou|an|en|er|a|o|e"          # no initial: only these stand alone (yi, wu, yu)
)
_UNTONE = str.maketrans("āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ", "aaaaeeeeiiiioooouuuuüüüü")


@lru_cache(maxsize=4096)
def _syllable(text: str) -> tuple[bool, bool]:
    """(is a pinyin syllable, carries a tone) for the text inside the brackets."""
    text = unicodedata.normalize("NFC", text)       # "a\u0304" → "ā"
    toned = text[-1].isdigit() or any(c in _TONED for c in text)
    bare = text.rstrip("12345").translate(_UNTONE).replace("v", "ü")
    return _SYLLABLE.fullmatch(bare) is not None, toned


def _spans(matches, shape=lambda m: m.span()) -> np.ndarray:
    """Flat start, end, start, end … of what ``shape`` takes from each match (no tuple per match:
    a hostile line has millions)."""
    return np.fromiter(chain.from_iterable(map(shape, matches)), dtype=np.int64)


_NO_SPANS = np.empty(0, dtype=np.int64)
_FEW_SPANS = 64   # up to this many starts and ends, a line is cut by slicing; more (a hostile line) by NumPy


def _pinyin_spans(text: str) -> np.ndarray:
    """Bracketed pinyin after a character. A toneless syllable (們(men), 的(de)) counts only on a
    line that also has toned ones: alone, "(a)" or "(e)" is more likely a label than a reading."""
    if not _ANY_OPEN.search(text):
        return _NO_SPANS
    found = [(m, *_syllable(m.group(1))) for m in _PINYIN.finditer(text)]
    if not any(ok and toned for _, ok, toned in found):
        return _NO_SPANS
    return _spans(m for m, ok, _ in found if ok)


def _entity_edits(text: str) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """An entity becomes its character (at the offset of its "&"); an unknown one stays."""
    spans, chars = [], []
    for m in _ENTITY.finditer(text):
        char = html.unescape(m.group())
        if len(char) == 1 and char != m.group():
            chars.append((m.start(), char))
            spans += (m.start() + 1, m.end())
    return np.asarray(spans, dtype=np.int64), chars


def _apply(text: str, source: np.ndarray | None, spans: np.ndarray,
           chars: list[tuple[int, str]] = ()) -> tuple[str, np.ndarray | None]:
    """``text`` without ``spans`` (in order, non-overlapping) and with ``chars`` written in;
    ``source`` follows the kept characters."""
    if not spans.size:
        return text, source
    if source is None:
        source = np.arange(len(text), dtype=np.int32)
    if spans.size <= _FEW_SPANS:
        if chars:
            written = list(text)
            for at, char in chars:
                written[at] = char
            text = "".join(written)
        bounds = [0, *spans.tolist(), len(text)]   # kept: bounds[0]:bounds[1], bounds[2]:bounds[3] …
        kept = np.ones(len(text), dtype=bool)
        for start, end in zip(bounds[1::2], bounds[2::2]):
            kept[start:end] = False
        return "".join(text[start:end] for start, end in zip(bounds[0::2], bounds[1::2])), source[kept]
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).copy()
    for at, char in chars:
        codes[at] = ord(char)
    # +1 where a span starts, -1 where it ends: a character inside a span has a running sum of 1
    depth = np.zeros(len(codes) + 1, dtype=np.int32)
    depth[spans[0::2]] += 1
    depth[spans[1::2]] -= 1
    kept = np.cumsum(depth[:-1]) == 0
    return codes[kept].tobytes().decode("utf-32-le"), source[kept]


def read_line(line: str) -> tuple[str, np.ndarray | None]:
    text, source = line, None
    if "<" in text:
        text, source = _apply(text, source, _spans(_TAG.finditer(text)))
    if "**" in text:
        text, source = _apply(text, source, _spans(_BOLD.finditer(text), lambda m: (
            m.start(), m.start() + 2, m.end() - 2, m.end())))
    if "&" in text:
        text, source = _apply(text, source, *_entity_edits(text))
    if _INVISIBLE_RUN.search(text):
        text, source = _apply(text, source, _spans(_INVISIBLE_RUN.finditer(text)))
    text, source = _apply(text, source, _pinyin_spans(text))
    if _ANY_SPACE.search(text) and _SPACED.search(text):
        text, source = _apply(text, source, _spans(_SPACED.finditer(text)))
    stripped = text.strip()
    if len(stripped) != len(text):
        start = len(text) - len(text.lstrip())
        source = (np.arange(len(text), dtype=np.int32) if source is None else source)[start:start + len(stripped)]
        text = stripped
    return text, source
