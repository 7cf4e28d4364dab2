"""tiles → measures: the measure, signed value, unit, qualifier and benchmark of each number.

``assign_measures(tiles)`` runs once subjects are bound (transforms.subjects). The measure
comes from the cue and the unit: 增长 X% → yoy_pct, 高于全市 X 个百分点 → diff_pp,
占全市比重 X% → share_pct, 第N → rank, amounts → level, or target when the sentence so far
states a plan (力争, 预计, 到2027年); a number that compares periods or subjects (比一季度,
差距) is no fact (null measure).
"""
from __future__ import annotations

import re
from functools import lru_cache

import polars as pl

from transforms.distinct import on_distinct
from transforms.mentions import cue_words
from transforms.observations import POSTPOSED_RATE
from transforms.periods import compared_period_pattern
from transforms.runs import on_runs
from transforms.subjects import BENCHMARK_IN_BRACKETS

_MARGIN = r"(?:差距|相差|差额)[^,，;；。]*$|以(?:近|约|超过|超|逾)?$"
# what assign_measures reads in a lead, computed once per distinct lead (_lead_marks)
_LEAD_MARKS = ["_not_comparison", "_against_same_period", "_many_clauses", "_basis_at_end", "_names_last_year",
               "_bracketed_benchmark"]


@lru_cache(maxsize=1)
def _target_regex() -> str:
    words = cue_words()["target"]
    # 到2027年 and 至2027年 name a plan's horizon; 截至2024年底 is an as-of date, not a plan
    return "(?:" + "|".join(re.escape(w) for w in words) + r"|到20[0-9]{2}年|(?:^|[^截])至20[0-9]{2}年)"


@lru_cache(maxsize=1)
def _not_a_comparison_regex() -> str:
    words = cue_words()["period_change"] + cue_words()["contribution"]
    return "(?:" + "|".join(re.escape(w) for w in words) + "|" + compared_period_pattern() + ")"


def _lead_marks(leads: pl.DataFrame) -> pl.DataFrame:
    lead = pl.col("lead")
    yoy_basis = "|".join(re.escape(w) for w in cue_words()["yoy_basis"])
    # read in the number's own clause: "受出口增长拉动，宁德出口增长71.6%" is a growth rate
    clause = lead.str.extract(r"([^,，;；。]*)$", 1)
    return leads.with_columns(
        # "以百亿元领先", "差距扩大到200亿元": a margin between two subjects, not either's level
        (clause.str.contains(_not_a_comparison_regex()) | lead.str.contains(_MARGIN)).alias("_not_comparison"),
        clause.str.contains(r"(?:较|比)(?:上年|去年)?同期").alias("_against_same_period"),
        lead.str.contains(r"[,，;；。]").alias("_many_clauses"),
        lead.str.contains(f"(?:{yoy_basis})$").alias("_basis_at_end"),
        lead.str.contains("同比|上年|去年").alias("_names_last_year"),
        lead.str.contains(BENCHMARK_IN_BRACKETS).alias("_bracketed_benchmark"),
    )


def _in_plan(tiles: pl.DataFrame) -> pl.DataFrame:
    """``in_plan``: the sentence up to the number states a plan. Only a sentence that states
    one anywhere can (the pattern has no end anchor), so only those are cut and read again."""
    plans = on_distinct(tiles, ["sentence"], lambda sentences: sentences.with_columns(
        pl.col("sentence").str.contains(_target_regex()).alias("in_plan")))
    so_far = pl.col("sentence").str.head(pl.col("tile_end")).str.contains(_target_regex())
    return on_runs(plans, pl.col("in_plan"), lambda part: part.select(so_far.alias("in_plan")),
                   reads=["sentence", "tile_end"])


def assign_measures(tiles: pl.DataFrame) -> pl.DataFrame:
    """Measure, signed value, unit and qualifier of each number tile (null measure: not a fact)."""
    tiles = _in_plan(on_distinct(tiles, ["lead"], _lead_marks))
    kind = pl.col("kind")
    down = pl.col("yoy_dir").is_in(cue_words()["yoy_down"])
    diff_down = pl.col("diff").str.contains("^(?:" + "|".join(cue_words()["diff_down"]) + ")|[低慢]$")
    # "比2019年1-7月增长20.5%", "比一季度提高": growth against another period, not on the year
    previous = pl.col("previous_period_phrase").fill_null("")
    against_a_period = previous.str.contains("^(?:比|较)") & ~previous.str.contains("上年|去年|上一年") \
        & ~pl.col("_many_clauses")
    # points gained on the same period last year (占比…较同期提高1.99个百分点) change a share, not a gap
    share_change = (kind == "pp") & pl.col("_against_same_period")
    not_comparison = pl.col("_not_comparison") | share_change | against_a_period
    has_yoy = pl.col("yoy_dir").is_not_null()
    is_rank_cue = pl.col("rank_verb").is_not_null() | (pl.col("rank_bench").fill_null("").str.len_chars() > 0)
    base = (
        pl.when(pl.col("is_class_word")).then(None)
        .when(kind == "rank").then(pl.when(is_rank_cue).then(pl.lit("rank")))
        .when(not_comparison).then(None)
        .when((kind == "pp") & pl.col("diff").is_not_null()).then(pl.lit("diff_pp"))
        # 同比持平 / 与上年持平: no change on the year is a growth rate of 0, not a gap
        .when((kind == "level_off") & pl.col("_basis_at_end")).then(pl.lit("yoy_pct"))
        .when((kind == "level_off") & pl.col("parity").is_not_null()).then(pl.lit("diff_pp"))
        .when(kind == "level_off").then(pl.when(pl.col("_names_last_year")).then(pl.lit("yoy_pct")))
        .when((kind == "percent") & pl.col("share").is_not_null()).then(pl.lit("share_pct"))
        .when((kind == "percent") & pl.col("avg2y").is_not_null()).then(pl.lit("yoy_pct_2y_avg"))
        .when(kind.is_in(["percent", "multiple"]) & has_yoy).then(pl.lit("yoy_pct"))
        # "泉州2.5%的增速", "高于全省平均水平（4.6%）": a rate named after its number, or a
        # benchmark's own rate in brackets after it
        .when((kind == "percent") & pl.col("next_lead").fill_null("").str.contains(POSTPOSED_RATE))
        .then(pl.lit("yoy_pct"))
        .when((kind == "percent") & pl.col("_bracketed_benchmark")).then(pl.lit("yoy_pct"))
        .when(kind == "multiple_special").then(pl.lit("yoy_pct"))
        .when(kind.is_in(["money", "count", "bare_scaled"]) & ~has_yoy & pl.col("diff").is_null()).then(pl.lit("level"))
    )
    tiles = tiles.with_columns(base.alias("_base")).drop(_LEAD_MARKS)
    base, in_plan = pl.col("_base"), pl.col("in_plan")
    tiles = tiles.with_columns(
        pl.when(in_plan & base.is_in(["level", "yoy_pct"])).then(pl.lit("target")).otherwise(base).alias("measure"))
    measure = pl.col("measure")
    sign = pl.when((measure == "yoy_pct") & down | (measure == "diff_pp") & diff_down).then(-1.0).otherwise(1.0)
    unit = (
        pl.when(base.is_in(["yoy_pct", "share_pct", "yoy_pct_2y_avg"])).then(pl.lit("percent"))
        .when(base == "diff_pp").then(pl.lit("pp"))
        .when(base == "rank").then(pl.lit("rank"))
        .otherwise(pl.col("unit").fill_null("count"))
    )
    qpre = pl.col("qpre")
    qualifier = (
        pl.when(qpre.is_in(cue_words()["at_least"])).then(pl.lit("at_least"))
        .when(qpre.is_in(cue_words()["about"])).then(pl.lit("about"))
        .when(qpre.is_in(cue_words()["at_most"])).then(pl.lit("at_most"))
        .when(pl.col("suffix_qualifier").is_not_null()).then(pl.col("suffix_qualifier"))
        .otherwise(pl.lit("exact"))
    )
    benchmark = (
        pl.when(measure == "diff_pp").then(pl.coalesce("benchmark_cue", "benchmark_parity"))
        .when(measure == "share_pct").then(pl.col("benchmark_cue"))
        .when(measure == "rank").then(pl.col("benchmark_rank"))
    )
    return tiles.with_columns(
        (pl.col("value") * sign).alias("value"), unit.alias("unit"),
        qualifier.alias("qualifier"), benchmark.alias("benchmark"),
    ).drop("_base")
