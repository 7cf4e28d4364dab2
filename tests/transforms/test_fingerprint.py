"""transforms.fingerprint: the extractor fingerprint over copies of the real vocabulary directory,
and the identity of a document version (file bytes plus sidecar bytes)."""
from __future__ import annotations

import hashlib
import shutil

import pytest

from transforms import fingerprint as fp
from transforms.vocabulary import VOCAB_DIR


@pytest.fixture
def vocab_copy(tmp_path):
    target = tmp_path / "elsewhere" / "vocab"
    shutil.copytree(VOCAB_DIR, target, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    return target


def test_fingerprint_is_short_hex_and_the_same_for_a_copy_in_another_place(vocab_copy):
    here = fp.extractor_fingerprint()
    assert len(here) == fp.FINGERPRINT_LENGTH and int(here, 16) >= 0
    assert fp.extractor_fingerprint() == here
    assert fp.extractor_fingerprint(vocab_copy) == here


def test_every_vocabulary_file_and_the_gazetteer_count(vocab_copy):
    before = fp.extractor_fingerprint(vocab_copy)
    seen = set()
    for name in ("indicators.csv", "gazetteer.csv", "zones.csv", "cues.csv"):
        path = vocab_copy / name
        original = path.read_bytes()
        path.write_bytes(original + b"\n")
        changed = fp.extractor_fingerprint(vocab_copy)
        assert changed != before, name
        seen.add(changed)
        path.write_bytes(original)
    assert len(seen) == 4
    assert fp.extractor_fingerprint(vocab_copy) == before


def test_added_and_renamed_files_change_it_caches_and_line_endings_do_not(vocab_copy):
    before = fp.extractor_fingerprint(vocab_copy)
    (vocab_copy / "new_words.txt").write_text("新词\n", encoding="utf-8")
    assert fp.extractor_fingerprint(vocab_copy) != before
    (vocab_copy / "new_words.txt").rename(vocab_copy / "other_words.txt")
    renamed = fp.extractor_fingerprint(vocab_copy)
    assert renamed != before
    (vocab_copy / "other_words.txt").unlink()
    assert fp.extractor_fingerprint(vocab_copy) == before

    (vocab_copy / "__pycache__").mkdir()
    (vocab_copy / "__pycache__" / "build_gazetteer.cpython-311.pyc").write_bytes(b"\x00\x01")
    (vocab_copy / ".units.csv.swp").write_bytes(b"editor state")
    assert fp.extractor_fingerprint(vocab_copy) == before

    units = vocab_copy / "units.csv"
    units.write_bytes(units.read_bytes().replace(b"\n", b"\r\n"))   # a Windows checkout
    assert fp.extractor_fingerprint(vocab_copy) == before


def test_rules_version_and_vocabulary_corrections_change_it(vocab_copy, monkeypatch):
    before = fp.extractor_fingerprint(vocab_copy)
    assert fp.extractor_fingerprint(vocab_copy, extra="map_phrase\t跨境电商交易额\tonline_retail_sales") != before
    monkeypatch.setattr(fp, "RULES_VERSION", fp.RULES_VERSION + "+1")
    assert fp.extractor_fingerprint(vocab_copy) != before


def test_document_identity_covers_the_sidecar():
    content = hashlib.sha256("上半年，成都高新区实现地区生产总值同比增长6.1%。".encode()).hexdigest()
    assert fp.document_identity(content, None) == content        # ids of files without sidecars stay
    with_sidecar = fp.document_identity(content, b'{"published_at": "2024-07-10"}')
    assert with_sidecar != content and len(with_sidecar) == 64
    assert fp.document_identity(content, b'{"published_at": "2024-07-10"}') == with_sidecar
    assert fp.document_identity(content, b'{"published_at": "2024-07-11"}') != with_sidecar
    assert fp.document_identity(content, b"") not in (content, with_sidecar)
