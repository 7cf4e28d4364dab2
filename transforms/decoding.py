"""file bytes → text (steps 3-6 of ``transforms.documents``): refuse binary, decode, guard garbage.

``decode_content(content) -> (text, encoding)`` or raises ``Reject``. ``encoding`` is one of
``utf-8``, ``utf-8-sig``, ``utf-16`` (BOM-led), ``gb18030`` (which also reads GBK). Newlines
are normalised to "\\n" and stray control characters removed; nothing else is folded.

Both the magic-number table and the decoder order are hand-written on purpose: the inbox
only holds UTF-8 or GB18030/GBK text, plus the odd UTF-16 file with a BOM, and for those the
fixed order "BOM, strict UTF-8, strict GB18030" is exact (GBK bytes are almost never valid
UTF-8; GB18030 reads all of GBK) where a statistical detector guesses; the table names the
binary formats refused, without libmagic.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["Reject", "BOM_UTF16", "CTRL_RE", "decode_content", "describe_error"]

_GARBAGE_RATIO = 0.10


class Reject(Exception):
    """Raised inside the per-file pipeline to send a file to quarantine with a reason."""

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


def _reject_binary(content: bytes) -> None:
    kind = _magic_kind(content)
    if kind is not None:
        raise Reject("binary", f"starts with a {kind} signature: looks like binary ({kind})")
    if not content.startswith(BOM_UTF16):
        nul = content.find(b"\x00")
        if nul >= 0:
            raise Reject("binary", f"NUL bytes at offset {nul}: looks like binary")


# --------------------------------------------------------------------------- decoding

_BOM_UTF8 = b"\xef\xbb\xbf"
BOM_UTF16 = (b"\xff\xfe", b"\xfe\xff")
# A byte order mark names the one codec its file may be read with: (mark, codec, name in details).
_BOM_CODECS = ((_BOM_UTF8, "utf-8-sig", "UTF-8"), (BOM_UTF16, "utf-16", "UTF-16"))

# C0/C1 control characters other than \t \n \r.
CTRL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


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
# U+0080..U+009F in UTF-8 (C2 is only ever a lead byte, so each match is one character).
_C1_UTF8_RE = re.compile(b"\xc2[\x80-\x9f]")


def _count_controls(text: str, utf8: bytes) -> int:
    """Number of control characters (not \\t \\n \\r) in text; utf8 is text as UTF-8.

    Byte-level ``translate`` and a bytes regex are an order of magnitude faster than a regex
    on CJK text.
    """
    n = len(utf8) - len(utf8.translate(None, _C0_CTRL_BYTES))
    if b"\xc2" in utf8:
        n += len(_C1_UTF8_RE.findall(utf8))
    return n


def _count_private_unassigned(text: str) -> int:
    bad = len(text) - len(_BMP_BAD_RE.sub("", text))
    if _ASTRAL_RE.search(text):
        for ch in set(_ASTRAL_RE.findall(text)):
            if unicodedata.category(ch) in ("Co", "Cn"):
                bad += text.count(ch)
    return bad


def _decode(content: bytes) -> tuple[str, str]:
    """Return (text, encoding) or raise Reject('undecodable'|'binary')."""
    bom = next((entry for entry in _BOM_CODECS if content.startswith(entry[0])), None)
    if bom is not None:
        _, encoding, name = bom
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError as e:
            raise Reject(
                "undecodable",
                f"file starts with a {name} byte order mark but is not valid {name}: {describe_error(e)}",
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
                raise Reject(
                    "undecodable",
                    f"not valid UTF-8 ({describe_error(e8)}) nor GB18030/GBK ({describe_error(eg)})",
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
                raise Reject(
                    "binary",
                    f"decodes as {encoding} but {pct:.0f}% of the characters are control "
                    "characters: looks like binary",
                )
            raise Reject(
                "undecodable",
                f"decodes as {encoding} but {pct:.0f}% of the characters are private-use or "
                "unassigned: probably not text in this encoding",
            )
        if n_ctrl:
            text = CTRL_RE.sub("", text)
    return text, encoding


def describe_error(e: UnicodeDecodeError) -> str:
    """Where and why bytes failed to decode, for a quarantine detail."""
    bad = e.object[e.start : e.start + 1]
    return f"{e.reason} at byte offset {e.start} (0x{bad.hex()})"


def _normalise_newlines(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\u2028" in text or "\u2029" in text:
        text = text.replace("\u2028", "\n").replace("\u2029", "\n")
    return text


def decode_content(content: bytes) -> tuple[str, str]:
    """(text, encoding) of a non-empty file's bytes; raises ``Reject`` (binary, undecodable,
    empty) for bytes that are not text worth reading."""
    _reject_binary(content)
    text, encoding = _decode(content)
    if not text or text.isspace():   # not text.strip(), without copying the text
        raise Reject("empty", f"file has {len(content)} bytes but only whitespace ({encoding})")
    return _normalise_newlines(text), encoding
