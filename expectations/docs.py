"""Data Docs: the run's results rendered by Great Expectations, through its public API.

Data Docs live in a GX file context under the docs directory, kept between runs so the site
shows history. For each GX suite a run's results come from, a Checkpoint validates the failing
rows those results kept (at most ``engine.GX_TRIM`` per expectation, with the columns its suite checks
and names rows by) against the suite's declared expectations, and GX builds the pages of those
validations. The rows' outcomes are the run's; the whole run's counts are in each
expectation's description.

Every string shown is HTML-escaped first: evidence is article text, and GX's renderer writes
values into the page unescaped.
"""
from __future__ import annotations

import datetime as _dt
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from expectations import document_checks, observation_checks, warehouse_checks  # noqa: F401 - they declare the suites
from expectations.declarations import COLUMN_KWARGS, Check, Expect, Suite, declared
from expectations.engine import gx_lock, gx_suite, new_context
from expectations.gx_import import import_gx
from expectations.results import ExpectationResult

_MORE = re.compile(r"^… \d+ more$")     # the mark a trimmed value_set ends with


def data_docs_index(directory: Path) -> Path:
    """The index.html of the Data Docs ``build_data_docs`` renders under ``directory``."""
    return Path(directory) / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def _escape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape(v) for v in value]
    return html.escape(value, quote=True) if isinstance(value, str) else value


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80] or "run"


def _signature(check_name: str, kind: str, kwargs: Mapping[str, Any]) -> tuple:
    """What ties a recorded GX result to its declared expectation: check, type and columns."""
    return check_name, kind, tuple(kwargs.get(k) for k in COLUMN_KWARGS)


def _snake(kind: str) -> str:
    """ExpectColumnValuesToBeBetween → expect_column_values_to_be_between (GX's type of a result)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()


class _Recorded:
    """The GX results one suite's ExpectationResults carry, by declared expectation."""

    def __init__(self) -> None:
        self.by_expectation: dict[tuple, list[dict]] = {}

    def add(self, result: dict) -> None:
        config = result.get("expectation_config") or {}
        key = _signature((config.get("meta") or {}).get("name"), config.get("type"), config.get("kwargs") or {})
        self.by_expectation.setdefault(key, []).append(result)

    def results(self, check: Check, expect: Expect) -> list[dict]:
        return self.by_expectation.get(_signature(check.name, _snake(expect.kind), expect.kwargs), [])

    def rows(self) -> list[dict]:
        """Every failing row kept, once (rows of several batches may share a row_id, not content)."""
        seen: dict[tuple, dict] = {}
        for results in self.by_expectation.values():
            for result in results:
                for row in (result.get("result") or {}).get("unexpected_index_list") or []:
                    named = {k: v for k, v in row.items() if k != "row_id"} if isinstance(row, dict) else {}
                    seen.setdefault(tuple(sorted((k, repr(v)) for k, v in named.items())), named)
        return list(seen.values())


def _by_suite(results: Iterable[ExpectationResult]) -> dict[str, _Recorded]:
    recorded: dict[str, _Recorded] = {}
    for result in results:
        for gx_result in result.gx_results:
            suite = ((gx_result.get("expectation_config") or {}).get("meta") or {}).get("suite")
            if suite:
                recorded.setdefault(suite, _Recorded()).add(_escape(gx_result))
    return recorded


def _description(check: Check, recorded: list[dict]) -> str:
    failed = sum(int((r.get("result") or {}).get("unexpected_count") or 0) for r in recorded)
    checked = sum(int((r.get("result") or {}).get("element_count") or 0) for r in recorded)
    counts = f" (this run: {failed} of {checked} rows fail)" if recorded else ""
    return html.escape(f"[{check.severity}] {check.name}: {check.description}{counts}", quote=False)


def _parameters(suite: Suite, recorded: _Recorded, rows: Sequence[dict]) -> dict[str, Any]:
    """The values the run gave the suite's parameters, as its GX results recorded them. A value set
    the results show trimmed is completed with the values of the rows kept that its own failing
    rows (as kept) do not hold, so those rows keep their outcome."""
    values: dict[str, Any] = {}
    for check in suite.checks:
        for expect in check.expectations():
            results = recorded.results(check, expect)
            for name, value in expect.kwargs.items():
                if not (isinstance(value, dict) and "$PARAMETER" in value) or not results:
                    continue
                given = (results[0].get("expectation_config") or {}).get("kwargs", {}).get(name)
                if not isinstance(given, list):
                    values[value["$PARAMETER"]] = given
                    continue
                column = expect.kwargs["column"]
                failed = {row.get(column) for r in results
                          for row in (r.get("result") or {}).get("unexpected_index_list") or []
                          if isinstance(row, dict)}
                kept = {row.get(column) for row in rows} - failed - {None}
                found = set(values.get(value["$PARAMETER"], []))
                values[value["$PARAMETER"]] = sorted(found | {v for v in given if not _MORE.match(str(v))} | kept,
                                                     key=str)
    return values


def _get_or_add(get, add, name: str) -> Any:
    from great_expectations.exceptions import DataContextError

    try:
        return get(name)
    except (LookupError, DataContextError):
        return add(name)


# A suite whose run kept no failing row validates an empty frame, where every expectation passes:
# BASIC renders that page as COMPLETE does (a passing result shows no unexpected rows) without GX
# computing the failing values and rows of each expectation. COMPLETE where rows fail, for the
# table naming each failing row. A checkpoint's result format is stored with it: one of each.
_ALL_PASS = "passing"


def _checkpoint(gx, context, batch, suite: Suite, expectations, failing: bool) -> Any:
    """The checkpoint validating ``suite`` on ``batch``: COMPLETE when rows fail, else BASIC."""
    definition = _get_or_add(context.validation_definitions.get, lambda name: context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=expectations)), suite.name)
    result_format = ({"result_format": "COMPLETE", "unexpected_index_column_names": list(suite.index)} if failing
                     else {"result_format": "BASIC"})
    return _get_or_add(context.checkpoints.get, lambda name: context.checkpoints.add(gx.Checkpoint(
        name=name, validation_definitions=[definition], actions=[], result_format=result_format)),
        suite.name if failing else f"{suite.name}.{_ALL_PASS}")


def _run_checkpoint(gx, context, batch, suite: Suite, recorded: _Recorded, run_id) -> list:
    """Validate the kept failing rows of ``suite`` in the docs context; the result identifiers."""
    import pandas as pd

    rows = recorded.rows()
    columns = list(dict.fromkeys([*suite.columns(), *suite.index]))
    frame = pd.DataFrame.from_records([{c: row.get(c) for c in columns} for row in rows], columns=columns)
    expectations = gx_suite(suite, lambda check, expect: _description(check, recorded.results(check, expect)))
    expectations = context.suites.add_or_update(expectations)
    checkpoint = _checkpoint(gx, context, batch, suite, expectations, bool(rows))
    outcome = checkpoint.run(batch_parameters={"dataframe": frame},
                             expectation_parameters=_parameters(suite, recorded, rows), run_id=run_id)
    return list(outcome.run_results)


def docs_run(run_id: str | None) -> Any:
    """The GX run identifier of a run's Data Docs: every part of them is validated under it."""
    import_gx()
    from great_expectations.core import RunIdentifier

    return RunIdentifier(run_name=_safe_name(run_id or "zonefacts"), run_time=_dt.datetime.now(_dt.timezone.utc))


def validate_for_docs(results: Iterable[ExpectationResult], directory: Path | str, run: Any) -> list:
    """Validate the kept failing rows behind ``results`` in the docs context under ``directory``
    (a GX file context, kept between runs so the docs show history), one checkpoint per GX
    suite, under the run identifier ``run`` (``docs_run``); the result identifiers, for
    ``render_data_docs``. A run may validate its suites in parts, as their results come."""
    gx = import_gx()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    recorded = _by_suite(results)
    with gx_lock():
        context = new_context(mode="file", project_root_dir=str(directory))
        source = _get_or_add(context.data_sources.get, context.data_sources.add_pandas, "zonefacts")
        # one asset for every suite: each one added rewrites great_expectations.yml
        asset = _get_or_add(source.get_asset, source.add_dataframe_asset, "failing_rows")
        batch = _get_or_add(asset.get_batch_definition, asset.add_batch_definition_whole_dataframe, "whole")
        identifiers = []
        for name, suite_results in recorded.items():
            suite = declared(name)
            if suite is not None:
                identifiers += _run_checkpoint(gx, context, batch, suite, suite_results, run)
    return identifiers


# The site's pages and index drawn by the views of expectations/docs_views.py
_VIEWS = {"module_name": "expectations.docs_views"}
_SITE_VIEWS = {
    "site_section_builders": {section: {"view": {**_VIEWS, "class_name": "CachedJinjaPageView"}}
                              for section in ("expectations", "validations", "profiling")},
    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                           "view": {**_VIEWS, "class_name": "CachedJinjaIndexPageView"}},
}


def render_data_docs(directory: Path | str, identifiers: list, index: bool = True) -> Path:
    """Build the Data Docs pages of the validations ``identifiers`` and (``index``) the site's
    index of every validation kept there; the index's path."""
    import_gx()
    with gx_lock():
        context = new_context(mode="file", project_root_dir=str(directory))
        for name, site in context.list_data_docs_sites().items():
            if any(site.get(key) != value for key, value in _SITE_VIEWS.items()):
                context.update_data_docs_site(name, {**site, **_SITE_VIEWS})   # once per docs directory
        context.build_data_docs(resource_identifiers=identifiers or None, build_index=index)
    return data_docs_index(Path(directory))


def build_data_docs(results_by_suite: Mapping[str, Sequence[ExpectationResult]], directory: Path | str,
                    run_id: str | None = None) -> Path:
    """Render the GX results behind ``results_by_suite`` as Data Docs under ``directory``; returns
    the index.html path."""
    results = [r for results in results_by_suite.values() for r in results]
    return render_data_docs(directory, validate_for_docs(results, directory, docs_run(run_id)))
