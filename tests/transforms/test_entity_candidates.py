"""transforms/discovery.py: the discovery scan in Polars finds what Python's ``re.finditer`` finds.

``_scan`` scans a batch's texts with Polars (outside the GIL) and ``_located`` recovers each
match's start by searching its text; the names and starts must be ``finditer``'s, whatever the
text.
"""
from __future__ import annotations

import re

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms import discovery, entities
from transforms.discovery import SUB_AREA_SUFFIXES, _discovery_pattern, _located, _scan
from transforms.entities import suffix_types
from transforms.vocabulary import load_vocabulary

_PIECES = [s for s, _ in suffix_types()] + list(SUB_AREA_SUFFIXES) + [
    "重庆", "高新", "两江", "西部", "科学", "城", "区", "市", "县", "（", "）", "(", ")", "，", "。", "的", "在",
    "1", "2024年", "A", " ", "\n", "级", "委", "市场",
]


def _candidates(texts: list[str]) -> dict[str, list[tuple[int, str]]]:
    return {text: _located(text, names) for text, names in _scan(pl.Series(texts, dtype=pl.String)).iter_rows()}


def _finditer(text: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group(0)) for m in re.finditer(_discovery_pattern(), text)]


def test_candidates_of_written_sentences():
    texts = ["今年上半年，重庆高新区实现地区生产总值同比增长4.7%。",
             "瞄准西部（重庆）科学城，新建重庆市綦江区工业园区，绵阳经开区与宜宾县",
             "", "没有名字", "高新区高新区高新区"]
    got = _candidates(texts)
    assert got == {text: _finditer(text) for text in texts}
    assert got[texts[0]] == [(6, "重庆高新区"), (11, "实现地区")]   # the scan's candidates; discover judges them
    assert got[texts[1]][:3] == [(0, "瞄准西部（重庆）科学城"), (12, "新建重庆市"), (17, "綦江区")]


# Hypothesis warns when the global `random` state moves during a test; in the whole suite the
# background threads earlier tests leave running can move it; this test does not use it.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=40).map("".join), max_size=8))
def test_candidates_match_finditer_on_any_text(texts):
    texts = list(dict.fromkeys(texts))
    assert _candidates(texts) == {text: _finditer(text) for text in texts}


def _every_text(texts: pl.Series) -> pl.DataFrame:
    """What discover would read without leaving out the texts that only repeat judged names."""
    return _scan(texts.unique(maintain_order=True))


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES + ["南京", "江北新区", "以下简称", "人民", "区域"]), max_size=25)
                .map("".join), min_size=1, max_size=10))
def test_discover_reads_only_the_texts_it_has_something_to_do_in(texts):
    texts = texts + texts[:2]  # repeated texts, as a batch has them
    got = discovery.discover(texts, entities.base_index(load_vocabulary()))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(discovery, "_to_judge", _every_text)
        want = discovery.discover(texts, entities.base_index(load_vocabulary()))
    for table in ("canonical", "entity_type", "parent", "aliases", "discovered", "present"):
        assert getattr(got, table) == getattr(want, table), table
