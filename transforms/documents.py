"""files → documents: the per-file pipeline, and the one entry point ``parse_documents``.

Input row contract (``RAW_FILE_SCHEMA``), one row per file the inbox found:
    path        str     path relative to the inbox, posix separators
    content     bytes   the file's bytes (only the head when the file is oversized)
    size_bytes  int     size of the file on disk
    sha256      str     hex digest of the whole file
    sidecar     bytes?  bytes of ``<stem>.meta.json`` next to the file, if any
    read_error  str?    set by the inbox when the file could not be read at all

Output: ``parse_documents(raw, max_bytes=...) -> (documents, quarantine)``, see
``DOCUMENT_SCHEMA`` and ``QUARANTINE_SCHEMA``. A document's id is the identity of one version
of its file (``transforms.fingerprint.document_identity``): its bytes and its sidecar's.

The steps live in their own modules; this one runs them in order and picks the reader:

    transforms.decoding       bytes → text (binary, encodings, garbage guard)
    transforms.read_markdown  Markdown (front matter, markdown-it-py) → text
    transforms.read_html      HTML (lxml, regex fallback) → text
    transforms.metadata       sidecar, dates, titles: which source wins

All of it is pure: no file I/O, no network, no environment variables. Every input byte is
treated as hostile: content and sidecar values are only ever stored as data, parsing is
wrapped so that one bad file cannot stop a batch (it lands in quarantine as
``unparseable``), and every reader is bounded so that a 20 MB single-line file is read in
seconds.

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

Text conventions: newlines are "\\n"; stray control characters are removed; nothing
else is folded (full-width, traditional characters stay). Text keeps its lines and blank
lines; Markdown keeps its source lines and blank lines too, minus the lines that only carry
markup (``transforms.read_markdown``); HTML yields one block per line with no blank lines,
table cells joined by "\\t" (``transforms.read_html``).
"""

from __future__ import annotations

import hashlib
import re
from posixpath import basename
from typing import Any

import polars as pl

from transforms.decoding import Reject, decode_content
from transforms.fingerprint import document_identity
from transforms.metadata import Reading, load_sidecar, resolve
from transforms.read_html import html_parser, read_html
from transforms.read_markdown import read_markdown, split_front_matter

__all__ = [
    "RAW_FILE_SCHEMA",
    "DOCUMENT_SCHEMA",
    "QUARANTINE_SCHEMA",
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

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
PAYLOAD_MAX_BYTES = 1024 * 1024
_MIB = 1024 * 1024

# --------------------------------------------------------------------------- sniffing

_SNIFF_CHARS = 64 * 1024  # format sniffing only looks at the head of the text
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


def _sniff(text: str, has_front_matter: bool) -> str:
    """"html", "markdown" or "text": which reader the content needs, whatever its file name."""
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


# --------------------------------------------------------------------------- per file

def _stem(path: str) -> str:
    name = basename(path.replace("\\", "/"))
    dot = name.rfind(".")
    return name[:dot] if dot > 0 else name


def _trim_blank_edges(text: str) -> str:
    """Drop whitespace-only lines at both ends; keep the indentation of the first line."""
    if not (text[:1].isspace() or text[-1:].isspace()):
        return text
    first = len(text) - len(text.lstrip())
    start = text.rfind("\n", 0, first) + 1
    last = len(text.rstrip())
    end = text.find("\n", last)
    return text[start : end if end >= 0 else len(text)]


def _read(text: str, parser) -> tuple[str, Reading]:
    """(format, reading) of a decoded text; raises ``Reject('unparseable')`` when a reader fails."""
    front_matter = split_front_matter(text)
    fmt = _sniff(text, front_matter is not None)
    try:
        if fmt == "markdown":
            return fmt, read_markdown(text, front_matter)
        if fmt == "html":
            return fmt, read_html(text, parser)
        return fmt, Reading(text)
    except Reject:
        raise
    except Exception as e:
        raise Reject("unparseable", f"{fmt} content could not be parsed: {type(e).__name__}: {e}") from None


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
        raise Reject("unreadable", read_error or "the file could not be read")
    if content is None:
        raise Reject("unreadable", "no content was read for this file")
    size = max(size_bytes if size_bytes is not None else 0, len(content))
    if size > max_bytes:
        raise Reject(
            "oversized",
            f"file is {size / _MIB:.1f} MB, over the {max_bytes / _MIB:.1f} MB limit "
            "(ZONEFACTS_MAX_FILE_BYTES)",
        )
    if not content:
        raise Reject("empty", "file is empty (0 bytes)")
    text, encoding = decode_content(content)
    stem = _stem(path)
    meta = load_sidecar(sidecar, stem) if sidecar is not None else {}

    fmt, reading = _read(text, parser)
    body = _trim_blank_edges(reading.text)
    if not body.strip():
        raise Reject("empty", f"no text left after removing the {fmt} markup")
    return {"stem": stem, "encoding": encoding, "format": fmt, **resolve(body, meta, reading), "text": body}


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
    ids = _column(raw, "document_id")   # the reader's, when it gave one

    docs: dict[str, list[Any]] = {name: [] for name in DOCUMENT_SCHEMA}
    quar: dict[str, list[Any]] = {name: [] for name in QUARANTINE_SCHEMA}
    parser = html_parser()

    for path, content, size, sha, sidecar, error, document_id in zip(
        paths, contents, sizes, shas, sidecars, errors, ids
    ):
        path = path if isinstance(path, str) else ""
        if content is not None and not isinstance(content, bytes):
            content = bytes(content)
        if sha is None and content is not None:
            sha = hashlib.sha256(content).hexdigest()
        try:
            row = _parse_one(path, content, size, sidecar, error, max_bytes, parser)
        except Reject as rej:
            reason, detail = rej.reason, rej.detail
        except Exception as e:  # never let one hostile file stop the batch
            reason, detail = "unparseable", f"unexpected error while parsing: {type(e).__name__}: {e}"
        else:
            docs["document_id"].append(document_id or document_identity(sha, sidecar))
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
