"""document metadata (steps 7 and 10 of ``transforms.documents``): title, publication date, source URL.

``load_sidecar(bytes, stem)`` reads ``<stem>.meta.json`` (raises ``Reject('bad_sidecar')``);
``front_matter_meta(dict)`` reads a Markdown front matter; ``parse_date_str`` reads a date a
reader found (HTML meta). ``resolve(body, sidecar, reading)`` then picks, per field, the first
source that has it:

    title         sidecar > front matter / HTML (og:title, <title>, <h1>) > the first line
    published_at  sidecar > front matter / HTML (meta, <time>) > a dated line > the source URL's path
    source_url    sidecar > front matter / HTML (canonical, og:url)

Every value is data: strings are stripped of controls and blank runs, never interpreted.
"""

from __future__ import annotations

import codecs
import datetime as _dt
import json
import re
from functools import lru_cache
from typing import Any, NamedTuple

from transforms.decoding import BOM_UTF16, CTRL_RE, Reject, describe_error

__all__ = ["Reading", "clean_str", "front_matter_meta", "load_sidecar", "parse_date_str", "resolve"]

_DATED_LINE_SCAN = 40  # non-empty lines scanned for a dated line
_DATED_LINE_MAX = 80
_DATED_REST_MAX = 40
_TITLE_LINE_MAX = 60
_YEAR_MIN, _YEAR_MAX = 1990, 2100
_URL_DATE_SCAN = 300  # a date sits near the front of a path; a longer URL is not read further


class Reading(NamedTuple):
    """What a format reader returns: the text, and the metadata the markup itself states."""

    text: str
    title: str | None = None
    published_at: _dt.date | None = None
    source_url: str | None = None
    source: str | None = None  # "front_matter" or "html": names where title and date came from


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


def parse_date_str(value: str) -> _dt.date | None:
    """First valid date in a metadata string (ISO date/datetime, 2023/7/31, 2023年7月31日...).

    A datetime keeps the calendar date as written (no timezone conversion).
    """
    return _parse_date_head(value.strip()[:200])


@lru_cache(maxsize=4096)   # a batch's documents share their dates; a key is at most 200 characters
def _parse_date_head(value: str) -> _dt.date | None:
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
        return parse_date_str(value)
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
    """Yield the first ``limit`` non-empty lines; lines longer than ``max_len`` are counted
    but yielded as None (never copied: texts can be 20 MB)."""
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
        yield text[pos:end] if end - pos <= max_len else None
        pos = end + 1


def _text_date(text: str) -> _dt.date | None:
    for line in _head_lines(text, _DATED_LINE_SCAN, _DATED_LINE_MAX + 200):
        if line is not None:
            date = _dated_line_date(line)
            if date is not None:
                return date
    return None


# --------------------------------------------------------------------------- titles

_TITLE_END_RE = re.compile("[。！？]")


def _first_line_title(text: str) -> str | None:
    for line in _head_lines(text, 1, _TITLE_LINE_MAX + 200):
        if line is None:
            return None
        line = line.strip()
        if len(line) > _TITLE_LINE_MAX or _TITLE_END_RE.search(line):
            return None
        if _dated_line_date(line) is not None:  # "发布时间：2023-07-31" is not a title
            return None
        return line
    return None


def clean_str(value: Any) -> str | None:
    """A metadata string with controls removed and blank runs folded; None if not a string."""
    if not isinstance(value, str):
        return None
    value = " ".join(CTRL_RE.sub("", value).split())
    return value or None


# --------------------------------------------------------------------------- sources

def load_sidecar(data: bytes, stem: str) -> dict[str, Any]:
    """The JSON object in a sidecar's bytes; raises ``Reject('bad_sidecar')`` for anything else."""
    name = f"{stem}.meta.json"
    try:
        if data.startswith(BOM_UTF16):
            s = data.decode("utf-16")
        else:   # "utf-8-sig" without its codec's Python wrapper
            s = (data[3:] if data.startswith(codecs.BOM_UTF8) else data).decode("utf-8")
    except UnicodeDecodeError as e:
        raise Reject("bad_sidecar", f"sidecar {name} is not valid UTF-8 text: {describe_error(e)}") from None
    try:
        obj = json.loads(s)
    except json.JSONDecodeError as e:
        detail = f"sidecar {name} is not valid JSON: {e.msg}: line {e.lineno} column {e.colno}"
        if e.pos == 0 and s.strip():  # not JSON at all: show how it begins
            head = " ".join(s.split())[:60]
            detail += f" (it begins {head!r})"
        raise Reject("bad_sidecar", detail) from None
    except (ValueError, RecursionError) as e:
        raise Reject("bad_sidecar", f"sidecar {name} is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise Reject(
            "bad_sidecar",
            f"sidecar {name} is valid JSON but not an object (got {type(obj).__name__})",
        )
    return obj


_URL_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,20}://")


def front_matter_meta(fm: dict[str, Any]) -> tuple[str | None, _dt.date | None, str | None]:
    """(title, date, source url) of a parsed front matter; values of the wrong type are ignored."""
    title = clean_str(fm.get("title"))
    date = None
    for key in ("date", "published_at", "publish_date", "pubdate"):
        if key in fm:
            date = _parse_date_value(fm[key])
            if date is not None:
                break
    url = clean_str(fm.get("source_url")) or clean_str(fm.get("url"))
    if url is None:
        src = clean_str(fm.get("source"))
        if src and _URL_SCHEME_RE.match(src):
            url = src  # "source: 新华网" is a source name, not a URL
    return title, date, url


def resolve(body: str, sidecar: dict[str, Any], reading: Reading) -> dict[str, Any]:
    """The title, publication date and source URL of a document, each with where it came from."""
    title = title_source = None
    for value, source in ((clean_str(sidecar.get("title")), "sidecar"), (reading.title, reading.source)):
        if value:
            title, title_source = value, source
            break
    if title is None:
        title = _first_line_title(body)
        title_source = "first_line" if title else None

    # an HTML page's date comes from its <meta>/<time>: date_source names that, not the page
    markup_date_source = "html_meta" if reading.source == "html" else reading.source
    published_at = date_source = None
    for value, source in (
        (_parse_date_value(sidecar.get("published_at")), "sidecar"),
        (reading.published_at, markup_date_source),
    ):
        if value is not None:
            published_at, date_source = value, source
            break
    if published_at is None:
        published_at = _text_date(body)
        date_source = "text" if published_at else None

    source_url = clean_str(sidecar.get("source_url")) or reading.source_url
    if published_at is None:
        published_at = _url_date(source_url)
        date_source = "url" if published_at else None
    return {
        "title": title,
        "title_source": title_source,
        "published_at": published_at,
        "date_source": date_source,
        "source_url": source_url,
    }
