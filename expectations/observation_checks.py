"""The ``observations`` suite: checks on a batch's staged observations, before the load.

Error failures move the row to quarantine (reason = the first error check it fails); warning
failures are listed in its ``dq_flags``. Each check is one declaration in ``CHECKS``; the
frame they read is ``prepare_observations``: the rows plus what the vocabulary and
``expectations/ranges.csv`` say about them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl

from expectations.declarations import Check, Part, Suite, at_least, between, fill, in_set, not_null, param, plain
from expectations.engine import validate
from expectations.ranges import IMPLIED_BENCHMARK, load_ranges, range_name, resolve
from expectations.results import ERROR, WARNING, ExpectationResult
from transforms.extract import OBSERVATION_SCHEMA

OBSERVATIONS = "observations"
MONEY_UNITS = ("CNY", "USD", "HKD")
LEVEL_MEASURES = ("level", "target")
PERCENT_MEASURES = ("yoy_pct", "share_pct", "yoy_pct_2y_avg")
IMPLIED_BENCHMARK_CHECK = "diff_pp_implied_benchmark_plausible"

CLEAN_SCHEMA = {**OBSERVATION_SCHEMA, "dq_flags": pl.List(pl.String)}
QUARANTINE_SCHEMA = {"stage": pl.String, "path": pl.String, "document_id": pl.String,
                     "reason": pl.String, "detail": pl.String, "payload": pl.Binary}
_NATURAL_KEY = ("document_id", "entity", "year", "start_month", "end_month", "indicator", "segment", "measure",
                "value", "benchmark", "qualifier")
_STATEMENT = ["document_id", "entity", "year", "start_month", "end_month", "indicator", "segment"]


def outside_column(measure: str) -> str:
    """Column of the observations frame: how far a value of ``measure`` lies outside its own range
    row (0 inside; value − max above, value − min below; null for other measures).

    Each row carries its own bounds, so one GX expectation checks every range row of a measure;
    scoping by column rather than by GX ``row_condition`` keeps validation fast: GX re-filters
    the frame with ``DataFrame.query`` for every metric of a conditioned expectation."""
    return f"{measure}__outside"


def _outside(value: pl.Expr, lo: pl.Expr, hi: pl.Expr) -> pl.Expr:
    # a null value stays null: GX skips it, as it skipped the value itself
    return (pl.when(value > hi).then(value - hi).when(value < lo).then(value - lo)
            .when(value.is_not_null()).then(pl.lit(0.0)))


def range_check(measure: str, severity: str) -> Check:
    """The range rows of ``measure`` in ranges.csv: one GX expectation, one stable name per row."""
    column = outside_column(measure)
    rows = load_ranges().filter(pl.col("measure") == measure).iter_rows(named=True)
    return Check(
        f"{measure}_ranges", severity,
        f"{measure} within the plausible range of its indicator / category (expectations/ranges.csv): "
        f"{column} is how far outside it the value lies",
        expect=(between(column, 0, 0),),
        derive={column: pl.when((pl.col("measure") == measure) & pl.col("range_id").is_not_null())
                .then(_outside(pl.col("value"), pl.col("range_min"), pl.col("range_max")))},
        detail="{what} = {value} outside plausible [{range_min}, {range_max}] ({range_id})",
        split="range_check",
        parts=tuple(Part(range_name(measure, r["key"]),
                         f"{measure} of {'any indicator' if r['scope'] == 'any' else r['scope'] + ' ' + r['key']} "
                         f"within [{r['min']:g}, {r['max']:g}] (expectations/ranges.csv)") for r in rows))


_LEVEL = pl.col("measure").is_in(list(LEVEL_MEASURES))

CHECKS = (
    Check("indicator_in_vocabulary", ERROR, "indicator is a code of transforms/vocab/indicators.csv",
          expect=(not_null("indicator"), in_set("indicator", param("indicator_codes"))),
          detail="indicator {indicator!r} is not in the vocabulary"),
    Check("entity_resolved", ERROR, "entity is set and is a vocabulary entity or one registered by the batch",
          expect=(not_null("entity"), in_set("entity", param("entity_names"))),
          detail="entity {entity!r} is missing or not registered"),
    Check("month_range_valid", ERROR, "1 ≤ start_month ≤ end_month ≤ 12",
          expect=(between("start_month", 1, 12), between("end_month", 1, 12), at_least("end_month", "start_month")),
          detail="{what}: months {start_month}–{end_month} are not 1 ≤ start ≤ end ≤ 12"),
    range_check("yoy_pct", ERROR),
    range_check("yoy_pct_2y_avg", WARNING),
    range_check("share_pct", ERROR),
    Check("money_level_positive", ERROR, "money levels and targets are > 0",
          expect=(between("money_level", 0, None, strict_min=True),),
          derive={"money_level": pl.when(_LEVEL & pl.col("unit").is_in(list(MONEY_UNITS))).then(pl.col("value"))},
          detail="{what} = {value} {unit} is not > 0"),
    range_check("diff_pp", WARNING),
    Check("year_resolved", WARNING, "the observation's year could be resolved",
          expect=(not_null("year"),), detail="{what}: year could not be resolved"),
    Check("unit_consistent", WARNING,
          "unit fits the indicator's unit_kind (money levels / targets: CNY/USD/HKD, a growth target may be "
          "percent; count: count) and the measure (percent for yoy / share, pp for diff_pp)",
          expect=(in_set("unit_of_money_level", list(MONEY_UNITS)), in_set("unit_of_count_level", ["count"]),
                  in_set("unit_of_percent_measure", ["percent"]), in_set("unit_of_diff_pp", ["pp"])),
          derive={
              "unit_of_money_level": pl.when(_LEVEL & (pl.col("unit_kind") == "money")
                                             & ~((pl.col("measure") == "target") & (pl.col("unit") == "percent")))
              .then(pl.col("unit")),    # a growth target is a percent
              "unit_of_count_level": pl.when(_LEVEL & (pl.col("unit_kind") == "count")).then(pl.col("unit")),
              "unit_of_percent_measure": pl.when(pl.col("measure").is_in(list(PERCENT_MEASURES))).then(pl.col("unit")),
              "unit_of_diff_pp": pl.when(pl.col("measure") == "diff_pp").then(pl.col("unit")),
          },
          detail="{what}: unit {unit!r} does not fit a {unit_kind} indicator / this measure"),
    Check(IMPLIED_BENCHMARK_CHECK, WARNING,
          "the benchmark growth a diff_pp implies (yoy_pct of the same statement minus diff_pp) is plausible for a "
          "city / province (implied_benchmark_yoy_pct rows of expectations/ranges.csv)",
          expect=(between(outside_column(IMPLIED_BENCHMARK), 0, 0),),
          derive={outside_column(IMPLIED_BENCHMARK): pl.when(pl.col("benchmark_range_id").is_not_null()).then(
                      _outside(pl.col("implied_benchmark_yoy_pct"), pl.col("benchmark_range_min"),
                               pl.col("benchmark_range_max"))),
                  "benchmark_named": pl.col("benchmark").fill_null("the benchmark")},
          detail="{what}: yoy {zone_yoy_pct}% − diff {value} pp implies {benchmark_named} grew "
                 "{implied_benchmark_yoy_pct}%, outside plausible [{benchmark_range_min}, {benchmark_range_max}]"),
)

SUITE = Suite(OBSERVATIONS, OBSERVATIONS, CHECKS, index=("document_id", "range_check", "evidence"), sample={
    "document": "document_id", "entity": "entity", "period": "period_label", "indicator": "indicator",
    "segment": "segment", "measure": "measure", "value": "value", "unit": "unit", "benchmark": "benchmark",
    "evidence": "evidence"})


@dataclass
class ObservationValidation:
    clean: pl.DataFrame               # CLEAN_SCHEMA: OBSERVATION_SCHEMA + dq_flags (warning names)
    quarantined: pl.DataFrame         # QUARANTINE_SCHEMA, stage 'validation'
    results: list[ExpectationResult]

    @property
    def expectations_failed(self) -> list[str]:
        return [r.expectation for r in self.results if not r.success]


def _indicators_of(vocabulary) -> pl.DataFrame:
    indicators = getattr(vocabulary, "indicators", vocabulary)
    if not isinstance(indicators, pl.DataFrame) or "code" not in indicators.columns:
        raise TypeError("vocabulary must be a transforms.vocabulary.Vocabulary or its indicators frame")
    return indicators


def prepare_observations(observations: pl.DataFrame, vocabulary) -> pl.DataFrame:
    """The frame the observations suite validates: the rows (OBSERVATION_SCHEMA) plus row_id, key,
    unit_kind and category from the vocabulary, the resolved range and its stable name
    (range_check), the implied benchmark growth and its range, and ``what`` (a row's label in details)."""
    base = observations.select(list(OBSERVATION_SCHEMA)).cast(OBSERVATION_SCHEMA)
    base = base.with_row_index("row_id").with_columns(pl.col("row_id").cast(pl.Int64))
    key = pl.concat_str([pl.col(c).cast(pl.String).fill_null("∅") for c in _NATURAL_KEY], separator="|")
    indicators = _indicators_of(vocabulary).select(
        pl.col("code").alias("indicator"), pl.col("unit_kind"), pl.col("category")).unique("indicator")
    frame = base.with_columns(key.alias("key")).join(indicators, on="indicator", how="left", maintain_order="left")
    ranges = load_ranges()
    frame = resolve(frame, ranges, pl.col("measure"), "range")
    zone = (frame.filter(pl.col("measure") == "yoy_pct")
            .group_by(_STATEMENT, maintain_order=True)
            .agg(pl.col("value").first().alias("zone_yoy_pct")))
    frame = frame.join(zone, on=_STATEMENT, how="left", nulls_equal=True, maintain_order="left")
    implied = pl.when(pl.col("measure") == "diff_pp").then(pl.col("zone_yoy_pct") - pl.col("value"))
    frame = frame.with_columns(implied.alias("implied_benchmark_yoy_pct"))
    frame = resolve(frame, ranges, IMPLIED_BENCHMARK, "benchmark_range").with_columns(
        pl.when(pl.col("implied_benchmark_yoy_pct").is_not_null()).then(pl.col(c)).alias(c)
        for c in ("benchmark_range_id", "benchmark_range_min", "benchmark_range_max"))
    check_of_range = {r["range_id"]: range_name(r["measure"], r["key"]) for r in ranges.iter_rows(named=True)}
    segment = pl.when(pl.col("segment").is_not_null()).then("[" + pl.col("segment") + "]").otherwise(pl.lit(""))
    what = pl.concat_str([pl.col("entity").fill_null("null"), pl.lit(" "), pl.col("period_label").fill_null("?"),
                          pl.lit(" "), pl.col("indicator").fill_null("null"), segment, pl.lit(" "),
                          pl.col("measure").fill_null("null")])
    return frame.with_columns(
        pl.col("range_id").replace_strict(check_of_range, default=None, return_dtype=pl.String).alias("range_check"),
        what.alias("what")).sort("row_id")


def observation_parameters(frame: pl.DataFrame, vocabulary, entities: pl.DataFrame | None) -> dict[str, list[str]]:
    """The suite's parameters: the vocabulary's indicator codes, and the entity names known to it or
    registered by the batch (``entities``; without it, every entity the rows name counts as registered)."""
    names = set(frame.get_column("entity").drop_nulls().to_list()) if entities is None else set()
    vocab_entities = getattr(vocabulary, "entities", None)
    if isinstance(vocab_entities, pl.DataFrame) and "name" in vocab_entities.columns:
        names |= set(vocab_entities.get_column("name").drop_nulls().to_list())
    if entities is not None and "name" in entities.columns:
        names |= set(entities.get_column("name").drop_nulls().to_list())
    return {"indicator_codes": sorted(_indicators_of(vocabulary).get_column("code").to_list()),
            "entity_names": sorted(names)}


def validate_observations(observations: pl.DataFrame, vocabulary, entities: pl.DataFrame | None = None,
                          ) -> ObservationValidation:
    """Validate one batch of observations (OBSERVATION_SCHEMA) against the ``observations`` suite.

    ``vocabulary``: a ``transforms.vocabulary.Vocabulary`` (or its indicators frame).
    ``entities``: the batch's registered entities (``Extraction.entities``); an entity is known
    when it is in the vocabulary or there. Without it, every named entity counts as registered.
    Returns clean rows (+ ``dq_flags``), quarantined rows (reason = first failed error
    expectation) and one ``ExpectationResult`` per stable name.
    """
    frame = prepare_observations(observations, vocabulary)
    checked = validate(SUITE, frame, observation_parameters(frame, vocabulary, entities))
    errors: dict[int, list[str]] = {}
    warnings: dict[int, list[str]] = {}
    for result in checked.results:
        target = errors if result.severity == ERROR else warnings
        for row_id in checked.failing.get(result.expectation, ()):
            target.setdefault(row_id, []).append(result.expectation)
    flagged = pl.DataFrame([(row_id, name) for row_id, names in warnings.items() for name in names],
                           schema={"row_id": pl.Int64, "dq_flag": pl.String}, orient="row")
    flags = flagged.group_by("row_id", maintain_order=True).agg(pl.col("dq_flag").alias("dq_flags"))
    rejected = sorted(errors)
    clean = (frame.select(["row_id", *OBSERVATION_SCHEMA]).filter(~pl.col("row_id").is_in(rejected))
             .join(flags, on="row_id", how="left", maintain_order="left")
             .with_columns(pl.col("dq_flags").fill_null(pl.lit([], dtype=pl.List(pl.String))))
             .drop("row_id").cast(CLEAN_SCHEMA))
    quarantine_rows = []
    by_id = {row["row_id"]: row for row in checked.frame.filter(pl.col("row_id").is_in(rejected)).iter_rows(named=True)}
    for row_id in rejected:
        row = by_id[row_id]
        names_failed = errors[row_id]
        record = plain({c: row[c] for c in OBSERVATION_SCHEMA})
        record["dq_flags"] = warnings.get(row_id, [])
        record["failed"] = names_failed
        quarantine_rows.append({
            "stage": "validation", "path": None, "document_id": row["document_id"], "reason": names_failed[0],
            "detail": "; ".join(f"{n}: {fill(SUITE.check_of(n).detail, row, n)}" for n in names_failed)[:2000],
            "payload": json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8"),
        })
    quarantined = pl.DataFrame(quarantine_rows, schema=QUARANTINE_SCHEMA)
    return ObservationValidation(clean=clean, quarantined=quarantined, results=checked.results)
