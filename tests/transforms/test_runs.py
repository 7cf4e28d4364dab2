"""transforms/runs.py and transforms/distinct.py: the shortcuts extraction takes give what the
plain Polars expressions they replace give.

The frames are written for the test: runs of every length (one row included), a key that is a
string and one that is an integer, values with nulls where a forward fill has to stop at a
run's start.
"""
from __future__ import annotations

import random

import polars as pl
import pytest
from polars.testing import assert_frame_equal, assert_series_equal

from transforms.distinct import looked_up, on_distinct
from transforms.runs import filled, filled_by_id, on_runs, position, run_start, running_sum, shifted


def _frame(seed: int) -> pl.DataFrame:
    """Documents of paragraphs of sentences, in reading order (every key's rows together)."""
    rng = random.Random(seed)
    rows, sent_id = [], 0
    for doc in range(rng.randint(3, 12)):
        for para in range(rng.randint(1, 4)):
            for _ in range(rng.randint(1, 5)):
                for _ in range(rng.randint(1, 4)):
                    rows.append({"document_id": f"文档{doc:02d}", "para_no": para, "sent_id": sent_id,
                                 "length": rng.randint(0, 30),
                                 "value": rng.choice([None, None, "甲", "乙", "丙"]),
                                 "text": rng.choice(["同比增长", "增长", "占全市比重", None, "比上年"])})
                sent_id += 1
    return pl.DataFrame(rows, schema={"document_id": pl.String, "para_no": pl.Int32, "sent_id": pl.Int64,
                                      "length": pl.Int64, "value": pl.String, "text": pl.String})


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("keys", [("sent_id",), ("document_id",), ("document_id", "para_no")])
def test_windows_over_runs_equal_windows_over_groups(seed: int, keys: tuple[str, ...]) -> None:
    frame = _frame(seed)
    over = list(keys)
    got = frame.select(
        position(*keys).alias("position"),
        running_sum(pl.col("length"), *keys).alias("running_sum"),
        shifted(pl.col("value"), *keys).alias("before"),
        shifted(pl.col("value"), *keys, n=-1).alias("after"),
        filled(pl.col("value"), *keys).alias("filled"),
        run_start(*keys).alias("start"),
    )
    want = frame.select(
        pl.int_range(pl.len()).over(over).alias("position"),
        pl.col("length").cum_sum().over(over).alias("running_sum"),
        pl.col("value").shift(1).over(over).alias("before"),
        pl.col("value").shift(-1).over(over).alias("after"),
        pl.col("value").forward_fill().over(over).alias("filled"),
        (pl.int_range(pl.len()).over(over) == 0).alias("start"),
    )
    assert_frame_equal(got, want)


@pytest.mark.parametrize("seed", range(6))
def test_a_fill_over_run_numbers_equals_the_fill_over_runs(seed: int) -> None:
    frame = _frame(seed)
    for value in (pl.col("value"), pl.when(pl.col("length") > 20).then(pl.col("text"))):
        assert_series_equal(frame.select(filled_by_id(value, "sent_id")).to_series(),
                            frame.select(filled(value, "sent_id")).to_series())


def test_a_key_that_comes_back_starts_a_new_run() -> None:
    frame = pl.DataFrame({"k": ["a", "a", "b", "a"], "v": ["x", None, None, None]})
    assert frame.select(position("k")).to_series().to_list() == [0, 1, 0, 0]
    assert frame.select(filled(pl.col("v"), "k")).to_series().to_list() == ["x", "x", None, None]


def _count_in_sentence(frame: pl.DataFrame) -> pl.DataFrame:
    """A step that looks across a sentence, changes a column and adds one, and drops another."""
    return frame.with_columns(
        pl.col("length").cum_sum().over("sent_id").alias("length"),
        pl.col("value").forward_fill().over("sent_id").alias("carried"),
    ).drop("text")


@pytest.mark.parametrize("seed", range(4))
def test_on_runs_changes_the_selected_runs_as_the_step_on_the_whole_frame_would(seed: int) -> None:
    frame = _frame(seed)
    selected = (pl.col("sent_id") % 3 == 0)
    got = on_runs(frame, selected, _count_in_sentence)
    whole = _count_in_sentence(frame)
    assert got.columns == whole.columns
    chosen = frame.select(selected).to_series()
    assert_frame_equal(got.filter(chosen), whole.filter(chosen))
    # the other rows keep their values; the added column is null there
    rest = got.filter(~chosen)
    assert_frame_equal(rest.drop("carried"), frame.filter(~chosen).drop("text"))
    assert rest.get_column("carried").null_count() == rest.height


@pytest.mark.parametrize("seed", range(4))
def test_on_runs_given_the_columns_a_step_reads_sets_what_it_returns(seed: int) -> None:
    frame = _frame(seed)
    selected = (pl.col("sent_id") % 3 == 0)

    def carried(part: pl.DataFrame) -> pl.DataFrame:
        return part.select(pl.col("length").cum_sum().over("sent_id").alias("length"),
                           pl.col("value").forward_fill().over("sent_id").alias("carried"))

    got = on_runs(frame, selected, carried, reads=["sent_id", "length", "value"])
    want = on_runs(frame, selected, lambda part: part.with_columns(carried(part)))
    assert_frame_equal(got, want)
    assert got.columns == [*frame.columns, "carried"]


def test_on_runs_with_nothing_selected_still_has_the_steps_columns() -> None:
    frame = _frame(1)
    got = on_runs(frame, pl.lit(False), _count_in_sentence)
    assert got.columns == _count_in_sentence(frame).columns
    assert_series_equal(got.get_column("length"), frame.get_column("length"))
    assert got.get_column("carried").null_count() == frame.height


@pytest.mark.parametrize("seed", range(4))
def test_on_distinct_gives_every_row_what_the_step_gives_its_value(seed: int) -> None:
    frame = _frame(seed)

    def marks(part: pl.DataFrame) -> pl.DataFrame:
        return part.with_columns(
            pl.col("text").str.contains("增长").alias("growth"),
            pl.concat_str(pl.col("text"), pl.col("value")).alias("text_and_value"),
            pl.col("text").str.len_chars().alias("chars"),
        )

    assert_frame_equal(on_distinct(frame, ["text", "value"], marks), marks(frame))
    # a single key, null included; a step can only read its keys
    growth = lambda part: part.with_columns(pl.col("text").str.contains("增长").alias("growth"))  # noqa: E731
    assert_frame_equal(on_distinct(frame, ["text"], growth), growth(frame))
    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        on_distinct(frame, ["text"], marks)


def test_looked_up_sets_columns_by_key_and_nulls_where_the_table_has_no_row() -> None:
    frame = pl.DataFrame({"token": ["5%", None, "3亿元", "5%", "7个"], "n": [1, 2, 3, 4, 5]})
    table = pl.DataFrame({"token": ["5%", "3亿元", None], "kind": ["percent", "money", "none"]})
    got = looked_up(frame, table, ["token"])
    assert got.get_column("kind").to_list() == ["percent", "none", "money", "percent", None]
    assert got.get_column("n").to_list() == [1, 2, 3, 4, 5]
    # an empty table finds nothing: its columns are set, null
    none = looked_up(frame, table.clear(), ["token"])
    assert_frame_equal(none, frame.with_columns(pl.lit(None, pl.String).alias("kind")))
