"""Identities: which extractor read a document, and which version of a file a document is.

``extractor_fingerprint`` names everything that decides what the extractor reads: its
version, ``RULES_VERSION`` and every file under ``transforms/vocab/`` (the vocabulary and
the gazetteer data), plus the analysts' vocabulary corrections (``extra``). A document whose
stored fingerprint differs from the current one is re-extracted; each run and each fact
records the fingerprint that produced it.

``vocabulary_digest`` names a vocabulary given in code instead of read from those files: a run
given one folds it in, so its facts never carry the fingerprint of a vocabulary that did not
read them.

``document_identity`` is the id of one version of a document: the file's bytes and, when it
has one, its sidecar's, so that adding, changing or removing a sidecar makes a new version.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from transforms.extract import EXTRACTOR_VERSION
from transforms.vocabulary import VOCAB_DIR, Vocabulary

# Bump when a rule in transforms/ changes what the extractor reads from the same text and
# vocabulary (a new pattern, a fixed binding): every document is then re-extracted.
RULES_VERSION = "1"

FINGERPRINT_LENGTH = 12


def _vocabulary_files(vocab_dir: Path) -> list[Path]:
    # caches and editor files are not vocabulary: they differ between machines
    return sorted((p for p in vocab_dir.rglob("*") if p.is_file()
                   and not any(part.startswith(".") or part == "__pycache__"
                               for part in p.relative_to(vocab_dir).parts)),
                  key=lambda p: p.relative_to(vocab_dir).as_posix())


def extractor_fingerprint(vocab_dir: Path = VOCAB_DIR, *, extra: str = "") -> str:
    """A short hex digest, the same on every machine for the same extractor and vocabulary.

    Relative paths and bytes of the files under ``vocab_dir`` in sorted order (CRLF read as
    LF: a Windows checkout is the same vocabulary), then ``extra``."""
    digest = hashlib.sha256(f"extractor {EXTRACTOR_VERSION}\0rules {RULES_VERSION}\0".encode())
    vocab_dir = Path(vocab_dir)
    for path in _vocabulary_files(vocab_dir):
        data = path.read_bytes().replace(b"\r\n", b"\n")
        digest.update(f"{path.relative_to(vocab_dir).as_posix()}\0{len(data)}\0".encode("utf-8", "surrogateescape"))
        digest.update(data)
    digest.update(b"\0extra\0" + extra.encode("utf-8"))
    return digest.hexdigest()[:FINGERPRINT_LENGTH]


def vocabulary_digest(vocabulary: Vocabulary) -> str:
    """A hex digest of the vocabulary's tables (their CSV text, in order): the same tables give the
    same digest on every machine."""
    digest = hashlib.sha256()
    for name in ("indicators", "entities", "breakdowns"):
        frame = getattr(vocabulary, name)
        # CSV has no list type: a list column is joined as the vocabulary files write it
        frame = frame.with_columns(frame.select(pl.col(pl.List(pl.String)).list.join("|")))
        digest.update(f"{name}\0".encode() + frame.write_csv().encode("utf-8"))
    return digest.hexdigest()


def document_identity(sha256: str, sidecar: bytes | None) -> str:
    """The document id of a file with content hash ``sha256`` and sidecar bytes ``sidecar``.

    A file without a sidecar keeps its content hash as id (warehouses loaded before sidecars
    counted keep their ids); with one, the id is the sha256 of both."""
    if sidecar is None:
        return sha256
    return hashlib.sha256(b"document\0" + sha256.encode("ascii") + b"\0sidecar\0" + bytes(sidecar)).hexdigest()
