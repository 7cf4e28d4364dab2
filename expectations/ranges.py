"""expectations/ranges.csv: plausible ranges of percentage measures, as data.

Each row is (measure, scope, key, min, max). For an observation, the most specific
row of its measure wins: ``indicator`` (key = indicator code), then ``category``
(key = the indicator's category in transforms/vocab/indicators.csv), then ``any``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import polars as pl

RANGES_PATH = Path(__file__).with_name("ranges.csv")
SCOPES = ("indicator", "category", "any")
RANGE_MEASURES = ("yoy_pct", "yoy_pct_2y_avg", "share_pct", "diff_pp")
IMPLIED_BENCHMARK = "implied_benchmark_yoy_pct"
MEASURES = (*RANGE_MEASURES, IMPLIED_BENCHMARK)
SCHEMA = {"measure": pl.String, "scope": pl.String, "key": pl.String, "min": pl.Float64, "max": pl.Float64,
          "note": pl.String}


def read_ranges(path: Path = RANGES_PATH) -> pl.DataFrame:
    """The ranges file, checked: known measures and scopes, min ≤ max, one row per (measure, key)."""
    frame = pl.read_csv(path, comment_prefix="#", schema_overrides=SCHEMA).select(list(SCHEMA)).with_columns(
        pl.col("measure").str.strip_chars(), pl.col("scope").str.strip_chars(), pl.col("key").str.strip_chars(),
        pl.col("note").fill_null(""))
    problems = []
    bad_measure = frame.filter(~pl.col("measure").is_in(MEASURES))
    if bad_measure.height:
        problems.append(f"unknown measure(s) {sorted(set(bad_measure['measure']))}")
    bad_scope = frame.filter(~pl.col("scope").is_in(SCOPES))
    if bad_scope.height:
        problems.append(f"unknown scope(s) {sorted(set(bad_scope['scope']))}")
    if frame.filter(pl.col("min").is_null() | pl.col("max").is_null() | (pl.col("min") > pl.col("max"))).height:
        problems.append("every row needs min ≤ max")
    if frame.filter((pl.col("scope") == "any") != (pl.col("key") == "*")).height:
        problems.append("scope 'any' goes with key '*' and only with it")
    dup = frame.group_by("measure", "key").len().filter(pl.col("len") > 1)
    if dup.height:
        problems.append(f"duplicate (measure, key) rows: {dup.select('measure', 'key').rows()}")
    if not frame.filter(pl.col("key").str.contains(r"^[a-z0-9_*]+$").not_()).is_empty():
        problems.append("keys are lower-case codes")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return frame.with_columns(
        (pl.col("measure") + ":" + pl.col("scope") + ":" + pl.col("key")).alias("range_id"))


@lru_cache(maxsize=4)
def load_ranges(path: Path = RANGES_PATH) -> pl.DataFrame:
    return read_ranges(path)


def range_name(measure: str, key: str) -> str:
    """Stable expectation name of one range row: yoy_pct_range_gdp, share_pct_range, ..."""
    return f"{measure}_range" if key == "*" else f"{measure}_range_{key}"


def resolve(frame: pl.DataFrame, ranges: pl.DataFrame, measure: pl.Expr | str, prefix: str) -> pl.DataFrame:
    """Add ``<prefix>_id``, ``<prefix>_min``, ``<prefix>_max`` to ``frame`` (needs columns indicator,
    category): the most specific range row of ``measure`` for each row, null when none applies."""
    measure_expr = pl.lit(measure) if isinstance(measure, str) else measure
    frame = frame.with_columns(measure_expr.alias("__measure"))
    picked = []
    for scope, on in (("indicator", "indicator"), ("category", "category"), ("any", None)):
        part = ranges.filter(pl.col("scope") == scope).select(
            pl.col("measure").alias("__measure"), pl.col("key").alias(f"__key_{scope}"),
            pl.col("range_id").alias(f"__id_{scope}"), pl.col("min").alias(f"__min_{scope}"),
            pl.col("max").alias(f"__max_{scope}"))
        if on is None:
            frame = frame.join(part.drop(f"__key_{scope}"), on="__measure", how="left", maintain_order="left")
        else:
            frame = frame.join(part, left_on=["__measure", on], right_on=["__measure", f"__key_{scope}"],
                               how="left", maintain_order="left")
        picked.append(scope)
    ids = [pl.col(f"__id_{s}") for s in picked]
    frame = frame.with_columns(
        pl.coalesce(ids).alias(f"{prefix}_id"),
        pl.when(pl.col("__id_indicator").is_not_null()).then(pl.col("__min_indicator"))
        .when(pl.col("__id_category").is_not_null()).then(pl.col("__min_category"))
        .otherwise(pl.col("__min_any")).alias(f"{prefix}_min"),
        pl.when(pl.col("__id_indicator").is_not_null()).then(pl.col("__max_indicator"))
        .when(pl.col("__id_category").is_not_null()).then(pl.col("__max_category"))
        .otherwise(pl.col("__max_any")).alias(f"{prefix}_max"),
    )
    return frame.drop([c for c in frame.columns if c.startswith("__")])
