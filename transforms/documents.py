"""files → documents: decode bytes, sniff the format, strip markup, resolve metadata.

Input row contract (``RAW_FILE_SCHEMA``), one row per file the inbox found:
    path        str     path relative to the inbox, posix separators
    content     bytes   the file's bytes (only the head when the file is oversized)
    size_bytes  int     size of the file on disk
    sha256      str     hex digest of the whole file (identity of a document version)
    sidecar     bytes?  bytes of ``<stem>.meta.json`` next to the file, if any
    read_error  str?    set by the inbox when the file could not be read at all

Output: ``parse_documents(raw, max_bytes=...) -> (documents, quarantine)``, see
``DOCUMENT_SCHEMA`` and ``QUARANTINE_SCHEMA``.

This module is pure: no file I/O, no network, no environment variables. Every input
byte is treated as hostile: content and sidecar values are only ever stored as data,
parsing is wrapped so that one bad file cannot stop a batch (it lands in quarantine
as ``unparseable``), and every regex is written so that it runs in linear time even on
a 20 MB single-line file.

Pipeline per file (first failing check wins):

1. ``read_error`` set                              → quarantine ``unreadable``
2. ``size_bytes`` > ``max_bytes``                  → quarantine ``oversized``
3. zero bytes                                      → quarantine ``empty``
4. known magic number, or NUL without UTF-16 BOM   → quarantine ``binary``
5. decode: BOM, else strict UTF-8, else strict GB18030; garbage guard: more than 10 %
   of the non-whitespace characters are controls (any encoding) or private-use /
   unassigned (GB18030 and UTF-16 only: they accept almost any bytes)
                                                   → quarantine ``undecodable``
                                                     (``binary`` when mostly controls)
6. only whitespace after decoding                  → quarantine ``empty``
7. sidecar present but not a JSON object           → quarantine ``bad_sidecar``
8. sniff format from the content (html / markdown / text), strip markup;
   parser crash                                    → quarantine ``unparseable``
9. no text left after stripping markup             → quarantine ``empty``
10. resolve title, publication date and source URL:
    sidecar > front matter > HTML (meta / <title> / <h1>) > the text itself.

Text conventions: newlines are "\n"; stray control characters are removed; nothing
else is folded (full-width, traditional characters stay). Text and Markdown keep their
lines and blank lines (Markdown-only lines such as fences, rules and image-only lines
disappear). HTML yields one block per line with no blank lines, table cells joined by
"\t", source line breaks inside a paragraph collapsed to a space (or to nothing
between two CJK characters).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import html as _html
import json
import operator
import re
import unicodedata
from posixpath import basename
from typing import Any

import polars as pl

__all__ = [
    "RAW_FILE_SCHEMA",
    "DOCUMENT_SCHEMA",
    "QUARANTINE_SCHEMA",
    "QUARANTINE_REASONS",
    "ENCODINGS",
    "FORMATS",
    "DEFAULT_MAX_BYTES",
    "PAYLOAD_MAX_BYTES",
    "parse_documents",
]

# --------------------------------------------------------------------------- schemas

RAW_FILE_SCHEMA: dict[str, pl.DataType] = {
    "path": pl.Utf8(),
    "content": pl.Binary(),
    "size_bytes": pl.Int64(),
    "sha256": pl.Utf8(),
    "sidecar": pl.Binary(),
    "read_error": pl.Utf8(),
}

DOCUMENT_SCHEMA: dict[str, pl.DataType] = {
    "document_id": pl.Utf8(),
    "path": pl.Utf8(),
    "stem": pl.Utf8(),
    "sha256": pl.Utf8(),
    "size_bytes": pl.Int64(),
    "encoding": pl.Utf8(),
    "format": pl.Utf8(),
    "title": pl.Utf8(),
    "title_source": pl.Utf8(),
    "published_at": pl.Date(),
    "date_source": pl.Utf8(),
    "source_url": pl.Utf8(),
    "text": pl.Utf8(),
}

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "path": pl.Utf8(),
    "sha256": pl.Utf8(),
    "reason": pl.Utf8(),
    "detail": pl.Utf8(),
    "payload": pl.Binary(),
}

QUARANTINE_REASONS = (
    "oversized",
    "binary",
    "undecodable",
    "empty",
    "bad_sidecar",
    "unreadable",
    "unparseable",
)
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "gb18030")
FORMATS = ("text", "markdown", "html")

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
PAYLOAD_MAX_BYTES = 1024 * 1024
_MIB = 1024 * 1024

_SNIFF_CHARS = 64 * 1024  # format sniffing only looks at the head of the text
_GARBAGE_RATIO = 0.10
_DATED_LINE_SCAN = 40  # non-empty lines scanned for a dated line
_DATED_LINE_MAX = 80
_DATED_REST_MAX = 40
_TITLE_LINE_MAX = 60
_YEAR_MIN, _YEAR_MAX = 1990, 2100


class _Reject(Exception):
    """Raised inside the per-file pipeline to send a file to quarantine."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# --------------------------------------------------------------------------- binary

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"%PDF-", "PDF document"),
    (b"PK\x03\x04", "ZIP archive (or docx/xlsx)"),
    (b"PK\x05\x06", "ZIP archive"),
    (b"PK\x07\x08", "ZIP archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"BZh", "bzip2 archive"),
    (b"\xfd7zXZ\x00", "xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"\x28\xb5\x2f\xfd", "zstd archive"),
    (b"\x7fELF", "ELF executable"),
    (b"\xcf\xfa\xed\xfe", "Mach-O executable"),
    (b"\xca\xfe\xba\xbe", "Mach-O / Java class file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "MS Office (OLE) document"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"\x00asm", "WebAssembly module"),
    (b"II*\x00", "TIFF image"),
    (b"MM\x00*", "TIFF image"),
    (b"OggS", "Ogg media"),
    (b"ID3", "MP3 audio"),
    (b"fLaC", "FLAC audio"),
    (b"wOFF", "WOFF font"),
    (b"wOF2", "WOFF2 font"),
)


_MAGIC_BY_FIRST_BYTE: dict[int, tuple[tuple[bytes, str], ...]] = {}
for _magic, _kind in _MAGIC:
    _MAGIC_BY_FIRST_BYTE[_magic[0]] = _MAGIC_BY_FIRST_BYTE.get(_magic[0], ()) + ((_magic, _kind),)
del _magic, _kind
_MEDIA_FIRST_BYTES = frozenset((ord("R"), 0x00))  # RIFF..., ftyp boxes start with a size


def _magic_kind(content: bytes) -> str | None:
    first = content[0]
    if first not in _MAGIC_BY_FIRST_BYTE and first not in _MEDIA_FIRST_BYTES:
        return None
    for magic, kind in _MAGIC_BY_FIRST_BYTE.get(first, ()):
        if content.startswith(magic):
            # "BZh" and "ID3" are printable: require the binary-looking byte after them.
            if magic == b"BZh" and not (len(content) > 3 and content[3:4] in b"123456789"):
                continue
            if magic == b"ID3" and not (len(content) > 3 and content[3] < 0x10):
                continue
            return kind
    if content[:4] == b"RIFF" and content[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return {b"WEBP": "WebP image", b"WAVE": "WAV audio", b"AVI ": "AVI video"}[content[8:12]]
    if content[4:8] == b"ftyp":
        return "MP4/MOV media"
    return None


# --------------------------------------------------------------------------- decoding

_BOM_UTF8 = b"\xef\xbb\xbf"
_BOM_UTF16 = (b"\xff\xfe", b"\xfe\xff")

# C0/C1 control characters other than \t \n \r.
_CTRL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _build_bmp_bad_class() -> str:
    """A regex class of BMP characters that are private-use or unassigned."""
    ranges: list[tuple[int, int]] = []
    start = None
    for cp in range(0x10000):
        bad = 0xD800 > cp or cp > 0xDFFF  # surrogates cannot come out of a strict decode
        bad = bad and unicodedata.category(chr(cp)) in ("Co", "Cn")
        if bad and start is None:
            start = cp
        elif not bad and start is not None:
            ranges.append((start, cp - 1))
            start = None
    if start is not None:
        ranges.append((start, 0xFFFF))
    parts = []
    for a, b in ranges:
        parts.append(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}")
    return "[" + "".join(parts) + "]"


_BMP_BAD_RE = re.compile(_build_bmp_bad_class())
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")


# C0 control bytes other than \t \n \r (same bytes in UTF-8 text).
_C0_CTRL_BYTES = bytes(b for b in range(0x20) if b not in (0x09, 0x0A, 0x0D)) + b"\x7f"
_C1_RE = re.compile("[\x80-\x9f]")


def _count_controls(text: str, utf8: bytes) -> int:
    """Number of control characters (not \\t \\n \\r) in text; utf8 is text as UTF-8.

    Byte-level ``translate`` is an order of magnitude faster than a regex on CJK text.
    """
    n = len(utf8) - len(utf8.translate(None, _C0_CTRL_BYTES))
    if b"\xc2" in utf8:  # U+0080..U+009F are encoded as C2 80..C2 9F
        n += len(_C1_RE.findall(text))
    return n


def _count_private_unassigned(text: str) -> int:
    bad = len(text) - len(_BMP_BAD_RE.sub("", text))
    if _ASTRAL_RE.search(text):
        for ch in set(_ASTRAL_RE.findall(text)):
            if unicodedata.category(ch) in ("Co", "Cn"):
                bad += text.count(ch)
    return bad


def _decode(content: bytes) -> tuple[str, str]:
    """Return (text, encoding) or raise _Reject('undecodable'|'binary')."""
    if content.startswith(_BOM_UTF8):
        encoding = "utf-8-sig"
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise _Reject(
                "undecodable",
                f"file starts with a UTF-8 byte order mark but is not valid UTF-8: {_why(e)}",
            ) from None
    elif content.startswith(_BOM_UTF16):
        encoding = "utf-16"
        try:
            text = content.decode("utf-16")
        except UnicodeDecodeError as e:
            raise _Reject(
                "undecodable",
                f"file starts with a UTF-16 byte order mark but is not valid UTF-16: {_why(e)}",
            ) from None
    else:
        try:
            text = content.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError as e8:
            try:
                text = content.decode("gb18030")
                encoding = "gb18030"
            except UnicodeDecodeError as eg:
                raise _Reject(
                    "undecodable",
                    f"not valid UTF-8 ({_why(e8)}) nor GB18030/GBK ({_why(eg)})",
                ) from None

    if text.startswith("\ufeff"):  # a BOM that survived (e.g. UTF-16 + inner BOM)
        text = text[1:]
    utf8 = content if encoding in ("utf-8", "utf-8-sig") else text.encode("utf-8")
    n_ctrl = _count_controls(text, utf8)
    # A valid UTF-8 file is very unlikely to be mis-decoded garbage; GB18030 and
    # BOM-led UTF-16 accept almost any byte sequence, so check those for junk.
    n_bad = _count_private_unassigned(text) if encoding in ("gb18030", "utf-16") else 0
    if n_ctrl or n_bad:
        total_bad = n_ctrl + n_bad
        # str.split() also treats some controls (\x1c-\x1f) as whitespace: hence max().
        n_nonspace = max(len("".join(text.split())), total_bad)
        if total_bad > _GARBAGE_RATIO * n_nonspace:
            pct = 100.0 * total_bad / n_nonspace
            if n_ctrl >= n_bad:
                raise _Reject(
                    "binary",
                    f"decodes as {encoding} but {pct:.0f}% of the characters are control "
                    "characters: looks like binary",
                )
            raise _Reject(
                "undecodable",
                f"decodes as {encoding} but {pct:.0f}% of the characters are private-use or "
                "unassigned: probably not text in this encoding",
            )
        if n_ctrl:
            text = _CTRL_RE.sub("", text)
    return text, encoding


def _why(e: UnicodeDecodeError) -> str:
    bad = e.object[e.start : e.start + 1]
    return f"{e.reason} at byte offset {e.start} (0x{bad.hex()})"


def _normalise_newlines(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\u2028" in text or "\u2029" in text:
        text = text.replace("\u2028", "\n").replace("\u2029", "\n")
    return text


# --------------------------------------------------------------------------- dates

_DATE_RE = re.compile(
    # "[12]" first (not a look-behind) so the regex engine can skip ahead fast;
    # the look-behind then rejects a year that is the tail of a longer number.
    r"(?P<y>[12]\d{3})(?<!\d\d{4})"
    r"(?:(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
    r"|[ \t]*年[ \t]*(?P<m2>\d{1,2})[ \t]*月[ \t]*(?P<d2>\d{1,2})[ \t]*[日号])"
    r"(?!\d|\.\d|[%‰亿万元])"  # "2021.12.3亿元" is an amount, not a date
    r"(?:(?:[ \t]{0,3}|T)\d{1,2}[:：]\d{2}(?:[:：]\d{2}(?:\.\d{1,6})?)?(?!\d)"
    r"(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_COMPACT_DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SENTENCE_PUNCT_RE = re.compile("[。，,；！？]")


_URL_DATE_SCAN = 300  # a date sits near the front of a path; a longer URL is not read further


def _make_date(y: str, m: str, d: str) -> _dt.date | None:
    year, month, day = int(y), int(m), int(d)
    if not (_YEAR_MIN <= year <= _YEAR_MAX):
        return None
    try:
        return _dt.date(year, month, day)
    except ValueError:
        return None


def _date_from_match(m: re.Match[str]) -> _dt.date | None:
    if m.group("m") is not None:
        return _make_date(m.group("y"), m.group("m"), m.group("d"))
    return _make_date(m.group("y"), m.group("m2"), m.group("d2"))


# Dates that CMS paths carry: /2006/07/29/, /2023-12/15/, /2023/1030/, t20251103_, /20150728/,
# /201012/31, id=20200729151921 (FACT_MODEL gold notes: "Dates taken from the URL").
_URL_DATE_RES = tuple(re.compile(p) for p in (
    r"(?<![0-9])(?P<y>(?:19|20)[0-9]{2})[/-](?P<m>[01]?[0-9])[/-](?P<d>[0-3]?[0-9])(?![0-9])",
    r"(?<![0-9])(?P<y>(?:19|20)[0-9]{2})/(?P<m>[01][0-9])(?P<d>[0-3][0-9])(?![0-9])",
    r"(?<![0-9])(?P<y>(?:19|20)[0-9]{2})(?P<m>[01][0-9])/(?P<d>[0-3][0-9])",
    r"(?<![0-9])(?P<y>(?:19|20)[0-9]{2})(?P<m>[01][0-9])(?P<d>[0-3][0-9])",
))


def _url_date(url: str | None) -> _dt.date | None:
    """The publication date a source URL's path names, when it names a valid one."""
    if not url:
        return None
    path = url.split("//", 1)[-1].partition("/")[2][:_URL_DATE_SCAN]
    for pattern in _URL_DATE_RES:
        for m in pattern.finditer(path):
            found = _make_date(m.group("y"), m.group("m"), m.group("d"))
            if found is not None:
                return found
    return None


def _parse_date_str(value: str) -> _dt.date | None:
    """First valid date in a metadata string (ISO date/datetime, 2023/7/31, 2023年7月31日...).

    A datetime keeps the calendar date as written (no timezone conversion).
    """
    value = value.strip()[:200]
    if not value:
        return None
    m = _COMPACT_DATE_RE.match(value)
    if m:
        return _make_date(*m.groups())
    for m in _DATE_RE.finditer(value):
        date = _date_from_match(m)
        if date is not None:
            return date
    return None


def _parse_date_value(value: Any) -> _dt.date | None:
    if isinstance(value, _dt.datetime):
        return value.date() if _YEAR_MIN <= value.year <= _YEAR_MAX else None
    if isinstance(value, _dt.date):
        return value if _YEAR_MIN <= value.year <= _YEAR_MAX else None
    if isinstance(value, str):
        return _parse_date_str(value)
    return None  # wrong type (number, list, ...): ignored


def _dated_line_date(line: str) -> _dt.date | None:
    """The date of a short line whose main content is a date, else None."""
    line = line.strip()
    if not line or len(line) > _DATED_LINE_MAX:
        return None
    found: _dt.date | None = None
    for m in _DATE_RE.finditer(line):
        found = _date_from_match(m)
        if found is not None:
            break
    if found is None:
        return None
    rest = _DATE_RE.sub(" ", line).strip()
    if len(rest) > _DATED_REST_MAX or _SENTENCE_PUNCT_RE.search(rest):
        return None
    return found


_NON_SPACE_RE = re.compile(r"\S")


def _head_lines(text: str, limit: int, max_len: int):
    """Yield (index, line) for the first ``limit`` non-empty lines; lines longer than
    ``max_len`` are counted but yielded as None (never copied: texts can be 20 MB)."""
    pos, seen, n = 0, 0, len(text)
    while pos < n and seen < limit:
        m = _NON_SPACE_RE.search(text, pos)  # skip runs of blank lines in one C scan
        if m is None:
            return
        pos = text.rfind("\n", pos, m.start()) + 1 or pos
        end = text.find("\n", m.start())
        if end < 0:
            end = n
        seen += 1
        yield seen, (text[pos:end] if end - pos <= max_len else None)
        pos = end + 1


def _text_date(text: str) -> _dt.date | None:
    for _, line in _head_lines(text, _DATED_LINE_SCAN, _DATED_LINE_MAX + 200):
        if line is not None:
            date = _dated_line_date(line)
            if date is not None:
                return date
    return None


# --------------------------------------------------------------------------- titles

_TITLE_END_RE = re.compile("[。！？]")


def _first_line_title(text: str) -> str | None:
    for _, line in _head_lines(text, 1, _TITLE_LINE_MAX + 200):
        if line is None:
            return None
        line = line.strip()
        if len(line) > _TITLE_LINE_MAX or _TITLE_END_RE.search(line):
            return None
        if _dated_line_date(line) is not None:  # "发布时间：2023-07-31" is not a title
            return None
        return line
    return None


def _clean_str(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(_CTRL_RE.sub("", value).split())
    return value or None


# --------------------------------------------------------------------------- sniffing

_FRONT_MATTER_OPEN_RE = re.compile(r"---[ \t]*\n")
_FRONT_MATTER_CLOSE_RE = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)
_YAML_KEY_RE = re.compile(r"[ \t]*[A-Za-z_][\w .-]{0,60}:(?:[ \t]|$)")
_FRONT_MATTER_MAX = 64 * 1024

_HTML_START_RE = re.compile(r"<!doctype\s+html|<html[\s>]", re.IGNORECASE)
_ANY_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9]{0,15}(?:[\s/][^<>]{0,500})?>")
_STRUCT_TAG_RE = re.compile(
    r"<(?i:body|p|div|article|section|main|table|h[1-6]|br|li|ul|ol|span|head|meta|title)"
    r"(?=[\s/>])"
)
_MD_HEADING_RE = re.compile(r"\n[ \t]{0,3}#{1,6}[ \t]+\S")
_MD_STRONG_SIGNAL_RE = re.compile(
    r"!\[[^\[\]\n]{0,500}\]\([^()\s]{1,2000}\)"  # image
    r"|\[[^\[\]\n]{1,500}\]\((?:https?://|/|\.|#)[^()\s]{0,2000}\)"  # inline link
    r"|^[ \t]{0,3}(?:```|~~~)",  # fenced code
    re.MULTILINE,
)
_MD_BOLD_RE = re.compile(r"\*\*[^*\n]{1,500}\*\*")


def _split_front_matter(text: str) -> tuple[str, str] | None:
    """(yaml_block, rest) when the text starts with a YAML front matter block."""
    first = _NON_SPACE_RE.search(text, 0, _FRONT_MATTER_MAX)
    if first is None or not text.startswith("---", first.start()):
        return None
    line_start = text.rfind("\n", 0, first.start()) + 1
    m = _FRONT_MATTER_OPEN_RE.match(text, line_start)
    if not m:
        return None
    close = _FRONT_MATTER_CLOSE_RE.search(text, m.end(), m.end() + _FRONT_MATTER_MAX)
    if not close:
        return None
    block = text[m.end() : close.start()]
    first = next((ln for ln in block.split("\n") if ln.strip()), None)
    if first is not None and not _YAML_KEY_RE.match(first):
        return None  # "---" + prose + "---" is not front matter
    return block, text[close.end() :].lstrip("\n")


def _sniff(text: str, has_front_matter: bool) -> str:
    head = text[:_SNIFF_CHARS]
    lead = head.lstrip()
    if _HTML_START_RE.match(lead):
        return "html"
    if lead[:5].lower() == "<?xml" and re.search(r"<html[\s>]", head, re.IGNORECASE):
        return "html"
    if has_front_matter:
        return "markdown"
    n_struct = len(_STRUCT_TAG_RE.findall(head)) if "<" in head else 0
    if n_struct:
        n_tags = len(_ANY_TAG_RE.findall(head))
        n_lines = sum(1 for ln in head.split("\n") if ln.strip()) or 1
        starts_with_tag = bool(_ANY_TAG_RE.match(lead)) or lead.startswith("<!--")
        if starts_with_tag or (n_tags >= 4 and n_tags >= 0.5 * n_lines):
            return "html"
    # Cheap substring tests first: a regex scan of CJK text is slow in CPython.
    if "#" in head and _MD_HEADING_RE.search("\n" + head):
        return "markdown"
    if ("](" in head or "```" in head or "~~~" in head) and _MD_STRONG_SIGNAL_RE.search(head):
        return "markdown"
    if "**" in head and len(_MD_BOLD_RE.findall(head)) >= 2:
        return "markdown"
    return "text"


# --------------------------------------------------------------------------- markdown

# libyaml's composer recurses in C: ~30k nested "[" crash the process (SIGSEGV). Blocks
# up to 4 KB (nesting < 4k) are safe and fast with it; larger ones go to the pure-Python
# loader, whose recursion is bounded by Python's limit (RecursionError, caught below).
_YAML_C_LOADER_MAX = 4096


def _yaml_load(block: str) -> dict[str, Any] | None:
    import yaml  # local: keeps module import light

    if block.count("[") + block.count("{") > 256:
        return None  # no real front matter nests that deep; PyYAML is slow on it
    loader = yaml.SafeLoader
    if len(block) <= _YAML_C_LOADER_MAX:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(block, Loader=loader)  # noqa: S506 - safe loader
    except Exception:  # malformed YAML: ignore the metadata, keep the document
        return None
    return data if isinstance(data, dict) else None


# Line-anchored patterns start with a literal "\n" (the text gets a "\n" prepended)
# instead of a MULTILINE "^": CPython's regex engine can then skip ahead with a fast
# literal search, which is several times faster on CJK text. Whole-line removals eat
# the line's leading "\n" and keep the trailing one, so adjacent lines still match.
_EOL = r"(?=\n|\Z)"
_MD_FENCE_LINE_RE = re.compile(r"\n[ \t]{0,3}(?:```|~~~)[^\n]*" + _EOL)
_MD_HR_LINE_RE = re.compile(r"\n[ \t]{0,3}([-*_=])(?:[ \t]*\1){2,}[ \t]*" + _EOL)
_MD_REFDEF_LINE_RE = re.compile(r"\n[ \t]{0,3}\[[^\[\]\n]{1,500}\]:[ \t]*\S[^\n]*" + _EOL)
_MD_TABLE_SEP_LINE_RE = re.compile(
    r"\n[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)+\|?[ \t]*" + _EOL
)
_MD_TABLE_ROW_RE = re.compile(r"\n[ \t]*\|([^\n]*)\|[ \t]*" + _EOL)
_MD_HEADING_CLOSE_RE = re.compile(r"(\n[ \t]{0,3}#{1,6}[ \t][^\n]*?)[ \t]+#+[ \t]*" + _EOL)
_MD_HEADING_MARK_RE = re.compile(r"\n[ \t]{0,3}#{1,6}(?:[ \t]+|" + _EOL + ")")
_MD_QUOTE_RE = re.compile(r"\n[ \t]{0,3}(?:>[ \t]?)+")
_MD_BULLET_RE = re.compile(r"\n[ \t]*[-*+][ \t]+")
_MD_IMAGE_LINE_RE = re.compile(  # a line holding only images is markup: drop the line
    r"\n[ \t]*(?:!\[[^\[\]\n]{0,1000}\]\([^()\n]{0,2000}\)[ \t]*)+" + _EOL
)
_MD_IMAGE_RE = re.compile(
    r"!\[[^\[\]\n]{0,1000}\](?:\([^()\n]{0,2000}\)|\[[^\[\]\n]{0,1000}\])"
)
_MD_LINK_RE = re.compile(r"\[([^\[\]\n]{0,1000})\]\([^()\n]{0,2000}\)")
_MD_REFLINK_RE = re.compile(r"\[([^\[\]\n]{1,1000})\]\[[^\[\]\n]{0,1000}\]")
_MD_AUTOLINK_RE = re.compile(r"<((?:https?|ftp)://[^<>\s]{1,2000}|[^<>\s@]{1,200}@[^<>\s@]{1,200})>")
_MD_BR_RE = re.compile(r"<(?i:br)\s{0,20}/?>")
_MD_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9-]{0,30}(?:\s[^<>\n]{0,1000})?/?>")
_MD_CODE_RE = re.compile(r"`([^`\n]{1,1000})`")
# Emphasis: start with the literal delimiter (fast scan), then look behind it.
_MD_STRONG_RE = re.compile(r"\*\*(?<!\\\*\*)(?=[^\s*])([^*\n]{1,1000}?)(?<=[^\s\\])\*\*")
_MD_STRONG_U_RE = re.compile(r"__(?<![\w\\]__)(?=[^\s_])([^_\n]{1,1000}?)(?<=\S)__(?!\w)")
_MD_EM_RE = re.compile(r"\*(?<![\\*]\*)(?=[^\s*])([^*\n]{1,1000}?)(?<=[^\s\\])\*")
_MD_EM_U_RE = re.compile(r"_(?<![\w\\]_)(?=[^\s_])([^_\n]{1,1000}?)(?<=\S)_(?!\w)")
_MD_STRIKE_RE = re.compile(r"~~(?=\S)([^~\n]{1,1000}?)(?<=\S)~~")
_MD_ESCAPE_RE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])")


def _table_row(m: re.Match[str]) -> str:
    return "\n" + "\t".join(cell.strip() for cell in m.group(1).split("|"))


_G1 = operator.methodcaller("group", 1)  # C-level callable: faster than a r"\1" template

# (needles, pattern, replacement): a pattern only runs when one of its needles occurs.
_MD_STEPS: tuple[tuple[tuple[str, ...], re.Pattern[str], Any], ...] = (
    (("```", "~~~"), _MD_FENCE_LINE_RE, ""),
    (("---", "***", "___", "==="), _MD_HR_LINE_RE, ""),
    (("]:",), _MD_REFDEF_LINE_RE, ""),
    (("|",), _MD_TABLE_SEP_LINE_RE, ""),
    (("|",), _MD_TABLE_ROW_RE, _table_row),
    (("#",), _MD_HEADING_CLOSE_RE, _G1),
    (("#",), _MD_HEADING_MARK_RE, "\n"),
    ((">",), _MD_QUOTE_RE, "\n"),
    (("- ", "* ", "+ ", "-\t", "*\t", "+\t"), _MD_BULLET_RE, "\n"),
    (("![",), _MD_IMAGE_LINE_RE, ""),
    (("![",), _MD_IMAGE_RE, ""),
    (("](",), _MD_LINK_RE, _G1),
    (("][",), _MD_REFLINK_RE, _G1),
    (("<",), _MD_AUTOLINK_RE, _G1),
    (("<",), _MD_BR_RE, "\n"),
    (("<",), _MD_TAG_RE, ""),
    (("`",), _MD_CODE_RE, _G1),
    (("**",), _MD_STRONG_RE, _G1),
    (("__",), _MD_STRONG_U_RE, _G1),
    (("*",), _MD_EM_RE, _G1),
    (("_",), _MD_EM_U_RE, _G1),
    (("~~",), _MD_STRIKE_RE, _G1),
    (("\\",), _MD_ESCAPE_RE, _G1),
)


def _markdown_to_text(text: str) -> str:
    text = "\n" + _cut_html_comments(text)
    for needles, pattern, replacement in _MD_STEPS:
        if any(map(text.__contains__, needles)):
            text = pattern.sub(replacement, text)
    text = text[1:] if text.startswith("\n") else text
    if "&" in text:
        text = _html.unescape(text)
    return text


# --------------------------------------------------------------------------- html

_DROP_TAGS = (
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
    "iframe", "svg", "math", "head", "title", "object", "embed", "canvas", "audio", "video",
    "select", "button", "dialog",
)
_BLOCK_TAGS = frozenset(
    "p div br li ul ol dl dt dd h1 h2 h3 h4 h5 h6 tr table thead tbody tfoot caption "
    "section article main blockquote pre figure figcaption hr address center details "
    "summary fieldset legend body html".split()
)
_CELL_TAGS = frozenset(("td", "th"))
_DATE_META_KEYS = (
    "article:published_time",
    "og:article:published_time",
    "pubdate",
    "publishdate",
    "publish_date",
    "dc.date",
    "dc.date.issued",
    "date",
    "datepublished",
)
_HTML_WS_RE = re.compile(r"[ \t\n\r\f\v]+")
_XML_DECL_RE = re.compile(r"\s*<\?xml[^<>]{0,500}\?>")


def _html_parser():  # one parser per parse_documents call (lxml parsers are not thread-safe)
    import lxml.html

    return lxml.html.HTMLParser(
        remove_comments=True,
        remove_pis=True,
        huge_tree=True,  # without it libxml2 silently drops text nodes > 10 MB
        no_network=True,
        default_doctype=False,
    )


def _html_meta(root) -> tuple[str | None, _dt.date | None, str | None]:
    """(title, published date, source url) from a parsed HTML tree (one tree pass)."""
    og_title = title_el = h1_el = canonical = og_url = None
    dates: dict[str, str] = {}
    times: list[str] = []
    for el in root.iter("meta", "link", "title", "h1", "time"):
        tag = el.tag
        if tag == "meta":
            key = (el.get("property") or el.get("name") or el.get("itemprop") or "").strip().lower()
            content = el.get("content")
            if not key or content is None:
                continue
            if key == "og:title":
                og_title = og_title or _clean_str(content)
            elif key == "og:url":
                og_url = og_url or _clean_str(content)
            elif key in _DATE_META_KEYS and key not in dates:
                dates[key] = content
        elif tag == "link":
            if canonical is None and (el.get("rel") or "").strip().lower() == "canonical":
                canonical = _clean_str(el.get("href"))
        elif tag == "title":
            if title_el is None:
                title_el = _clean_str(el.text_content())
        elif tag == "h1":
            if h1_el is None:
                h1_el = _clean_str(el.text_content())
        elif len(times) < 20 and el.get("datetime"):
            times.append(el.get("datetime"))

    date = None
    for key in _DATE_META_KEYS:
        if key in dates:
            date = _parse_date_str(dates[key])
            if date is not None:
                break
    if date is None:
        for value in times:
            date = _parse_date_str(value)
            if date is not None:
                break
    return og_title or title_el or h1_el, date, canonical or og_url


_HTML_WS = " \t\n\r\f\v"
_CJK = (
    "\u2e80-\u2fdf\u3001-\u303f\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\uff01-\uff60\uffe0-\uffe6\U00020000-\U0003134f"
)
# A source line break between two CJK characters is no word space (CSS Text 3, 4.1.2).
_CJK_BREAK_RE = re.compile(f"(?<=[{_CJK}])[ \t\r]*\n[ \t\r\n]*(?=[{_CJK}])")


def _html_ws(t: str) -> str:
    """Collapse HTML whitespace (ASCII only: U+3000 and NBSP are content)."""
    if not t.strip(_HTML_WS):
        return " "
    if "\n" in t:
        t = _CJK_BREAK_RE.sub("", t)
    if "\n" in t or "\t" in t or "  " in t or "\r" in t or "\f" in t or "\v" in t:
        t = _HTML_WS_RE.sub(" ", t)
    return t


_DATA_CELL_NODES = 8     # a data cell holds a few <p>/<span>/<br>; a layout cell holds the article
_DATA_CELL_CHARS = 100


def _data_cell(el) -> bool:
    """A table cell of a few short blocks (<td><p>1234.5</p></td>): its blocks break no line."""
    for n, sub in enumerate(el.iterdescendants()):
        if n >= _DATA_CELL_NODES or sub.tag in ("table", "tr", "td", "th", "ul", "ol", "li"):
            return False
    return len(el.text_content()) <= _DATA_CELL_CHARS


def _html_text_from_tree(root) -> str:
    from lxml import etree

    for el in [el for el in root.iter(*_DROP_TAGS)]:
        if el.getparent() is not None:
            el.drop_tree()  # keeps the tail text
    parts: list[str] = []
    add = parts.append
    pre = 0
    flat = None  # the data cell being walked, if any: a table row stays one line
    blocks, cells = _BLOCK_TAGS, _CELL_TAGS
    for event, el in etree.iterwalk(root, events=("start", "end")):
        tag = el.tag
        if not isinstance(tag, str):  # comments, PIs, entities
            if event == "end" and el.tail:
                add(el.tail if pre else _html_ws(el.tail))
            continue
        if event == "start":
            if tag in blocks:
                add("\n" if flat is None else " ")
                if tag == "pre":
                    pre += 1
            elif tag in cells:
                add("\t")
                if flat is None and _data_cell(el):
                    flat = el
            t = el.text
            if t:
                add(t if pre else _html_ws(t))
        else:
            if tag in blocks:
                add("\n" if flat is None else " ")
                if tag == "pre":
                    pre -= 1
            if el is flat:
                flat = None
            t = el.tail
            if t:
                add(t if pre else _html_ws(t))
    return _tidy_html_lines("".join(parts))


def _tidy_html_lines(text: str) -> str:
    """Strip ASCII blanks around lines and drop blank lines (HTML has no blank lines)."""
    return "\n".join(
        line for line in (ln.strip(" \t") for ln in text.split("\n")) if line and not line.isspace()
    )


# Regex fallback (used when lxml fails or hits a resource limit): linear-time scans.
_FB_DROP_OPEN_RE = re.compile(
    r"<(?i:(" + "|".join(t for t in _DROP_TAGS if t != "head") + r"))(?=[\s/>])"
)
_FB_BLOCK_TAG_RE = re.compile(
    r"</?(?i:" + "|".join(sorted(_BLOCK_TAGS, key=len, reverse=True)) + r")(?=[\s/>])[^<>]{0,2000}>"
)
_FB_CELL_TAG_RE = re.compile(r"<(?i:td|th)(?=[\s/>])[^<>]{0,2000}>")
_FB_ANY_TAG_RE = re.compile(r"<[!/?]?[A-Za-z][^<>]{0,2000}>")


def _cut_html_comments(text: str) -> str:
    if "<!--" not in text:
        return text
    out, pos = [], 0
    while True:
        start = text.find("<!--", pos)
        if start < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:start])
        end = text.find("-->", start + 4)
        if end < 0:
            break  # unclosed comment runs to the end, as in browsers
        pos = end + 3
    return "".join(out)


def _html_text_by_regex(text: str) -> str:
    text = _cut_html_comments(text)
    out, pos = [], 0
    while True:
        m = _FB_DROP_OPEN_RE.search(text, pos)
        if not m:
            out.append(text[pos:])
            break
        out.append(text[pos : m.start()])
        close = re.compile(r"</" + re.escape(m.group(1)) + r"\s*>", re.IGNORECASE).search(
            text, m.end()
        )
        if not close:
            break
        pos = close.end()
    text = "".join(out)
    text = _FB_BLOCK_TAG_RE.sub("\n", text)
    text = _FB_CELL_TAG_RE.sub("\t", text)
    text = _FB_ANY_TAG_RE.sub("", text)
    text = "\n".join(_html_ws(ln) for ln in text.split("\n"))
    if "&" in text:
        text = _html.unescape(text)
    return _tidy_html_lines(text)


def _description(root) -> str:
    found = root.xpath('//meta[translate(@name, "DESCRIPTION", "description")="description"]/@content')
    return _html_ws(str(found[0])).strip() if found else ""


def _with_description(description: str, body: str) -> str:
    """The page's ``<meta name="description">`` leads the text when the body does not say it:
    template pages and teasers state their figures only there. A description the body repeats
    adds nothing (extraction reads a repeated statement once)."""
    if not description or description in body:
        return body
    return description + "\n" + body


def _html_to_text(text: str, parser) -> tuple[str, str | None, _dt.date | None, str | None]:
    """(text, title, date, source_url). Falls back to a regex strip; raises _Reject."""
    import lxml.html

    src = _XML_DECL_RE.sub("", text, count=1) if text.lstrip()[:5].lower() == "<?xml" else text
    root = None
    try:
        root = lxml.html.document_fromstring(src, parser=parser)
        truncated = any(e.type_name == "ERR_RESOURCE_LIMIT" for e in parser.error_log)
    except Exception:
        truncated = True
    title = date = url = None
    if root is not None:
        try:
            title, date, url = _html_meta(root)
            if not truncated:
                description = _description(root)  # before the text: reading the body prunes the tree
                return _with_description(description, _html_text_from_tree(root)), title, date, url
        except Exception:
            pass
    try:
        return _html_text_by_regex(text), title, date, url
    except Exception as e:  # pragma: no cover - defensive
        raise _Reject(
            "unparseable", f"HTML could not be parsed by lxml nor stripped by regex: {e!r}"
        ) from None


# --------------------------------------------------------------------------- sidecar

def _load_sidecar(data: bytes, stem: str) -> dict[str, Any]:
    name = f"{stem}.meta.json"
    try:
        if data.startswith(_BOM_UTF16):
            s = data.decode("utf-16")
        else:
            s = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _Reject("bad_sidecar", f"sidecar {name} is not valid UTF-8 text: {_why(e)}") from None
    try:
        obj = json.loads(s)
    except json.JSONDecodeError as e:
        detail = f"sidecar {name} is not valid JSON: {e.msg}: line {e.lineno} column {e.colno}"
        if e.pos == 0 and s.strip():  # not JSON at all: show how it begins
            head = " ".join(s.split())[:60]
            detail += f" (it begins {head!r})"
        raise _Reject("bad_sidecar", detail) from None
    except (ValueError, RecursionError) as e:
        raise _Reject("bad_sidecar", f"sidecar {name} is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise _Reject(
            "bad_sidecar",
            f"sidecar {name} is valid JSON but not an object (got {type(obj).__name__})",
        )
    return obj


# --------------------------------------------------------------------------- per file

def _stem(path: str) -> str:
    name = basename(path.replace("\\", "/"))
    dot = name.rfind(".")
    return name[:dot] if dot > 0 else name


def _front_matter_meta(fm: dict[str, Any]) -> tuple[str | None, _dt.date | None, str | None]:
    title = _clean_str(fm.get("title"))
    date = None
    for key in ("date", "published_at", "publish_date", "pubdate"):
        if key in fm:
            date = _parse_date_value(fm[key])
            if date is not None:
                break
    url = _clean_str(fm.get("source_url")) or _clean_str(fm.get("url"))
    if url is None:
        src = _clean_str(fm.get("source"))
        if src and re.match(r"[A-Za-z][A-Za-z0-9+.-]{0,20}://", src):
            url = src  # "source: 新华网" is a source name, not a URL
    return title, date, url


def _trim_blank_edges(text: str) -> str:
    """Drop whitespace-only lines at both ends; keep the indentation of the first line."""
    if not (text[:1].isspace() or text[-1:].isspace()):
        return text
    first = len(text) - len(text.lstrip())
    start = text.rfind("\n", 0, first) + 1
    last = len(text.rstrip())
    end = text.find("\n", last)
    return text[start : end if end >= 0 else len(text)]


def _parse_one(
    path: str,
    content: bytes | None,
    size_bytes: int | None,
    sidecar: bytes | None,
    read_error: str | None,
    max_bytes: int,
    parser,
) -> dict[str, Any]:
    if read_error is not None:
        raise _Reject("unreadable", read_error or "the file could not be read")
    if content is None:
        raise _Reject("unreadable", "no content was read for this file")
    size = max(size_bytes if size_bytes is not None else 0, len(content))
    if size > max_bytes:
        raise _Reject(
            "oversized",
            f"file is {size / _MIB:.1f} MB, over the {max_bytes / _MIB:.1f} MB limit "
            "(ZONEFACTS_MAX_FILE_BYTES)",
        )
    if not content:
        raise _Reject("empty", "file is empty (0 bytes)")
    kind = _magic_kind(content)
    if kind is not None:
        raise _Reject("binary", f"starts with a {kind} signature: looks like binary ({kind})")
    if not content.startswith(_BOM_UTF16):
        nul = content.find(b"\x00")
        if nul >= 0:
            raise _Reject("binary", f"NUL bytes at offset {nul}: looks like binary")

    text, encoding = _decode(content)
    if not text.strip():
        raise _Reject("empty", f"file has {len(content)} bytes but only whitespace ({encoding})")

    stem = _stem(path)
    meta: dict[str, Any] = {}
    if sidecar is not None:
        meta = _load_sidecar(sidecar, stem)

    text = _normalise_newlines(text)
    fm_split = _split_front_matter(text)
    fmt = _sniff(text, fm_split is not None)

    fm_title = fm_date = fm_url = None
    html_title = html_date = html_url = None
    try:
        if fmt == "markdown":
            if fm_split is not None:
                block, text = fm_split
                fm = _yaml_load(block)
                if fm:
                    fm_title, fm_date, fm_url = _front_matter_meta(fm)
            body = _markdown_to_text(text)
        elif fmt == "html":
            body, html_title, html_date, html_url = _html_to_text(text, parser)
        else:
            body = text
    except _Reject:
        raise
    except Exception as e:
        raise _Reject("unparseable", f"{fmt} content could not be parsed: {type(e).__name__}: {e}") from None

    body = _trim_blank_edges(body)
    if not body.strip():
        raise _Reject("empty", f"no text left after removing the {fmt} markup")

    title = title_source = None
    for value, source in (
        (_clean_str(meta.get("title")), "sidecar"),
        (fm_title, "front_matter"),
        (html_title, "html"),
    ):
        if value:
            title, title_source = value, source
            break
    if title is None:
        title = _first_line_title(body)
        title_source = "first_line" if title else None

    published_at = date_source = None
    for value, source in (
        (_parse_date_value(meta.get("published_at")), "sidecar"),
        (fm_date, "front_matter"),
        (html_date, "html_meta"),
    ):
        if value is not None:
            published_at, date_source = value, source
            break
    if published_at is None:
        published_at = _text_date(body)
        date_source = "text" if published_at else None

    source_url = _clean_str(meta.get("source_url")) or fm_url or html_url
    if published_at is None:
        published_at = _url_date(source_url)
        date_source = "url" if published_at else None

    return {
        "stem": stem,
        "encoding": encoding,
        "format": fmt,
        "title": title,
        "title_source": title_source,
        "published_at": published_at,
        "date_source": date_source,
        "source_url": source_url,
        "text": body,
    }


# --------------------------------------------------------------------------- public

def _column(raw: pl.DataFrame, name: str) -> list[Any]:
    if name in raw.columns:
        return raw.get_column(name).to_list()
    return [None] * raw.height


def parse_documents(
    raw: pl.DataFrame, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Turn inbox rows (``RAW_FILE_SCHEMA``) into ``(documents, quarantine)``.

    Every input row ends up in exactly one of the two frames. Both frames always have
    exactly ``DOCUMENT_SCHEMA`` / ``QUARANTINE_SCHEMA`` columns, in that order, even
    when empty. ``sidecar`` and ``read_error`` columns may be absent (treated as null);
    a null ``sha256`` is computed from ``content``.
    """
    missing = [c for c in ("path", "content") if c not in raw.columns]
    if missing:
        raise ValueError(f"raw files frame is missing required columns: {', '.join(missing)}")

    paths = _column(raw, "path")
    contents = _column(raw, "content")
    sizes = _column(raw, "size_bytes")
    shas = _column(raw, "sha256")
    sidecars = _column(raw, "sidecar")
    errors = _column(raw, "read_error")

    docs: dict[str, list[Any]] = {name: [] for name in DOCUMENT_SCHEMA}
    quar: dict[str, list[Any]] = {name: [] for name in QUARANTINE_SCHEMA}
    parser = _html_parser()

    for path, content, size, sha, sidecar, error in zip(
        paths, contents, sizes, shas, sidecars, errors
    ):
        path = path if isinstance(path, str) else ""
        if content is not None and not isinstance(content, bytes):
            content = bytes(content)
        if sha is None and content is not None:
            sha = hashlib.sha256(content).hexdigest()
        try:
            row = _parse_one(path, content, size, sidecar, error, max_bytes, parser)
        except _Reject as rej:
            reason, detail = rej.reason, rej.detail
        except Exception as e:  # never let one hostile file stop the batch
            reason, detail = "unparseable", f"unexpected error while parsing: {type(e).__name__}: {e}"
        else:
            docs["document_id"].append(sha)
            docs["path"].append(path)
            docs["sha256"].append(sha)
            docs["size_bytes"].append(size if size is not None else len(content or b""))
            for key, value in row.items():
                docs[key].append(value)
            continue
        quar["path"].append(path)
        quar["sha256"].append(sha)
        quar["reason"].append(reason)
        quar["detail"].append(detail)
        quar["payload"].append(content[:PAYLOAD_MAX_BYTES] if content is not None else None)

    documents = pl.DataFrame(docs, schema=DOCUMENT_SCHEMA)
    quarantine = pl.DataFrame(quar, schema=QUARANTINE_SCHEMA)
    return documents, quarantine
