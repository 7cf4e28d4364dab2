"""The two grammar lists that have one definition each: range separators
(vocab/range_separators.txt) and the periods a change is compared with (vocab/compared_periods.txt).

Every entry of each file must work everywhere the reader uses the list, so a copy that drifts
from the file (a separator one grammar forgets, a period word one reader misses) fails here.
The sentences are written for the test (place names real, figures invented).
"""
from __future__ import annotations

import re

import polars as pl
import pytest

from bench import generate
from tests.transforms.test_extract_patterns import assert_contains, observations
from transforms.coverage import count_cue_numbers
from transforms.numbers import parse_token
from transforms.periods import compared_period_pattern, parse_period, period_pattern
from transforms.vocabulary import VOCAB_DIR, read_patterns

SEPARATORS = read_patterns(VOCAB_DIR / "range_separators.txt")
COMPARED = read_patterns(VOCAB_DIR / "compared_periods.txt")


def test_the_lists_are_what_the_reader_has_always_read() -> None:
    assert set(SEPARATORS) >= {"-", "~", "—", "至", "到"}
    assert set(COMPARED) >= {"一季度", "二季度", "三季度", "上半年", "前三季度", "上月", "上季度", "年初"}


@pytest.mark.parametrize("separator", SEPARATORS)
def test_a_separator_makes_a_month_range(separator: str) -> None:
    phrase = f"2024年1{separator}5月"
    assert re.fullmatch(period_pattern(), phrase)
    parsed = parse_period(phrase)
    assert (parsed["start_month"], parsed["end_month"], parsed["explicit_year"]) == (1, 5, 2024)
    assert parse_period(f"一{separator}五月")["end_month"] == 5


@pytest.mark.parametrize("separator", SEPARATORS)
def test_a_separator_makes_a_number_range(separator: str) -> None:
    token = parse_token(f"3{separator}5%")
    assert (token["value"], token["kind"], token["suffix_qualifier"]) == (3.0, "percent", "at_least")


@pytest.mark.parametrize("separator", SEPARATORS)
def test_a_separator_makes_a_counted_range(separator: str) -> None:
    counted = pl.DataFrame({"t": [f"出口总额增长3{separator}5%，进口总额2024年"]}).select(
        count_cue_numbers(pl.col("t"))).item()
    assert counted == 1


@pytest.mark.parametrize("separator", SEPARATORS)
def test_a_separator_dates_the_facts_of_its_sentence(separator: str) -> None:
    found = observations(f"2024年1{separator}5月，成都高新区实现地区生产总值同比增长6.3%。")
    assert_contains(found, [{"entity": "成都高新区", "year": 2024, "start_month": 1, "end_month": 5,
                             "measure": "yoy_pct", "value": 6.3}])


def test_the_generator_writes_ranges_the_reader_reads() -> None:
    for style, write in generate.MONTH_STYLES.items():
        parsed = parse_period(write(7))
        assert (parsed["start_month"], parsed["end_month"]) == (1, 7), style
    vocab = generate.Vocab()
    for label in generate.BASE_PERIODS:   # the base article's periods, the month range among them
        parsed = parse_period(label)
        assert vocab.period(label) == (parsed["start_month"], parsed["end_month"]), label
    with pytest.raises(ValueError):
        generate._range_separator("/")


@pytest.mark.parametrize("word", COMPARED)
def test_a_compared_period_is_a_basis_not_the_period(word: str) -> None:
    for phrase in (f"比{word}", f"较2023年{word}"):
        assert re.fullmatch(compared_period_pattern(), phrase)
        assert re.fullmatch(period_pattern(), phrase)
        assert parse_period(phrase)["period_kind"] == "basis"


@pytest.mark.parametrize("word", COMPARED)
def test_growth_against_a_compared_period_is_no_fact(word: str) -> None:
    against = observations(f"上半年，成都高新区规上工业增加值比{word}增长2.5%。")
    assert not [o for o in against if o["indicator"] == "industrial_value_added_above_scale"]
    on_the_year = observations("上半年，成都高新区规上工业增加值同比增长2.5%。")
    assert_contains(on_the_year, [{"indicator": "industrial_value_added_above_scale", "measure": "yoy_pct",
                                   "value": 2.5}])
