"""The data-quality engine: declared suites become GX suites, validations and results.

``validate`` runs a real Great Expectations validation of a ``Suite`` (expectations.declarations)
over a Polars frame and turns GX's answer into one ``ExpectationResult`` per stable name, with
failing samples whose ``detail`` (what alerts and quarantine show) is the check's template
filled from the row.

GX only has a pandas datasource here, so a frame goes over as pandas (``_to_gx_frame``) with
``result_format=COMPLETE`` and a ``row_id`` index, which is how failing rows are told apart. GX is
imported on first use (it takes seconds); the context and each suite are built once per process.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from expectations.declarations import (
    Check, Expect, ExpectationError, Suite, plain, read_sql, sample_candidates, samples,
)
from expectations.gx_import import import_gx
from expectations.results import ExpectationResult, fingerprint

GX_TRIM = 20                          # failing rows kept per GX result for Data Docs
_GX_KWARG_LIST = 30                   # longest value_set kept in a GX result for Data Docs
# the lists of a GX result cut to GX_TRIM entries for Data Docs
_CUT = ("partial_unexpected_list", "unexpected_list", "partial_unexpected_index_list", "unexpected_index_list",
        "partial_unexpected_counts")

_LOCK = threading.RLock()          # GX's context and suites are not safe to share between threads
_CONTEXT: list[tuple[Any, Any]] = []
_BUILT: dict[str, tuple[Suite, Any]] = {}


def gx_lock() -> threading.RLock:
    return _LOCK


def new_context(**options: Any) -> Any:
    """``gx.get_context(**options)`` without progress bars, and without the INFO line about a
    temporary docs folder GX logs for every context it makes (its module sets its own logger to
    INFO at import, so the parent's level is not enough)."""
    gx = import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    context = gx.get_context(**options)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _context() -> tuple[Any, Any]:
    """(ephemeral context, whole-dataframe batch definition), once per process."""
    with _LOCK:
        if not _CONTEXT:
            context = new_context(mode="ephemeral")
            batch_definition = (context.data_sources.add_pandas("zonefacts").add_dataframe_asset("frame")
                                .add_batch_definition_whole_dataframe("whole"))
            _CONTEXT.append((context, batch_definition))
        return _CONTEXT[0]


def gx_suite(suite: Suite, describe: Callable[[Check, Expect], str] | None = None) -> Any:
    """The suite as a GX ExpectationSuite (not added to any context): each expectation tagged
    ``meta={"name", "severity", "suite"}`` and described as ``[severity] name: description``."""
    expectations = []
    for check in suite.checks:
        for expect in check.expectations():
            expectation = expect.build()
            expectation.meta = {"name": check.name, "severity": check.severity, "suite": suite.name}
            expectation.description = (describe(check, expect) if describe
                                       else f"[{check.severity}] {check.name}: {check.description}")
            expectations.append(expectation)
    # given whole: adding one by one saves the suite again after each where the context has it
    return import_gx().ExpectationSuite(name=suite.name, expectations=expectations)


def _built(suite: Suite) -> Any:
    """The suite in the validation context, built once per process (again if re-declared)."""
    with _LOCK:
        if _BUILT.get(suite.name, (None,))[0] is not suite:
            context, _ = _context()
            _BUILT[suite.name] = (suite, context.suites.add_or_update(gx_suite(suite)))
        return _BUILT[suite.name][1]


def warm_up(suites: Sequence[Suite]) -> None:
    """Import GX and build its context and ``suites`` ahead of the first validation."""
    with _LOCK:
        _context()
        for suite in suites:
            _built(suite)


def _to_gx_frame(frame: pl.DataFrame, columns: Sequence[str], equality_only: Collection[str] = ()):
    """The pandas frame GX validates: only the checked columns, indexed by row_id.

    With an (unnamed) row_id index and no ``unexpected_index_column_names``, GX returns the
    failing rows as one list of index values; naming index columns makes it look each failing
    row's columns up one at a time (seconds for thousands of failures). GX hashes the whole
    frame for every batch (its data fingerprint) and filters it for every expectation, so
    strings go over as what is cheapest to hash and take that keeps the checks' results: a
    string column only checked for uniqueness and presence (``equality_only``) as the dense rank
    of its values, integers; another whose strings repeat as a categorical. A column of mostly
    distinct strings checked against values (an id in a value set) goes over as it is: its
    categories would cost more to build than they save. Integers go over as 64-bit: GX compares
    int64 and float64 columns vectorized, and any other dtype (int32, uint32) one Python call
    per value."""
    def cast(column: str) -> pl.Expr:
        dtype = frame.schema[column]
        if dtype == pl.String and column in equality_only:
            return pl.col(column).rank("dense").cast(pl.Int64)
        if dtype == pl.String:
            repeats = frame.get_column(column).n_unique() * 2 <= frame.height
            return pl.col(column).cast(pl.Categorical) if repeats else pl.col(column)
        return pl.col(column).cast(pl.Int64) if dtype.is_integer() else pl.col(column)

    data = frame.select([cast(c) for c in columns]).to_pandas()
    data.index = frame.get_column("row_id").to_numpy()
    return data


def _as_json(result: Any) -> dict:
    """``result.to_json_dict()`` with only the first ``GX_TRIM`` entries of its lists of failing values
    and rows, all Data Docs keep: GX would deep-copy and convert every failing value and row of a
    check failing on most rows. ``result`` is left as it was."""
    full = result.result
    result.result = {k: v[:GX_TRIM] if k in _CUT and isinstance(v, list) else v for k, v in full.items()}
    try:
        return result.to_json_dict()
    finally:
        result.result = full


def _documented(result: dict, failing: pl.DataFrame, columns: Sequence[str], recoded: Collection[str] = ()) -> dict:
    """A GX result as JSON for Data Docs: long lists cut, and each failing row named by its checked
    columns and the suite's index columns (evidence, document, ...) rather than by a bare row_id.
    On a column GX saw ``recoded`` (``_to_gx_frame``), the failing values are the rows' own."""
    d = plain(result)
    res = d.get("result") or {}
    for key in _CUT:
        if isinstance(res.get(key), list):
            res[key] = res[key][:GX_TRIM]
    if isinstance(res.get("unexpected_index_query"), str) and len(res["unexpected_index_query"]) > 200:
        res["unexpected_index_query"] = res["unexpected_index_query"][:200] + "…"
    kwargs = (d.get("expectation_config") or {}).get("kwargs") or {}
    for key, value in list(kwargs.items()):
        if isinstance(value, list) and len(value) > _GX_KWARG_LIST:
            kwargs[key] = value[:_GX_KWARG_LIST] + [f"… {len(value) - _GX_KWARG_LIST} more"]
    lists = [k for k in ("unexpected_index_list", "partial_unexpected_index_list") if isinstance(res.get(k), list)]
    wanted = sorted({int(i) for k in lists for i in res[k]})
    named = {}
    if wanted:
        rows = failing.filter(pl.col("row_id").is_in(wanted)).select(
            list(dict.fromkeys(["row_id", *(c for c in columns if c in failing.columns)])))
        named = {row["row_id"]: plain(row) for row in rows.iter_rows(named=True)}
    column = kwargs.get("column")
    if column in recoded:
        # GX lists the failing values and their rows in the same order
        pairs = (("unexpected_list", "unexpected_index_list"), ("partial_unexpected_list", "partial_unexpected_index_list"))
        own = {code: named.get(int(i), {}).get(column) for values, ids in pairs
               for code, i in zip(res.get(values) or [], res.get(ids) or [])}
        for values, _ in pairs:
            if isinstance(res.get(values), list):
                res[values] = [own.get(code) for code in res[values]]
        for entry in res.get("partial_unexpected_counts") or []:
            if isinstance(entry, dict):
                entry["value"] = own.get(entry.get("value"))
    for key in lists:
        res[key] = [named.get(i, {"row_id": i}) for i in res[key]]
    return d


# --------------------------------------------------------------------------- validation


def derived(suite: Suite, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with the columns the suite's checks derive (an SQL check's only on its own rows)."""
    exprs = []
    for check in suite.checks:
        if check.sql:
            mine = pl.col("check") == check.name
            exprs += [pl.when(mine).then(expr).alias(check.scoped(name)) for name, expr in check.derive.items()]
            exprs += [pl.when(mine).then(pl.col(c)).alias(check.scoped(c))
                      for e in check.expect for c in e.columns() if c not in check.derive]
        else:
            exprs += [expr.alias(name) for name, expr in check.derive.items()]
    return frame.with_columns(exprs) if exprs else frame


def sql_rows(suite: Suite, con) -> pl.DataFrame:
    """The rows of the suite's SQL checks, each tagged with its check's name in ``check``."""
    frames = [con.sql(read_sql(c.sql), params=dict(c.params) or None).pl().with_columns(pl.lit(c.name).alias("check"))
              for c in suite.checks if c.sql]
    rows = pl.concat(frames, how="diagonal_relaxed")
    return rows.with_row_index("row_id").with_columns(pl.col("row_id").cast(pl.Int64))


def _shown_ids(suite: Suite, failing: pl.DataFrame, failing_rows: Mapping[str, set[int]],
               by_name: Mapping[str, list]) -> list[int]:
    """The failing rows a sample or Data Docs can show: the only ones ``details`` is asked for."""
    ids: set[int] = set()
    for check in suite.checks:
        rows = failing_rows.get(check.name)
        if rows:
            mine = failing.filter(pl.col("row_id").is_in(sorted(rows)))
            ids.update(sample_candidates(check, mine).get_column("row_id").to_list())
        for result in by_name.get(check.name, []):
            for key in ("unexpected_index_list", "partial_unexpected_index_list"):
                ids.update(int(i) for i in (result.result.get(key) or [])[:GX_TRIM])
    return sorted(ids)


def _with_details(rows: pl.DataFrame, shown: pl.DataFrame) -> pl.DataFrame:
    """Those of ``rows`` that ``shown`` holds, as it holds them (with the details), in its order."""
    return shown.join(rows.select("row_id"), on="row_id", how="semi", maintain_order="left")


def _reported(check: Check) -> list[tuple[str, str]]:
    return [(p.name, p.description) for p in check.parts] or [(check.name, check.description)]


@dataclass
class Validation:
    results: list[ExpectationResult]     # one per stable name, in the order of the suite's checks
    failing: dict[str, set[int]]         # stable name → the row_ids failing it
    frame: pl.DataFrame                  # the frame validated, with the derived columns


def validate(suite: Suite, frame: pl.DataFrame, parameters: Mapping[str, Any] | None = None,
             details: Callable[[pl.DataFrame], pl.DataFrame] | None = None) -> Validation:
    """Validate ``frame`` (columns row_id, key and what the checks derive from) with ``suite``.
    GX sees only the columns its expectations check; the samples and Data Docs see the failing
    rows with every column, and the columns ``details`` adds to them (asked only for the failing
    rows a sample or Data Docs can show)."""
    frame = derived(suite, frame)
    expectation_suite = _built(suite)
    _, batch_definition = _context()
    columns = suite.columns()
    recoded = suite.equality_only()
    data = _to_gx_frame(frame, columns, recoded)
    with _LOCK:
        validation = batch_definition.get_batch(batch_parameters={"dataframe": data}).validate(
            expectation_suite, result_format={"result_format": "COMPLETE"},
            expectation_parameters=dict(parameters or {}))
    by_name: dict[str, list] = {}
    for r in validation.results:
        info = r.exception_info or {}
        if info.get("raised_exception"):
            raise ExpectationError(f"{suite.name}/{r.expectation_config.meta.get('name')} could not be "
                                   f"evaluated: {info.get('exception_message')}")
        by_name.setdefault(r.expectation_config.meta["name"], []).append(r)
    failing_rows = {name: {int(i) for r in gx_results for i in (r.result.get("unexpected_index_list") or [])}
                    for name, gx_results in by_name.items()}
    failing_ids = sorted(set().union(*failing_rows.values())) if failing_rows else []
    failing_frame = frame.filter(pl.col("row_id").is_in(failing_ids)) if failing_ids else frame.clear()
    shown = failing_frame
    if details is not None:   # a check failing on most rows would otherwise read details for all of them
        shown = details(failing_frame.filter(pl.col("row_id").is_in(_shown_ids(suite, failing_frame, failing_rows,
                                                                               by_name))))
    results: list[ExpectationResult] = []
    failing: dict[str, set[int]] = {}
    for check in suite.checks:
        gx_results = by_name.get(check.name, [])
        rows_of_check = failing_rows.get(check.name, set())
        # the check's GX results go to Data Docs once, with its first reported name
        documented = tuple(_documented(_as_json(r), shown, [*columns, *suite.index], recoded) for r in gx_results)
        for name, description in _reported(check):
            rows = rows_of_check
            mine = failing_frame.filter(pl.col("row_id").is_in(sorted(rows))) if rows else failing_frame.clear()
            if check.parts:
                mine = mine.filter(pl.col(check.split) == name)
                rows = set(mine.get_column("row_id").to_list())
            success = not rows if check.parts else all(r.success for r in gx_results)
            count = len(rows) if rows or check.parts else sum(int(r.result.get("unexpected_count") or 0)
                                                              for r in gx_results)
            keys = tuple(sorted({str(k) for k in mine.get_column("key").to_list()}))
            sampled = mine if details is None else _with_details(mine, shown)
            results.append(ExpectationResult(
                suite=suite.label, expectation=name, severity=check.severity, success=success,
                unexpected_count=count, sample=samples(suite, check, sampled) if rows else [],
                fingerprint=fingerprint(suite.label, name, keys), description=description,
                keys=keys, gx_results=documented))
            documented = ()
            failing[name] = rows
    return Validation(results, failing, frame)
