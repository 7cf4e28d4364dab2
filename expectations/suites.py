"""Great Expectations suites, built in code and versioned with the repo.

Three suites, each expectation tagged ``meta={"name": <stable name>, "severity": "error"|"warning"}``:

* ``observations`` — a batch's staged observations (``validate_observations``). Error
  failures move the row to quarantine; warning failures are listed in its ``dq_flags``.
* ``documents`` — a batch's parsed documents and their digit-loss defects
  (``validate_documents``). All warnings: documents are filtered at ingest already.
* ``warehouse`` — query results of the loaded warehouse (``validate_warehouse``):
  key integrity (error), cross-document conflicts, internal consistency and extraction
  coverage (warning).

A stable name may stand for several GX expectations (e.g. ``month_range_valid`` is
three); its result fails when any of them fails. GX only has a pandas datasource
here, so every check validates a pandas frame (``polars.to_pandas()``) with
``result_format=COMPLETE`` and a ``row_id`` index column, which is how failing rows
are told apart. GX is imported on first use (it takes seconds), and the context and
suites are built once per process.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import math
import re
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from expectations.gx_import import import_gx
from expectations.ranges import IMPLIED_BENCHMARK, RANGE_MEASURES, load_ranges, range_name, resolve
from expectations.results import ERROR, SAMPLE_SIZE, WARNING, ExpectationResult, fingerprint, merge_results
from expectations.thresholds import CoverageThresholds
from transforms.extract import OBSERVATION_SCHEMA

OBSERVATIONS = "observations"
DOCUMENTS = "documents"
WAREHOUSE = "warehouse"

MONEY_UNITS = ("CNY", "USD", "HKD")
LEVEL_MEASURES = ("level", "target")
PERCENT_MEASURES = ("yoy_pct", "share_pct", "yoy_pct_2y_avg")
RANGE_SEVERITY = {"yoy_pct": ERROR, "share_pct": ERROR, "yoy_pct_2y_avg": WARNING, "diff_pp": WARNING}
IMPLIED_BENCHMARK_CHECK = "diff_pp_implied_benchmark_plausible"
LOST_DIGITS_PER_1000_CHARS = 2.0      # defects (numbers whose digits were lost) per 1000 characters
PARTS_TOLERANCE = 0.02                # parts vs total, relative
DIFF_PP_TOLERANCE = 0.15              # zone yoy − benchmark yoy vs stated diff_pp, in pp
CONFLICT_SAMPLE_GROUPS = 3
COVERAGE_CHECK = "extraction_coverage_above_threshold"

CLEAN_SCHEMA = {**OBSERVATION_SCHEMA, "dq_flags": pl.List(pl.String)}
QUARANTINE_SCHEMA = {"stage": pl.String, "path": pl.String, "document_id": pl.String,
                     "reason": pl.String, "detail": pl.String, "payload": pl.Binary}
_NATURAL_KEY = ("document_id", "entity", "year", "start_month", "end_month", "indicator", "segment", "measure",
                "value", "benchmark", "qualifier")
_STATEMENT = ["document_id", "entity", "year", "start_month", "end_month", "indicator", "segment"]
_GX_TRIM = 20                         # unexpected rows kept per GX result for Data Docs
_GX_KWARG_LIST = 30                   # longest value_set kept in a GX result for Data Docs


class ExpectationError(RuntimeError):
    """An expectation could not be evaluated (a bug in a suite, not bad data)."""


@dataclass(frozen=True)
class Check:
    """One stable name: a severity, a human description and the GX expectations behind it.

    Checks of one family (the range rows of a measure) share one GX expectation instead of one
    each: GX's cost is mostly per expectation, not per row. Such a check names the shared one
    (``shared``, reported=False) and reads its failing rows where column ``subset[0]`` equals
    ``subset[1]``."""
    name: str
    severity: str
    description: str
    expectations: tuple[Any, ...] = ()
    shared: str | None = None
    subset: tuple[str, str] | None = None
    reported: bool = True


@dataclass
class ObservationValidation:
    clean: pl.DataFrame               # CLEAN_SCHEMA: OBSERVATION_SCHEMA + dq_flags (warning names)
    quarantined: pl.DataFrame         # QUARANTINE_SCHEMA, stage 'validation'
    results: list[ExpectationResult]

    @property
    def expectations_failed(self) -> list[str]:
        return [r.expectation for r in self.results if not r.success]


# --------------------------------------------------------------------------- GX plumbing

_LOCK = threading.RLock()


def _gx() -> tuple[Any, Any]:
    """(ephemeral context, whole-dataframe batch definition), once per process."""
    with _LOCK:
        if not _CONTEXT:
            _CONTEXT.append(_make_context())
        return _CONTEXT[0]


_CONTEXT: list[tuple[Any, Any]] = []


def _make_context() -> tuple[Any, Any]:
    gx = import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX logs a temporary docs folder at INFO on every context it makes (its module sets
    # its own logger to INFO at import, so the parent's level is not enough)
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (context.data_sources.add_pandas("zonefacts").add_dataframe_asset("frame")
                        .add_batch_definition_whole_dataframe("whole"))
    return context, batch_definition


def warm_up() -> None:
    """Import GX and build its context ahead of the first validation (it takes ~10 s);
    the CLI calls this in a thread while Prefect's temporary server starts."""
    with _LOCK:
        _gx()
        for name in _BUILDERS:
            _suite(name)


def _between(column: str, lo: float | None, hi: float | None, **kw):
    import great_expectations.expectations as gxe
    return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=lo, max_value=hi, **kw)


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


def _observation_checks() -> list[Check]:
    import great_expectations.expectations as gxe

    ranges = load_ranges()
    checks = [
        Check("indicator_in_vocabulary", ERROR, "indicator is a code of transforms/vocab/indicators.csv", (
            gxe.ExpectColumnValuesToNotBeNull(column="indicator"),
            gxe.ExpectColumnValuesToBeInSet(column="indicator", value_set={"$PARAMETER": "indicator_codes"}),
        )),
        Check("entity_resolved", ERROR, "entity is set and is a vocabulary entity or one registered by the batch", (
            gxe.ExpectColumnValuesToNotBeNull(column="entity"),
            gxe.ExpectColumnValuesToBeInSet(column="entity", value_set={"$PARAMETER": "entity_names"}),
        )),
        Check("month_range_valid", ERROR, "1 ≤ start_month ≤ end_month ≤ 12", (
            _between("start_month", 1, 12),
            _between("end_month", 1, 12),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="end_month", column_B="start_month", or_equal=True,
                                                        ignore_row_if="either_value_is_missing"),
        )),
    ]
    for measure in RANGE_MEASURES:
        family = f"{measure}_ranges"
        checks.append(Check(
            family, RANGE_SEVERITY[measure],
            f"{measure} within the plausible range of its indicator / category (expectations/ranges.csv): "
            f"{outside_column(measure)} is how far outside it the value lies",
            (_between(outside_column(measure), 0, 0),), reported=False))
        for r in ranges.filter(pl.col("measure") == measure).iter_rows(named=True):
            where = "any indicator" if r["scope"] == "any" else f"{r['scope']} {r['key']}"
            checks.append(Check(
                range_name(measure, r["key"]), RANGE_SEVERITY[measure],
                f"{measure} of {where} within [{r['min']:g}, {r['max']:g}] (expectations/ranges.csv)",
                shared=family, subset=("range_check", range_name(measure, r["key"])),
            ))
        if measure == "share_pct":
            checks.append(Check("money_level_positive", ERROR, "money levels and targets are > 0", (
                _between("money_level", 0, None, strict_min=True),
            )))
    checks += [
        Check("year_resolved", WARNING, "the observation's year could be resolved", (
            gxe.ExpectColumnValuesToNotBeNull(column="year"),
        )),
        Check("unit_consistent", WARNING,
              "unit fits the indicator's unit_kind (money levels / targets: CNY/USD/HKD, a growth target may be "
              "percent; count: count) and the measure (percent for yoy / share, pp for diff_pp)", (
                  gxe.ExpectColumnValuesToBeInSet(column="unit_of_money_level", value_set=list(MONEY_UNITS)),
                  gxe.ExpectColumnValuesToBeInSet(column="unit_of_count_level", value_set=["count"]),
                  gxe.ExpectColumnValuesToBeInSet(column="unit_of_percent_measure", value_set=["percent"]),
                  gxe.ExpectColumnValuesToBeInSet(column="unit_of_diff_pp", value_set=["pp"]),
              )),
    ]
    checks.append(Check(
        IMPLIED_BENCHMARK_CHECK, WARNING,
        "the benchmark growth a diff_pp implies (yoy_pct of the same statement minus diff_pp) is plausible for a "
        "city / province (implied_benchmark_yoy_pct rows of expectations/ranges.csv)",
        (_between(outside_column(IMPLIED_BENCHMARK), 0, 0),),
    ))
    return checks


def _document_checks() -> list[Check]:
    return [
        Check("text_has_no_replacement_chars", WARNING, "text has no U+FFFD replacement characters",
              (_between("replacement_chars", 0, 0),)),
        Check("text_not_empty", WARNING, "text is not empty once whitespace is removed",
              (_between("clean_chars", 1, None),)),
        Check("lost_digit_rate_below_threshold", WARNING,
              f"at most {LOST_DIGITS_PER_1000_CHARS:g} numbers with lost digits per 1000 characters",
              (_between("defects_per_1000_chars", 0, LOST_DIGITS_PER_1000_CHARS),)),
        Check("text_not_duplicate", WARNING, "no other document of the batch has exactly the same text",
              (_between("same_text_documents", 0, 0),)),
    ]


def _warehouse_fact_checks() -> list[Check]:
    import great_expectations.expectations as gxe
    fk = [("document", "fk_document_resolves", "documents"), ("entity", "fk_entity_resolves", "dim_entity"),
          ("period", "fk_period_resolves", "dim_period"), ("indicator", "fk_indicator_resolves", "dim_indicator")]
    checks = [Check("observation_id_unique", ERROR, "observation_id is unique in fact_observation",
                    (gxe.ExpectColumnValuesToBeUnique(column="observation_id"),))]
    for column, name, table in fk:
        checks.append(Check(name, ERROR, f"every fact_observation row finds its {table} row",
                            (gxe.ExpectColumnValuesToNotBeNull(column=column),)))
    checks += [
        Check("fk_benchmark_resolves", ERROR, "benchmark_entity_id, when set, finds its dim_entity row",
              (gxe.ExpectColumnValuesToNotBeNull(column="benchmark_if_set"),)),
        Check("observations_agree_across_documents", WARNING,
              "no other document states a different exact value for the same entity, period, indicator, "
              "measure, segment, benchmark and unit", (_between("conflicting_values", 0, 0),)),
    ]
    return checks


def _warehouse_document_checks() -> list[Check]:
    defaults = CoverageThresholds()
    return [
        Check("document_text_unique", WARNING,
              "no two loaded documents (different sha256 / path) have exactly the same text",
              (_between("same_text_documents", 0, 0),)),
        # the share threshold is a suite parameter, so the suite built once per process serves any setting
        Check(COVERAGE_CHECK, WARNING,
              f"a document with at least ZONEFACTS_COVERAGE_MIN_CUE_NUMBERS (default {defaults.min_cue_numbers}) "
              f"numbers with cues yields at least ZONEFACTS_COVERAGE_MIN_SHARE (default {defaults.min_share:g}) "
              "facts per cue number (view extraction_coverage): below it the extractor cannot read the document",
              (_between("coverage_share", {"$PARAMETER": "coverage_min_share"}, None),)),
    ]


def _warehouse_consistency_checks() -> list[Check]:
    return [
        Check("trade_parts_sum_to_total", WARNING,
              f"exports + imports = foreign_trade (levels, same entity / period / unit) within "
              f"{PARTS_TOLERANCE:.0%}", (_between("gap_trade", 0, PARTS_TOLERANCE),)),
        Check("gdp_parts_sum_to_total", WARNING,
              f"value_added_primary + secondary + tertiary = gdp (levels) within {PARTS_TOLERANCE:.0%}",
              (_between("gap_gdp", 0, PARTS_TOLERANCE),)),
        Check("diff_pp_matches_benchmark_growth", WARNING,
              f"zone yoy − benchmark yoy = stated diff_pp within {DIFF_PP_TOLERANCE} pp when the benchmark's "
              "yoy for that indicator and period is in the warehouse",
              (_between("gap_diff_pp", 0, DIFF_PP_TOLERANCE),)),
    ]


_BUILDERS: dict[str, Callable[[], list[Check]]] = {
    "observations": _observation_checks,
    "documents": _document_checks,
    "warehouse_facts": _warehouse_fact_checks,
    "warehouse_documents": _warehouse_document_checks,
    "warehouse_consistency": _warehouse_consistency_checks,
}


_SUITES: dict[str, tuple[Any, tuple[Check, ...]]] = {}


def _suite(gx_name: str) -> tuple[Any, tuple[Check, ...]]:
    """The GX suite and its checks, built once per process even when threads race for it."""
    with _LOCK:
        if gx_name not in _SUITES:
            _SUITES[gx_name] = _build_suite(gx_name)
        return _SUITES[gx_name]


def _build_suite(gx_name: str) -> tuple[Any, tuple[Check, ...]]:
    gx = import_gx()

    context, _ = _gx()
    checks = tuple(_BUILDERS[gx_name]())
    suite = gx.ExpectationSuite(name=gx_name)
    for check in checks:
        for expectation in check.expectations:
            expectation.meta = {**(expectation.meta or {}), "name": check.name, "severity": check.severity}
            expectation.description = (f"[{check.severity}] {check.name}: "
                                       f"{expectation.description or check.description}")
            suite.add_expectation(expectation)
    with _LOCK:
        return context.suites.add(suite), checks


def catalog() -> list[dict[str, str]]:
    """Every stable expectation name: suite, name, severity, description (for docs and reports)."""
    out = []
    for gx_name in _BUILDERS:
        label = WAREHOUSE if gx_name.startswith("warehouse") else gx_name
        out += [{"suite": label, "expectation": c.name, "severity": c.severity, "description": c.description}
                for c in _suite(gx_name)[1] if c.reported]
    return out


def _plain(value: Any) -> Any:
    """numpy / pandas scalars → JSON-ready Python values (NaN → None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            return str(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return str(value)


def _trim_gx(result_dict: dict) -> dict:
    """A GX result as JSON, with long row lists cut (it only feeds Data Docs)."""
    d = _plain(result_dict)
    res = d.get("result") or {}
    for key in ("partial_unexpected_list", "unexpected_list", "partial_unexpected_index_list",
                "unexpected_index_list", "partial_unexpected_counts"):
        if isinstance(res.get(key), list):
            res[key] = res[key][:_GX_TRIM]
    if isinstance(res.get("unexpected_index_query"), str) and len(res["unexpected_index_query"]) > 200:
        res["unexpected_index_query"] = res["unexpected_index_query"][:200] + "…"
    kwargs = (d.get("expectation_config") or {}).get("kwargs") or {}
    for key, value in list(kwargs.items()):
        if isinstance(value, list) and len(value) > _GX_KWARG_LIST:
            kwargs[key] = value[:_GX_KWARG_LIST] + [f"… {len(value) - _GX_KWARG_LIST} more"]
    return d


_COLUMN_KWARGS = ("column", "column_A", "column_B")


def _checked_columns(checks: Sequence[Check]) -> list[str]:
    """The columns a suite's expectations read, in order."""
    seen: dict[str, None] = {}
    for check in checks:
        for expectation in check.expectations:
            for kwarg in _COLUMN_KWARGS:
                column = getattr(expectation, kwarg, None)
                if isinstance(column, str):
                    seen[column] = None
    return list(seen)


def _to_gx_frame(frame: pl.DataFrame, columns: Sequence[str]):
    """The pandas frame GX validates: only the checked columns, indexed by row_id.

    With an (unnamed) row_id index and no ``unexpected_index_column_names``, GX returns the
    failing rows as one list of index values; naming index columns makes it look each failing
    row's columns up one at a time (seconds for thousands of failures). Strings go over as
    categoricals: GX hashes and filters the whole frame for every expectation, and codes are
    cheap to hash and take. Integers go over as 64-bit: GX compares int64 and float64 columns
    vectorized, and any other dtype (int32, uint32) one Python call per value."""
    data = frame.select([_for_gx(c, frame.schema[c]) for c in columns]).to_pandas()
    data.index = frame.get_column("row_id").to_numpy()
    return data


def _for_gx(column: str, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        return pl.col(column).cast(pl.Categorical)
    if dtype.is_integer():
        return pl.col(column).cast(pl.Int64)
    return pl.col(column)


def _index_rows(frame: pl.DataFrame, row_ids: list, index_columns: Sequence[str]) -> dict[int, dict]:
    wanted = sorted({int(i) for i in row_ids})
    if not wanted:
        return {}
    rows = frame.filter(pl.col("row_id").is_in(wanted)).select(list(dict.fromkeys(["row_id", *index_columns])))
    return {row["row_id"]: _plain(row) for row in rows.iter_rows(named=True)}


def _for_data_docs(result: dict, frame: pl.DataFrame, index_columns: Sequence[str]) -> dict:
    """A trimmed GX result whose failing-row lists name each row by ``index_columns`` (evidence,
    document, ...) rather than by its bare row_id, as Data Docs show them."""
    res = result.get("result") or {}
    lists = [k for k in ("unexpected_index_list", "partial_unexpected_index_list") if isinstance(res.get(k), list)]
    kwargs = (result.get("expectation_config") or {}).get("kwargs") or {}
    checked = [kwargs[k] for k in _COLUMN_KWARGS if isinstance(kwargs.get(k), str) and kwargs[k] in frame.columns]
    named = _index_rows(frame, [i for k in lists for i in res[k]], [*checked, *index_columns])
    for key in lists:
        res[key] = [named.get(i, {"row_id": i}) for i in res[key]]
    if lists:
        res["unexpected_index_column_names"] = list(dict.fromkeys(["row_id", *index_columns]))
    return result


SampleFn = Callable[[str, pl.DataFrame], list[dict]]


def _evaluate(gx_name: str, label: str, frame: pl.DataFrame, index_columns: Sequence[str],
              sample_fn: SampleFn, parameters: dict | None = None,
              details: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
              ) -> tuple[list[ExpectationResult], dict[str, set[int]]]:
    """Validate ``frame`` (columns row_id, key, ...) with a suite; per stable name: a result and its rows.
    GX sees only the columns its expectations check; the samples and Data Docs see the failing rows
    with every column, and the columns ``details`` adds to them (``index_columns`` name a failing
    row in Data Docs)."""
    suite, checks = _suite(gx_name)
    _, batch_definition = _gx()
    data = _to_gx_frame(frame, _checked_columns(checks))
    with _LOCK:
        validation = batch_definition.get_batch(batch_parameters={"dataframe": data}).validate(
            suite, result_format={"result_format": "COMPLETE"}, expectation_parameters=parameters or {})
    by_name: dict[str, list] = {}
    for r in validation.results:
        info = r.exception_info or {}
        if info.get("raised_exception"):
            raise ExpectationError(f"{gx_name}/{r.expectation_config.meta.get('name')} could not be evaluated: "
                                   f"{info.get('exception_message')}")
        by_name.setdefault(r.expectation_config.meta["name"], []).append(r)
    failing_rows = {name: {int(i) for r in gx_results for i in (r.result.get("unexpected_index_list") or [])}
                    for name, gx_results in by_name.items()}
    failing_ids = sorted(set().union(*failing_rows.values())) if failing_rows else []
    failing_frame = frame.filter(pl.col("row_id").is_in(failing_ids)) if failing_ids else frame.clear()
    if details is not None:
        failing_frame = details(failing_frame)
    results: list[ExpectationResult] = []
    failing: dict[str, set[int]] = {}
    shown: set[str] = set()
    for check in checks:
        if not check.reported:
            continue
        source = check.shared or check.name
        gx_results = by_name.get(source, [])
        rows = failing_rows.get(source, set())
        mine = failing_frame.filter(pl.col("row_id").is_in(sorted(rows))) if rows else failing_frame.clear()
        if check.subset:
            column, value = check.subset
            mine = mine.filter(pl.col(column) == value)
            rows = set(mine.get_column("row_id").to_list())
        success = not rows if check.shared else all(r.success for r in gx_results)
        failed_keys = tuple(sorted({str(k) for k in mine.get_column("key").to_list()}))
        # a GX result shared by a family goes to Data Docs once, with the family's first check
        documented = () if source in shown else tuple(
            _for_data_docs(_trim_gx(r.to_json_dict()), failing_frame, index_columns) for r in gx_results)
        shown.add(source)
        results.append(ExpectationResult(
            suite=label, expectation=check.name, severity=check.severity, success=success,
            unexpected_count=len(rows) if rows or check.shared else sum(int(r.result.get("unexpected_count") or 0)
                                                                        for r in gx_results),
            sample=sample_fn(check.name, mine) if rows else [],
            fingerprint=fingerprint(label, check.name, failed_keys), description=check.description,
            keys=failed_keys, gx_results=documented,
        ))
        failing[check.name] = rows
    return results, failing


# --------------------------------------------------------------------------- observations


def _fmt(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _observation_detail(name: str, row: dict) -> str:
    what = (f"{row.get('entity')} {row.get('period_label') or '?'} {row.get('indicator')}"
            + (f"[{row['segment']}]" if row.get("segment") else "") + f" {row.get('measure')}")
    value = _fmt(row.get("value"))
    if name == IMPLIED_BENCHMARK_CHECK:
        return (f"{what}: yoy {_fmt(row.get('zone_yoy_pct'))}% − diff {value} pp implies "
                f"{row.get('benchmark') or 'the benchmark'} grew {_fmt(row.get('implied_benchmark_yoy_pct'))}%, "
                f"outside plausible [{_fmt(row.get('benchmark_range_min'))}, {_fmt(row.get('benchmark_range_max'))}]")
    if name.startswith(tuple(f"{m}_range" for m in RANGE_MEASURES)):
        return (f"{what} = {value} outside plausible [{_fmt(row.get('range_min'))}, {_fmt(row.get('range_max'))}] "
                f"({row.get('range_id')})")
    if name == "month_range_valid":
        return f"{what}: months {_fmt(row.get('start_month'))}–{_fmt(row.get('end_month'))} are not 1 ≤ start ≤ end ≤ 12"
    if name == "year_resolved":
        return f"{what}: year could not be resolved"
    if name == "money_level_positive":
        return f"{what} = {value} {row.get('unit')} is not > 0"
    if name == "unit_consistent":
        return f"{what}: unit {row.get('unit')!r} does not fit a {row.get('unit_kind')} indicator / this measure"
    if name == "indicator_in_vocabulary":
        return f"indicator {row.get('indicator')!r} is not in the vocabulary"
    if name == "entity_resolved":
        return f"entity {row.get('entity')!r} is missing or not registered"
    return f"{what} = {value}"


def _observation_sample(name: str, failing: pl.DataFrame) -> list[dict]:
    out = []
    for row in failing.head(SAMPLE_SIZE).iter_rows(named=True):
        out.append(_plain({
            "document": row["document_id"], "entity": row["entity"], "period": row["period_label"],
            "indicator": row["indicator"], "segment": row["segment"], "measure": row["measure"],
            "value": row["value"], "unit": row["unit"], "benchmark": row["benchmark"],
            "evidence": row["evidence"], "detail": _observation_detail(name, row),
        }))
    return out


def _indicators_of(vocabulary) -> pl.DataFrame:
    indicators = getattr(vocabulary, "indicators", vocabulary)
    if not isinstance(indicators, pl.DataFrame) or "code" not in indicators.columns:
        raise TypeError("vocabulary must be a transforms.vocabulary.Vocabulary or its indicators frame")
    return indicators


def prepare_observations(observations: pl.DataFrame, vocabulary) -> pl.DataFrame:
    """The frame the observations suite validates: the rows (OBSERVATION_SCHEMA) plus row_id, key,
    unit_kind and category from the vocabulary, the resolved range and the implied benchmark growth."""
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
    level = pl.col("measure").is_in(list(LEVEL_MEASURES))
    check_of_range = {r["range_id"]: range_name(r["measure"], r["key"]) for r in ranges.iter_rows(named=True)}
    scoped = [pl.col("range_id").replace_strict(check_of_range, default=None, return_dtype=pl.String)
              .alias("range_check")]
    scoped += [pl.when((pl.col("measure") == measure) & pl.col("range_id").is_not_null())
              .then(_outside(pl.col("value"), pl.col("range_min"), pl.col("range_max"))).alias(outside_column(measure))
              for measure in RANGE_MEASURES]
    scoped.append(pl.when(pl.col("benchmark_range_id").is_not_null())
                  .then(_outside(pl.col("implied_benchmark_yoy_pct"), pl.col("benchmark_range_min"),
                                 pl.col("benchmark_range_max"))).alias(outside_column(IMPLIED_BENCHMARK)))
    scoped += [
        pl.when(level & pl.col("unit").is_in(list(MONEY_UNITS))).then(pl.col("value")).alias("money_level"),
        pl.when(level & (pl.col("unit_kind") == "money")
                & ~((pl.col("measure") == "target") & (pl.col("unit") == "percent")))   # growth targets
        .then(pl.col("unit")).alias("unit_of_money_level"),
        pl.when(level & (pl.col("unit_kind") == "count")).then(pl.col("unit")).alias("unit_of_count_level"),
        pl.when(pl.col("measure").is_in(list(PERCENT_MEASURES))).then(pl.col("unit")).alias("unit_of_percent_measure"),
        pl.when(pl.col("measure") == "diff_pp").then(pl.col("unit")).alias("unit_of_diff_pp"),
    ]
    return frame.with_columns(scoped).sort("row_id")


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
    codes = _indicators_of(vocabulary).get_column("code").to_list()
    names = set(frame.get_column("entity").drop_nulls().to_list()) if entities is None else set()
    vocab_entities = getattr(vocabulary, "entities", None)
    if isinstance(vocab_entities, pl.DataFrame) and "name" in vocab_entities.columns:
        names |= set(vocab_entities.get_column("name").drop_nulls().to_list())
    if entities is not None and "name" in entities.columns:
        names |= set(entities.get_column("name").drop_nulls().to_list())
    results, failing = _evaluate(
        "observations", OBSERVATIONS, frame, ["document_id", "range_check", "evidence"], _observation_sample,
        {"indicator_codes": sorted(codes), "entity_names": sorted(names)})
    _, checks = _suite("observations")
    errors: dict[int, list[str]] = {}
    warnings: dict[int, list[str]] = {}
    for check in (c for c in checks if c.reported):
        target = errors if check.severity == ERROR else warnings
        for row_id in failing.get(check.name, ()):
            target.setdefault(row_id, []).append(check.name)
    flagged = pl.DataFrame([(row_id, name) for row_id, names in warnings.items() for name in names],
                           schema={"row_id": pl.Int64, "dq_flag": pl.String}, orient="row")
    flags = flagged.group_by("row_id", maintain_order=True).agg(pl.col("dq_flag").alias("dq_flags"))
    rejected = sorted(errors)
    clean = (frame.select(["row_id", *OBSERVATION_SCHEMA]).filter(~pl.col("row_id").is_in(rejected))
             .join(flags, on="row_id", how="left", maintain_order="left")
             .with_columns(pl.col("dq_flags").fill_null(pl.lit([], dtype=pl.List(pl.String))))
             .drop("row_id").cast(CLEAN_SCHEMA))
    quarantine_rows = []
    by_id = {row["row_id"]: row for row in frame.filter(pl.col("row_id").is_in(rejected)).iter_rows(named=True)}
    for row_id in rejected:
        row = by_id[row_id]
        names_failed = errors[row_id]
        record = _plain({c: row[c] for c in OBSERVATION_SCHEMA})
        record["dq_flags"] = warnings.get(row_id, [])
        record["failed"] = names_failed
        quarantine_rows.append({
            "stage": "validation", "path": None, "document_id": row["document_id"], "reason": names_failed[0],
            "detail": "; ".join(f"{n}: {_observation_detail(n, row)}" for n in names_failed)[:2000],
            "payload": json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8"),
        })
    quarantined = pl.DataFrame(quarantine_rows, schema=QUARANTINE_SCHEMA)
    return ObservationValidation(clean=clean, quarantined=quarantined, results=results)


# --------------------------------------------------------------------------- documents


def _snippet(text: str | None, at: int, width: int = 30) -> str:
    if not text:
        return ""
    at = max(at, 0)
    return text[max(at - width, 0): at + width]


def document_stats(documents: pl.DataFrame, defects: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per-document figures the documents suite checks, without the text itself: a run keeps
    these for every document and validates them once, in bounded memory."""
    text_col = "text" if "text" in documents.columns else "raw_text"
    label = pl.coalesce([pl.col(c).cast(pl.String) for c in ("path", "stem", "document_id") if c in documents.columns])
    frame = documents.select(
        pl.col("document_id").cast(pl.String), label.alias("document"),
        (pl.col("sha256").cast(pl.String) if "sha256" in documents.columns else pl.lit(None, pl.String)).alias("sha256"),
        pl.col(text_col).cast(pl.String).fill_null("").alias("text"),
    )
    if defects is not None and defects.height:
        per_doc = defects.group_by("document_id").agg(
            pl.len().alias("defects"),
            pl.col("text").first().alias("defect_example"))
    else:
        per_doc = pl.DataFrame(schema={"document_id": pl.String, "defects": pl.UInt32, "defect_example": pl.String})
    frame = frame.join(per_doc, on="document_id", how="left", maintain_order="left")
    # character offset of the first U+FFFD (str.find counts bytes)
    at = pl.col("text").str.split("\ufffd").list.first().str.len_chars().fill_null(0).cast(pl.Int64)
    return frame.with_columns(
        pl.col("text").str.len_chars().alias("text_chars"),
        pl.col("text").str.count_matches("\ufffd", literal=True).alias("replacement_chars"),
        pl.col("text").str.slice(pl.max_horizontal(at - 30, 0), 60).alias("replacement_snippet"),
        pl.col("text").str.slice(0, 60).alias("text_head"),
        pl.col("text").str.replace_all(r"[\s\u200b-\u200d\u2060\ufeff]", "").str.len_chars().alias("clean_chars"),
        pl.col("defects").fill_null(0).cast(pl.Int64),
        pl.col("text").hash().alias("text_hash"),
    ).with_columns(
        (pl.col("defects") * 1000.0 / pl.max_horizontal(pl.col("text_chars"), 1)).alias("defects_per_1000_chars"),
    ).drop("text")


def prepare_documents(stats: pl.DataFrame) -> pl.DataFrame:
    """Add the duplicate-text columns across all the documents given."""
    frame = stats.with_row_index("row_id").with_columns(pl.col("row_id").cast(pl.Int64),
                                                         pl.col("document_id").alias("key"))
    groups = frame.group_by("text_hash").agg(pl.col("document").alias("same_text"), pl.col("document_id").alias("ids"))
    frame = frame.join(groups, on="text_hash", how="left", maintain_order="left").with_columns(
        pl.col("same_text").list.set_difference(pl.concat_list(pl.col("document"))).list.join(", ").alias("duplicate_of"),
        (pl.col("ids").list.n_unique() - 1).alias("same_text_documents"),
    ).drop("same_text", "ids")
    return frame.sort("row_id")


def _document_sample(name: str, failing: pl.DataFrame) -> list[dict]:
    out = []
    for row in failing.head(SAMPLE_SIZE).iter_rows(named=True):
        if name == "text_has_no_replacement_chars":
            evidence = row["replacement_snippet"]
            detail = f"{row['replacement_chars']} U+FFFD replacement characters"
        elif name == "text_not_empty":
            evidence = row["text_head"][:40]
            detail = "no text left once whitespace is removed"
        elif name == "lost_digit_rate_below_threshold":
            evidence = row["defect_example"] or ""
            detail = (f"{row['defects']} numbers with lost digits in {row['text_chars']} characters "
                      f"({row['defects_per_1000_chars']:.2f} per 1000 > {LOST_DIGITS_PER_1000_CHARS:g})")
        else:
            evidence = row["text_head"]
            detail = f"same text as {row['duplicate_of']}"
        out.append(_plain({"document": row["document"], "document_id": row["document_id"], "evidence": evidence,
                           "detail": detail}))
    return out


def validate_documents(documents: pl.DataFrame, defects: pl.DataFrame | None = None) -> list[ExpectationResult]:
    """Validate one batch of parsed documents (document_id, text, optional path / sha256) and the
    extractor's defects (DEFECT_SCHEMA) against the ``documents`` suite (all warnings)."""
    return validate_document_stats(document_stats(documents, defects))


def validate_document_stats(stats: pl.DataFrame) -> list[ExpectationResult]:
    """The documents suite over ``document_stats`` rows (one run's documents, any number of batches)."""
    frame = prepare_documents(stats)
    gx_frame = frame.drop("text_head", "replacement_snippet")
    results, _ = _evaluate("documents", DOCUMENTS, gx_frame, ["document", "document_id"],
                           lambda name, failing: _document_sample(
                               name, frame.filter(pl.col("row_id").is_in(failing.get_column("row_id")))))
    return results


def validate_extraction(extraction, vocabulary, documents: pl.DataFrame | None = None) -> ObservationValidation:
    """One batch in one call: the observations suite on ``extraction.observations`` (entities
    registered by ``extraction.entities``) plus, when ``documents`` is given, the documents
    suite on them and ``extraction.defects``. ``results`` holds both suites' results."""
    checked = validate_observations(extraction.observations, vocabulary, extraction.entities)
    if documents is not None:
        checked.results = checked.results + validate_documents(documents, extraction.defects)
    return checked


# --------------------------------------------------------------------------- warehouse

# Conflicts are found per statement key and value, not by joining facts with facts: a figure
# restated by a thousand articles is one row of `stated`, so the work stays linear in the facts.
_FACTS_SQL = """
WITH facts AS (
    SELECT f.observation_id, f.document_id, f.value,
           md5(concat_ws('|', f.entity_id, f.period_id, f.indicator_id, f.measure, coalesce(f.segment, ''),
                         coalesce(f.benchmark_entity_id::VARCHAR, ''), f.unit)) AS conflict_key
    FROM fact_observation f JOIN dim_period p ON p.period_id = f.period_id
    WHERE p.year IS NOT NULL AND f.qualifier = 'exact' AND {in_part}
),
contested AS (SELECT conflict_key FROM facts GROUP BY conflict_key HAVING count(DISTINCT value) > 1),
stated AS (  -- one row per contested key and value: the documents stating it (the first five named)
    SELECT f.conflict_key, f.value, count(DISTINCT f.document_id) AS n_documents,
           min(f.document_id) AS first_document_id,
           array_to_string(list_slice(list_sort(list_distinct(list(coalesce(d.stem, f.document_id)))), 1, 5), ', ')
           || CASE WHEN count(DISTINCT f.document_id) > 5
                   THEN format(' and {} more', count(DISTINCT f.document_id) - 5) ELSE '' END AS documents
    FROM facts f SEMI JOIN contested c ON c.conflict_key = f.conflict_key
    LEFT JOIN documents d ON d.document_id = f.document_id
    GROUP BY f.conflict_key, f.value
),
conflicts AS (  -- per fact: the other values of its key that another document states
    SELECT a.observation_id, a.conflict_key, count(*) AS conflicting_values,
           string_agg(s.documents, ', ' ORDER BY s.documents) AS conflicting_documents
    FROM facts a
    JOIN stated s ON s.conflict_key = a.conflict_key
     AND abs(s.value - a.value) > 1e-9 * greatest(abs(a.value), abs(s.value), 1e-9)
     AND NOT (s.n_documents = 1 AND s.first_document_id = a.document_id)
    GROUP BY a.observation_id, a.conflict_key
)
SELECT f.observation_id AS key, f.observation_id, d.stem AS document, e.name AS entity,
       p.label AS period, i.code AS indicator,
       CASE WHEN f.benchmark_entity_id IS NULL THEN '' ELSE b.name END AS benchmark_if_set,
       coalesce(c.conflicting_values, 0)::BIGINT AS conflicting_values, c.conflicting_documents, c.conflict_key
FROM fact_observation f
LEFT JOIN documents d ON d.document_id = f.document_id
LEFT JOIN dim_entity e ON e.entity_id = f.entity_id
LEFT JOIN dim_period p ON p.period_id = f.period_id
LEFT JOIN dim_indicator i ON i.indicator_id = f.indicator_id
LEFT JOIN dim_entity b ON b.entity_id = f.benchmark_entity_id
LEFT JOIN conflicts c ON c.observation_id = f.observation_id
WHERE {in_part}
ORDER BY f.observation_id
"""

# What the samples and Data Docs show of a failing fact besides what the suite checks: read for
# the failing facts only (evidence is most of a fact's bytes).
_FACT_DETAILS_SQL = """
SELECT f.observation_id, f.document_id, f.segment, f.measure, f.value, f.unit, f.qualifier,
       f.benchmark_entity_id, b.name AS benchmark, f.evidence, f.entity_id, f.period_id, f.indicator_id
FROM fact_observation f
SEMI JOIN failing_facts w ON w.observation_id = f.observation_id
LEFT JOIN dim_entity b ON b.entity_id = f.benchmark_entity_id
"""

# The facts suite reads the facts in parts of about this many rows, so its memory does not grow
# with the warehouse. A part is a hash range of (entity, period, indicator): the facts that can
# conflict with each other are always in the same part, and observation_id is the table's key.
FACTS_PER_PART = 250_000


def _facts_sql(parts: int, part: int) -> str:
    in_part = f"hash(f.entity_id, f.period_id, f.indicator_id) % {parts} = {part}" if parts > 1 else "true"
    return _FACTS_SQL.replace("{in_part}", in_part)


_DOCUMENTS_SQL = """
WITH docs AS (SELECT document_id, path, stem, sha256, md5(raw_text) AS text_md5, left(raw_text, 60) AS head
              FROM documents)
SELECT a.document_id AS key, a.document_id, a.path AS document, a.sha256, a.head,
       count(b.document_id)::BIGINT AS same_text_documents,
       string_agg(b.path, ', ' ORDER BY b.path) AS duplicate_of,
       c.cue_numbers, c.facts, c.share
FROM docs a
LEFT JOIN docs b ON b.text_md5 = a.text_md5 AND b.document_id <> a.document_id
LEFT JOIN extraction_coverage c ON c.document_id = a.document_id
GROUP BY ALL
ORDER BY a.document_id
"""

# One row per checked fact: the most favourable combination of parts (same document first).
# The candidates for a part are the rows of the fact's own document and one row per distinct
# value elsewhere: a figure restated by a thousand articles is one candidate, not a thousand,
# so the joins stay linear in the facts.
_CONSISTENCY_SQL = """
WITH obs AS (
    SELECT f.observation_id, f.document_id, coalesce(d.stem, f.document_id) AS document, f.entity_id,
           f.period_id, i.code AS indicator, f.segment, f.measure, f.value, f.unit, f.evidence,
           f.benchmark_entity_id
    FROM fact_observation f
    JOIN dim_indicator i ON i.indicator_id = f.indicator_id
    LEFT JOIN documents d ON d.document_id = f.document_id
),
lv AS (SELECT * FROM obs WHERE measure = 'level' AND segment IS NULL),
part_of (total, part) AS (VALUES ('foreign_trade', 'exports'), ('foreign_trade', 'imports'),
    ('gdp', 'value_added_primary'), ('gdp', 'value_added_secondary'), ('gdp', 'value_added_tertiary')),
part_values AS (
    SELECT entity_id, period_id, unit, indicator, value, min(document) AS document,
           arg_min(evidence, document) AS evidence
    FROM lv WHERE indicator IN (SELECT part FROM part_of) GROUP BY entity_id, period_id, unit, indicator, value
),
totals AS (SELECT * FROM lv WHERE indicator IN (SELECT total FROM part_of)),
parts AS (
    SELECT t.observation_id AS total_id, p.indicator, p.value, p.document, p.evidence, true AS same_document
    FROM totals t JOIN part_of po ON po.total = t.indicator
    JOIN lv p ON p.document_id = t.document_id AND p.indicator = po.part AND p.entity_id = t.entity_id
             AND p.period_id = t.period_id AND p.unit = t.unit
    UNION ALL
    SELECT t.observation_id, p.indicator, p.value, p.document, p.evidence, false
    FROM totals t JOIN part_of po ON po.total = t.indicator
    JOIN part_values p ON p.indicator = po.part AND p.entity_id = t.entity_id AND p.period_id = t.period_id
                      AND p.unit = t.unit
),
trade AS (
    SELECT 'trade' AS "check", t.observation_id, t.document, t.evidence,
           abs(x.value + m.value - t.value) / nullif(abs(t.value), 0) AS gap,
           x.document || ' | ' || m.document AS related_documents,
           x.evidence || ' | ' || m.evidence AS related_evidence,
           format('exports {} + imports {} = {} vs foreign_trade {} ({})', x.value, m.value, x.value + m.value,
                  t.value, t.unit) AS detail,
           (x.same_document AND m.same_document) AS same_document
    FROM totals t
    JOIN parts x ON x.total_id = t.observation_id AND x.indicator = 'exports'
    JOIN parts m ON m.total_id = t.observation_id AND m.indicator = 'imports'
    WHERE t.indicator = 'foreign_trade'
),
gdp AS (
    SELECT 'gdp' AS "check", g.observation_id, g.document, g.evidence,
           abs(a.value + b.value + c.value - g.value) / nullif(abs(g.value), 0) AS gap,
           a.document || ' | ' || b.document || ' | ' || c.document AS related_documents,
           a.evidence || ' | ' || b.evidence || ' | ' || c.evidence AS related_evidence,
           format('primary {} + secondary {} + tertiary {} = {} vs gdp {} ({})', a.value, b.value, c.value,
                  a.value + b.value + c.value, g.value, g.unit) AS detail,
           (a.same_document AND b.same_document AND c.same_document) AS same_document
    FROM totals g
    JOIN parts a ON a.total_id = g.observation_id AND a.indicator = 'value_added_primary'
    JOIN parts b ON b.total_id = g.observation_id AND b.indicator = 'value_added_secondary'
    JOIN parts c ON c.total_id = g.observation_id AND c.indicator = 'value_added_tertiary'
    WHERE g.indicator = 'gdp'
),
yoy AS (SELECT * FROM obs WHERE measure = 'yoy_pct'),
yoy_values AS (
    SELECT entity_id, period_id, indicator, segment, value, min(document) AS document,
           arg_min(evidence, document) AS evidence
    FROM yoy GROUP BY entity_id, period_id, indicator, segment, value
),
diffs AS (SELECT * FROM obs WHERE measure = 'diff_pp' AND benchmark_entity_id IS NOT NULL),
sides AS (  -- each diff_pp needs two growth rates: its own entity's ('zone') and its benchmark's
    SELECT observation_id AS diff_id, 'zone' AS side, entity_id AS subject_id, document_id, period_id,
           indicator, segment
    FROM diffs
    UNION ALL
    SELECT observation_id, 'benchmark', benchmark_entity_id, document_id, period_id, indicator, segment
    FROM diffs
),
growth AS (
    SELECT s.diff_id, s.side, y.value, y.document, y.evidence, true AS same_document
    FROM sides s JOIN yoy y ON y.document_id = s.document_id AND y.entity_id = s.subject_id
        AND y.period_id = s.period_id AND y.indicator = s.indicator AND y.segment IS NOT DISTINCT FROM s.segment
    UNION ALL
    SELECT s.diff_id, s.side, y.value, y.document, y.evidence, false
    FROM sides s JOIN yoy_values y ON y.entity_id = s.subject_id
        AND y.period_id = s.period_id AND y.indicator = s.indicator AND y.segment IS NOT DISTINCT FROM s.segment
),
diff AS (
    SELECT 'diff_pp' AS "check", dp.observation_id, dp.document, dp.evidence,
           abs((z.value - c.value) - dp.value) AS gap,
           z.document || ' | ' || c.document AS related_documents,
           z.evidence || ' | ' || c.evidence AS related_evidence,
           format('zone yoy {} − benchmark yoy {} = {} vs stated diff {} pp', z.value, c.value,
                  round(z.value - c.value, 4), dp.value) AS detail,
           (z.same_document AND c.same_document) AS same_document
    FROM diffs dp
    JOIN growth z ON z.diff_id = dp.observation_id AND z.side = 'zone'
    JOIN growth c ON c.diff_id = dp.observation_id AND c.side = 'benchmark'
),
checks AS (SELECT * FROM trade UNION ALL SELECT * FROM gdp UNION ALL SELECT * FROM diff)
SELECT "check" || ':' || observation_id AS key, "check", observation_id, document, evidence, gap,
       CASE WHEN "check" = 'trade' THEN gap END AS gap_trade,
       CASE WHEN "check" = 'gdp' THEN gap END AS gap_gdp,
       CASE WHEN "check" = 'diff_pp' THEN gap END AS gap_diff_pp,
       related_documents, related_evidence, detail
FROM checks
WHERE gap IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY "check", observation_id
                           ORDER BY same_document DESC, gap, related_evidence, related_documents) = 1
ORDER BY "check", observation_id
"""


def _query(con, sql: str) -> pl.DataFrame:
    frame = con.sql(sql).pl()
    return frame.with_row_index("row_id").with_columns(pl.col("row_id").cast(pl.Int64))


def _fact_sample(name: str, failing: pl.DataFrame) -> list[dict]:
    columns = ["document", "document_id", "observation_id", "entity", "period", "indicator", "segment", "measure",
               "value", "unit", "benchmark", "evidence"]
    if name == "observations_agree_across_documents":
        groups = failing.get_column("conflict_key").unique(maintain_order=True).head(CONFLICT_SAMPLE_GROUPS).to_list()
        rows = failing.filter(pl.col("conflict_key").is_in(groups)).sort("conflict_key", "document", "value")
        return [_plain({**{c: r[c] for c in columns}, "conflict": r["conflict_key"],
                        "detail": f"other documents state a different value: {r['conflicting_documents']}"})
                for r in rows.iter_rows(named=True)]
    details = {
        "observation_id_unique": "observation_id appears more than once",
        "fk_document_resolves": "document_id {document_id} not in documents",
        "fk_entity_resolves": "entity_id {entity_id} not in dim_entity",
        "fk_period_resolves": "period_id {period_id} not in dim_period",
        "fk_indicator_resolves": "indicator_id {indicator_id} not in dim_indicator",
        "fk_benchmark_resolves": "benchmark_entity_id {benchmark_entity_id} not in dim_entity",
    }
    return [_plain({**{c: r[c] for c in columns}, "detail": details.get(name, name).format(**r)})
            for r in failing.head(SAMPLE_SIZE).iter_rows(named=True)]


def _with_fact_details(con, failing: pl.DataFrame) -> pl.DataFrame:
    """The failing facts with the columns of ``_FACT_DETAILS_SQL``, in their order."""
    con.register("failing_facts", failing.select("observation_id"))
    try:
        found = con.sql(_FACT_DETAILS_SQL).pl().unique("observation_id", keep="first", maintain_order=True)
    finally:
        con.unregister("failing_facts")
    return failing.join(found, on="observation_id", how="left", maintain_order="left")


def _warehouse_document_sample(name: str, failing: pl.DataFrame, min_share: float) -> list[dict]:
    if name == COVERAGE_CHECK:
        # the documents stating the most figures first: where the reader misses most
        return [_plain({"document": r["document"], "document_id": r["document_id"], "evidence": r["head"],
                        "detail": f"{r['document']}: {r['facts']} facts for {r['cue_numbers']} numbers with cues "
                                  f"(share {r['share']:.2f} < {min_share:g})"})
                for r in failing.sort(["cue_numbers", "document"], descending=[True, False])
                .head(SAMPLE_SIZE).iter_rows(named=True)]
    return [_plain({"document": r["document"], "document_id": r["document_id"], "evidence": r["head"],
                    "detail": f"same text as {r['duplicate_of']}"})
            for r in failing.head(SAMPLE_SIZE).iter_rows(named=True)]


def _consistency_sample(name: str, failing: pl.DataFrame) -> list[dict]:
    return [_plain({"document": r["document"], "observation_id": r["observation_id"], "evidence": r["evidence"],
                    "related_documents": r["related_documents"], "related_evidence": r["related_evidence"],
                    "gap": r["gap"], "detail": r["detail"]})
            for r in failing.sort("gap", descending=True).head(SAMPLE_SIZE).iter_rows(named=True)]


def validate_warehouse(con, coverage: CoverageThresholds = CoverageThresholds()) -> list[ExpectationResult]:
    """Validate the loaded warehouse through ``con`` (read-only queries) against the ``warehouse`` suite;
    ``coverage`` sets when a document's extraction coverage is too low."""
    n_facts = con.execute("SELECT count(*) FROM fact_observation").fetchall()[0][0]
    parts = max(1, -(-n_facts // FACTS_PER_PART))
    results: list[ExpectationResult] = []
    # DuckDB answers the document and consistency queries on a cursor of its own while GX, which
    # holds the GIL, evaluates the facts here
    with con.cursor() as cursor, ThreadPoolExecutor(max_workers=1) as pool:
        queried = [pool.submit(_query, cursor, sql) for sql in (_DOCUMENTS_SQL, _CONSISTENCY_SQL)]
        for part in range(parts):
            facts = _query(con, _facts_sql(parts, part))
            results += _evaluate("warehouse_facts", WAREHOUSE, facts, ["observation_id", "evidence"], _fact_sample,
                                 details=lambda failing: _with_fact_details(con, failing))[0]
            del facts
        documents, consistency = (future.result() for future in queried)
    # documents stating fewer figures than min_cue_numbers are not judged (null is not checked)
    documents = documents.with_columns(
        pl.when(pl.col("cue_numbers") >= coverage.min_cue_numbers).then(pl.col("share")).alias("coverage_share"))
    results += _evaluate("warehouse_documents", WAREHOUSE, documents,
                         ["document", "duplicate_of", "cue_numbers", "facts"],
                         lambda name, failing: _warehouse_document_sample(name, failing, coverage.min_share),
                         {"coverage_min_share": coverage.min_share})[0]
    results += _evaluate("warehouse_consistency", WAREHOUSE, consistency, ["document", "evidence"],
                         _consistency_sample)[0]
    return merge_results(results)


# --------------------------------------------------------------------------- Data Docs


def _escape(value: Any, skip: frozenset[str] = frozenset({"row_condition"})) -> Any:
    """HTML-escape every string of a GX result (GX's Data Docs renderer does not)."""
    if isinstance(value, dict):
        return {k: (v if k in skip else _escape(v, skip)) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape(v, skip) for v in value]
    if isinstance(value, str):
        return html.escape(value, quote=True)
    return value


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80] or "run"


def build_data_docs(results_by_suite: Mapping[str, Sequence[ExpectationResult]], directory: Path | str,
                    run_id: str | None = None) -> Path:
    """Render the GX results behind ``results_by_suite`` as Data Docs under ``directory`` (a GX
    file context, kept between runs so the docs show history); returns the index.html path.

    Every string of the results is HTML-escaped first: evidence is article text, and GX's
    renderer writes values into the page unescaped."""
    gx = import_gx()
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier, ValidationResultIdentifier,
    )

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    run_name = _safe_name(run_id or "zonefacts")
    run_time = _dt.datetime.now(_dt.timezone.utc)
    with _LOCK:
        context = gx.get_context(mode="file", project_root_dir=str(directory))
        identifiers = []
        for suite_name, results in results_by_suite.items():
            gx_results = [_escape(d) for r in results for d in r.gx_results]
            if not gx_results:
                continue
            successful = sum(1 for d in gx_results if d.get("success"))
            document = {
                "success": successful == len(gx_results),
                "results": gx_results,
                "suite_name": _safe_name(suite_name),
                "suite_parameters": {},
                "statistics": {"evaluated_expectations": len(gx_results), "successful_expectations": successful,
                               "unsuccessful_expectations": len(gx_results) - successful,
                               "success_percent": 100.0 * successful / len(gx_results)},
                "meta": {"great_expectations_version": gx.__version__,
                         "run_id": {"run_name": run_name, "run_time": run_time.isoformat()},
                         "validation_time": run_time.isoformat(),
                         "batch_spec": {"batch_data": "PandasDataFrame"},
                         "active_batch_definition": {"datasource_name": "zonefacts", "data_connector_name": "fluent",
                                                     "data_asset_name": _safe_name(suite_name),
                                                     "batch_identifiers": {"run": run_name}}},
            }
            suite_result = ExpectationSuiteValidationResultSchema().load(document)
            suite_id = ExpectationSuiteIdentifier(name=_safe_name(suite_name))
            identifier = ValidationResultIdentifier(
                expectation_suite_identifier=suite_id,
                run_id=RunIdentifier(run_name=run_name, run_time=run_time),
                batch_identifier=run_name)
            context.validation_results_store.store_validation_results(
                suite_validation_result=suite_result, suite_validation_result_identifier=identifier,
                expectation_suite_identifier=suite_id)
            identifiers.append(identifier)
        context.build_data_docs(resource_identifiers=identifiers or None)
    return data_docs_index(directory)


def data_docs_index(directory: Path) -> Path:
    """The index.html of the Data Docs ``build_data_docs`` renders under ``directory``."""
    return directory / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
