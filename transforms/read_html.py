"""HTML → text (step 8 of ``transforms.documents`` for ``format == "html"``), with the page's metadata.

``read_html(text, parser) -> Reading``: lxml reads the page; scripts, navigation, headers,
footers, forms and the like are dropped; every block element starts a line; table cells are
joined by "\\t" (a data cell's own blocks break no line, so a table row stays one line);
source line breaks inside a paragraph collapse to a space, or to nothing between two CJK
characters. Blank lines are dropped. The page's ``<meta name="description">`` leads the text
when the body does not repeat it. Title: og:title > <title> > <h1>; date: date metas >
<time datetime>; URL: canonical link > og:url.

When lxml fails or hits a resource limit (huge or hostile pages) a linear-time regex strip
stands in; its patterns are bounded so that a 20 MB single-line page is still read in seconds.
"""

from __future__ import annotations

import datetime as _dt
import html as _html
import re
from functools import lru_cache

from transforms.decoding import Reject
from transforms.metadata import Reading, clean_str, parse_date_str

__all__ = ["CJK", "cut_html_comments", "html_parser", "html_text_by_regex", "read_html"]


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


def html_parser():  # one parser per parse_documents call (lxml parsers are not thread-safe)
    from lxml import etree

    # libxml2's own elements: lxml.html's element classes cost a Python lookup per element read
    return etree.HTMLParser(
        remove_comments=True,
        remove_pis=True,
        huge_tree=True,  # without it libxml2 silently drops text nodes > 10 MB
        no_network=True,
        default_doctype=False,
    )


@lru_cache(maxsize=1)
def _string_of():
    from lxml import etree

    return etree.XPath("string()")


def _text_content(el) -> str:
    """The text of ``el`` and of everything in it (lxml.html's ``text_content``)."""
    return _string_of()(el)


def _drop_tree(el) -> None:
    """Remove ``el`` and what it holds; its tail text joins the previous element or the parent
    (lxml.html's ``drop_tree``)."""
    parent = el.getparent()
    if el.tail:
        previous = el.getprevious()
        if previous is None:
            parent.text = (parent.text or "") + el.tail
        else:
            previous.tail = (previous.tail or "") + el.tail
    parent.remove(el)


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
                og_title = og_title or clean_str(content)
            elif key == "og:url":
                og_url = og_url or clean_str(content)
            elif key in _DATE_META_KEYS and key not in dates:
                dates[key] = content
        elif tag == "link":
            if canonical is None and (el.get("rel") or "").strip().lower() == "canonical":
                canonical = clean_str(el.get("href"))
        elif tag == "title":
            if title_el is None:
                title_el = clean_str(_text_content(el))
        elif tag == "h1":
            if h1_el is None:
                h1_el = clean_str(_text_content(el))
        elif len(times) < 20 and el.get("datetime"):
            times.append(el.get("datetime"))

    date = None
    for key in _DATE_META_KEYS:
        if key in dates:
            date = parse_date_str(dates[key])
            if date is not None:
                break
    if date is None:
        for value in times:
            date = parse_date_str(value)
            if date is not None:
                break
    return og_title or title_el or h1_el, date, canonical or og_url


_HTML_WS = " \t\n\r\f\v"
CJK = (
    "\u2e80-\u2fdf\u3001-\u303f\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\uff01-\uff60\uffe0-\uffe6\U00020000-\U0003134f"
)
# A source line break between two CJK characters is no word space (CSS Text 3, 4.1.2).
_CJK_BREAK_RE = re.compile(f"(?<=[{CJK}])[ \t\r]*\n[ \t\r\n]*(?=[{CJK}])")


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
    if not len(el):   # no child node: its text is all it holds
        return len(el.text or "") <= _DATA_CELL_CHARS
    for n, sub in enumerate(el.iterdescendants()):
        if n >= _DATA_CELL_NODES or sub.tag in ("table", "tr", "td", "th", "ul", "ol", "li"):
            return False
    return len(_text_content(el)) <= _DATA_CELL_CHARS


def _html_text_from_tree(root) -> str:
    from lxml import etree

    for el in [el for el in root.iter(*_DROP_TAGS)]:
        if el.getparent() is not None:
            _drop_tree(el)  # keeps the tail text
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


def cut_html_comments(text: str) -> str:
    """Text without ``<!-- ... -->`` comments (an unclosed one runs to the end).

    ``str.find`` keeps this linear: a lazy regex rescans to the end from every unclosed "<!--".
    """
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


def html_text_by_regex(text: str) -> str:
    """Text of HTML by linear-time tag scans: the fallback for pages lxml cannot read, and the
    reader of raw HTML blocks inside Markdown."""
    text = cut_html_comments(text)
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


def read_html(text: str, parser) -> Reading:
    """The page's text and metadata. Falls back to a regex strip; raises ``Reject``."""
    from lxml import etree

    src = _XML_DECL_RE.sub("", text, count=1) if text.lstrip()[:5].lower() == "<?xml" else text
    root = None
    try:
        root = etree.fromstring(src, parser)
        if root is None:
            raise etree.ParserError("Document is empty")
        truncated = any(e.type_name == "ERR_RESOURCE_LIMIT" for e in parser.error_log)
    except Exception:
        truncated = True
    title = date = url = None
    if root is not None:
        try:
            title, date, url = _html_meta(root)
            if not truncated:
                description = _description(root)  # before the text: reading the body prunes the tree
                body = _with_description(description, _html_text_from_tree(root))
                return Reading(body, title, date, url, "html")
        except Exception:
            pass
    try:
        return Reading(html_text_by_regex(text), title, date, url, "html")
    except Exception as e:  # pragma: no cover - defensive
        raise Reject(
            "unparseable", f"HTML could not be parsed by lxml nor stripped by regex: {e!r}"
        ) from None
