"""Markdown → text (step 8 of ``transforms.documents`` for ``format == "markdown"``).

``split_front_matter(text)`` finds a leading YAML front matter block; ``read_markdown(text,
front_matter)`` reads its metadata (``transforms.metadata.front_matter_meta``) and renders the
body with markdown-it-py (CommonMark, plus GFM tables and strikethrough) to plain text:

- the body keeps its source lines: a paragraph's lines stay lines, blank lines between blocks
  stay, and lines that only carry markup (fences, rules, table delimiter rows, link reference
  definitions, image-only lines) disappear;
- headings, list items, quotes and table rows are one line each (nested list items too);
  markers go, except an ordered item's number ("1. "); a table row's cells are joined by "\\t",
  as in the HTML reader (``transforms.tables`` reads "\\t" and "|" alike);
- links read as their text, images disappear, inline code and emphasis read as their text;
- raw HTML is read by the HTML reader's tag strip (``<br>`` breaks a line), comments go.

Hostile input stays bounded: markdown-it-py is pure Python and costs up to ~100 µs per markup
character (``"![" * n``), so a body over ``_MARKUP_BUDGET`` markup characters or
``_CHARS_BUDGET`` characters is kept as plain text (no real article comes near either);
markdown-it drops what nests deeper than ``_MAX_NESTING``; a front matter block nesting deeper
than 256 brackets is ignored.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import isMdAsciiPunct, isPunctChar, isWhiteSpace
from markdown_it.rules_inline.state_inline import Scanned, StateInline

from transforms.metadata import Reading, front_matter_meta
from transforms.read_html import CJK, cut_html_comments, html_text_by_regex

__all__ = ["read_markdown", "split_front_matter"]

_FRONT_MATTER_MAX = 64 * 1024
_MAX_NESTING = 100
_MARKUP_BUDGET = 10_000  # worst case (all "![") ~1 s of CPU; a long bulletin has ~2k
_MARKUP_CHARS = "\n[]!<>*_`&\\|#~-"  # "- - - x" nests lists and rescans its line per level
_CHARS_BUDGET = 1_000_000  # even markup-free text costs up to ~0.3 µs a character
_INLINE_MARKUP = re.compile(r"[\\`~*_\[<&]")  # content without these renders to itself
_BR_RE = re.compile(r"<(?i:br)[\s/>]")
_IMAGE = "\x00"  # stands for an image while a line renders (controls were removed at decoding)

# --------------------------------------------------------------------------- front matter

_NON_SPACE_RE = re.compile(r"\S")
_FRONT_MATTER_OPEN_RE = re.compile(r"---[ \t]*\n")
_FRONT_MATTER_CLOSE_RE = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)
_YAML_KEY_RE = re.compile(r"[ \t]*[A-Za-z_][\w .-]{0,60}:(?:[ \t]|$)")


def split_front_matter(text: str) -> tuple[str, str] | None:
    """(yaml_block, rest) when the text starts with a YAML front matter block.

    Hand-written: markdown-it-py has no front matter rule (that lives in mdit-py-plugins).
    """
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


# --------------------------------------------------------------------------- markdown-it

# News text indents paragraphs: no indented code blocks. Inline content is parsed by
# _inline_text, only where it holds markup: that is most of markdown-it-py's cost, and a
# paragraph of plain prose renders to itself (text joins are not needed for plain text).
_MD = (
    MarkdownIt("commonmark", {"html": True, "maxNesting": _MAX_NESTING})
    .enable(["table", "strikethrough"])
    .disable(["code", "inline", "text_join", "fragments_join"])
)
# The text rule stops at every character an extension might react to ("%", "-", ":" ...), and
# each stop tries every inline rule: stop only where an enabled rule can start or a link ends.
_MD.inline.terminator_re = re.compile(r"[\n!&*<\[\\\]_`~]")
_CJK_RE = re.compile(f"[{CJK}]")


class _CjkInlineState(StateInline):
    """CommonMark's flanking rules, relaxed next to CJK characters (as the markdown-cjk-friendly
    extension does): in "**“十四五”**规划" or "**总值（GDP）**同比" the closing "**" follows
    punctuation and precedes a letter, so plain CommonMark leaves the asterisks in the text."""

    def scanDelims(self, start: int, canSplitWord: bool) -> Scanned:
        src, pos, end = self.src, start, self.posMax
        marker = src[start]
        while pos < end and src[pos] == marker:
            pos += 1
        last = src[start - 1] if start > 0 else " "
        nxt = src[pos] if pos < end else " "
        last_punct = isMdAsciiPunct(ord(last)) or isPunctChar(last)
        next_punct = isMdAsciiPunct(ord(nxt)) or isPunctChar(nxt)
        last_space, next_space = isWhiteSpace(ord(last)), isWhiteSpace(ord(nxt))
        left = not next_space and (
            not next_punct or last_space or last_punct or bool(_CJK_RE.match(last)))
        right = not last_space and (
            not last_punct or next_space or next_punct or bool(_CJK_RE.match(nxt)))
        can_open = left and (canSplitWord or not right or last_punct)
        can_close = right and (canSplitWord or not left or next_punct)
        return Scanned(can_open, can_close, pos - start)


def _inline_text(content: str, env: dict[str, Any]) -> str:
    """An inline token's content as text: breaks are "\\n", an image is ``_IMAGE``."""
    if not _INLINE_MARKUP.search(content):
        return "\n".join(line.strip(" \t") for line in content.split("\n"))
    if env.get("references"):   # reference links make the reading depend on the document
        return _parsed_inline_text(content, env)
    return _inline_text_without_references(content)


# The pages of one site repeat whole paragraphs (navigation, bylines, captions, boilerplate), and
# markdown-it's inline parse is pure Python: a paragraph read once is not parsed again. Without
# reference links the reading depends on the paragraph alone, so the cache cannot change it.
@lru_cache(maxsize=8192)
def _inline_text_without_references(content: str) -> str:
    return _parsed_inline_text(content, {})


def _parsed_inline_text(content: str, env: dict[str, Any]) -> str:
    state = _CjkInlineState(content, _MD, env, [])
    _MD.inline.tokenize(state)
    for rule in _MD.inline.ruler2.getRules(""):
        rule(state)
    parts = []
    for tok in state.tokens:
        kind = tok.type
        if kind in ("text", "text_special", "code_inline"):
            parts.append(tok.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif kind == "image":
            parts.append(_IMAGE)
        elif kind == "html_inline" and _BR_RE.match(tok.content):
            parts.append("\n")
    return "".join(parts)


def _lines(text: str) -> list[str]:
    """Rendered lines; a line holding only images is markup and goes."""
    if _IMAGE not in text:
        return text.split("\n")
    return [ln.replace(_IMAGE, "") for ln in text.split("\n") if ln.replace(_IMAGE, "").strip()]


def _render(body: str) -> str:
    """The body as text, block by block in source order (the rules in the module docstring)."""
    env: dict[str, Any] = {}
    tokens = _MD.parse(body, env)
    source = body.split("\n")
    out: list[str] = []
    done = 0  # source lines before this one are rendered, or were blank or markup only
    row: list[str] | None = None
    row_map = marker = None

    def emit(span: list[int], lines: list[str]) -> None:
        nonlocal done, marker
        # blank lines between blocks stay blank lines ("> " alone is a blank line in a quote)
        out.extend("" for ln in source[done : span[0]] if not ln.strip(" \t>"))
        if marker and lines:
            lines[0] = marker + lines[0]
            marker = None
        out.extend(lines)
        done = max(done, span[1])

    for tok in tokens:
        kind = tok.type
        if kind == "inline":
            if row is not None:
                row.append(_inline_text(tok.content, env).replace("\n", " ").replace(_IMAGE, ""))
            else:
                emit(tok.map, _lines(_inline_text(tok.content, env)))
        elif kind == "list_item_open":
            if tok.info:  # a bullet item opening an ordered item ("1. - x") keeps its number
                marker = f"{tok.info}{tok.markup} "
        elif kind == "list_item_close":
            marker = None  # an empty item numbers nothing after it
        elif kind == "tr_open":
            row, row_map = [], tok.map
        elif kind == "tr_close":
            emit(row_map, ["\t".join(row)])
            row = None
        elif kind == "fence":
            # an unclosed fence runs to the end of the text, whose last line may lack its "\n"
            emit(tok.map, tok.content.removesuffix("\n").split("\n") if tok.content else [])
        elif kind == "html_block":
            html = html_text_by_regex(tok.content)
            emit(tok.map, html.split("\n") if html else [])
        elif kind == "hr":
            emit(tok.map, [])
    return "\n".join(out)


def _markup_count(body: str) -> int:
    return sum(map(body.count, _MARKUP_CHARS))


def read_markdown(text: str, front_matter: tuple[str, str] | None) -> Reading:
    """The text of a Markdown document and the metadata its front matter states.

    ``front_matter`` is ``split_front_matter(text)``: its block is read, its rest rendered.
    """
    title = date = url = None
    if front_matter is not None:
        block, text = front_matter
        fm = _yaml_load(block)
        if fm:
            title, date, url = front_matter_meta(fm)
    text = cut_html_comments(text)
    within = len(text) <= _CHARS_BUDGET and _markup_count(text) <= _MARKUP_BUDGET
    body = _render(text) if within else text
    return Reading(body, title, date, url, "front_matter")
