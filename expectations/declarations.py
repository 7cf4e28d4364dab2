"""What a data-quality check is: its declaration, and the samples and details drawn from it.

A check is one ``Check``: its name, severity and description; the GX expectations behind it
(built only when a suite is, so declaring checks does not import GX); the columns they read, as
Polars expressions, or its own rows, as an SQL file under ``expectations/sql/``; and a detail
template. A ``Suite`` groups the checks validated together over one frame.
``expectations.engine`` validates suites; ``expectations.docs`` renders them as Data Docs.
"""
from __future__ import annotations

import datetime as _dt
import math
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

from expectations.gx_import import import_gx
from expectations.results import SAMPLE_SIZE

SQL_DIR = Path(__file__).with_name("sql")
SAMPLE_GROUPS = 3                     # a check sampling whole groups of rows shows this many groups
COLUMN_KWARGS = ("column", "column_A", "column_B")


class ExpectationError(RuntimeError):
    """An expectation could not be evaluated (a bug in a suite, not bad data)."""


@dataclass(frozen=True)
class Expect:
    """One GX expectation, named by its class in ``great_expectations.expectations``; built only
    when a suite is, so declaring checks does not import GX."""
    kind: str
    kwargs: Mapping[str, Any]

    def columns(self) -> list[str]:
        return [self.kwargs[k] for k in COLUMN_KWARGS if isinstance(self.kwargs.get(k), str)]

    def on(self, rename: Callable[[str], str]) -> Expect:
        return Expect(self.kind, {k: rename(v) if k in COLUMN_KWARGS else v for k, v in self.kwargs.items()})

    def build(self) -> Any:
        import_gx()
        import great_expectations.expectations as gxe

        return getattr(gxe, self.kind)(**self.kwargs)


def param(name: str) -> dict[str, str]:
    """A value given at validation time (``parameters`` of ``validate``) rather than in the suite."""
    return {"$PARAMETER": name}


def between(column: str, lo: Any = None, hi: Any = None, **kw: Any) -> Expect:
    return Expect("ExpectColumnValuesToBeBetween", {"column": column, "min_value": lo, "max_value": hi, **kw})


def not_null(column: str) -> Expect:
    return Expect("ExpectColumnValuesToNotBeNull", {"column": column})


def in_set(column: str, values: Any) -> Expect:
    return Expect("ExpectColumnValuesToBeInSet", {"column": column, "value_set": values})


def unique(column: str) -> Expect:
    return Expect("ExpectColumnValuesToBeUnique", {"column": column})


def at_least(column: str, other: str) -> Expect:
    """``column`` ≥ ``other`` on every row where both are set."""
    return Expect("ExpectColumnPairValuesAToBeGreaterThanB", {
        "column_A": column, "column_B": other, "or_equal": True, "ignore_row_if": "either_value_is_missing"})


@dataclass(frozen=True)
class Part:
    """A result reported on its own for the rows of a check whose ``split`` column holds ``name``."""
    name: str
    description: str


@dataclass(frozen=True, eq=False)
class Check:
    """One data-quality check, declared once.

    ``expect``: the GX expectations behind the stable name; its result fails when any fails.
    ``derive``: columns they read, as Polars expressions over the suite's frame (null: not judged).
    ``sql``: a file under ``expectations/sql/`` giving this check's own rows (run with ``params``);
    its expectations and ``derive`` then see only those rows.
    ``detail`` / ``evidence``: templates (``str.format`` over a failing row) for the sample,
    the alert text and the quarantine detail; ``extra`` adds sample fields the same way.
    ``order`` (``-column``: descending) and ``group`` (whole groups of rows sharing a column)
    choose the rows sampled. With ``parts``, one GX expectation serves several stable names: each
    part is reported for the failing rows whose ``split`` column holds its name."""
    name: str
    severity: str
    description: str
    expect: tuple[Expect, ...]
    derive: Mapping[str, pl.Expr] = field(default_factory=dict)
    sql: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    detail: str = "{what} = {value}"
    evidence: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    order: tuple[str, ...] = ()
    group: str | None = None
    split: str | None = None
    parts: tuple[Part, ...] = ()

    def expectations(self) -> tuple[Expect, ...]:
        """The expectations as GX sees them: an SQL check's columns are its own (``scoped``)."""
        return tuple(e.on(self.scoped) for e in self.expect) if self.sql else self.expect

    def scoped(self, column: str) -> str:
        return f"{self.name}__{column}"


_DECLARED: dict[str, Suite] = {}
_EQUALITY_KINDS = {"ExpectColumnValuesToBeUnique", "ExpectColumnValuesToNotBeNull"}


@dataclass(frozen=True, eq=False)
class Suite:
    """Checks validated together over one frame (one GX suite, one validation).

    ``label``: the suite its results are reported under (observations | documents | warehouse).
    ``index``: the columns naming a failing row in Data Docs. ``sample``: the fields of a
    sample row (field → column), before the check's ``extra`` fields and its ``detail``.
    Declaring a suite registers it by name, where ``expectations.docs`` finds it again."""
    name: str
    label: str
    checks: tuple[Check, ...]
    index: tuple[str, ...]
    sample: Mapping[str, str]

    def __post_init__(self) -> None:
        _DECLARED[self.name] = self

    def columns(self) -> list[str]:
        """The columns the suite's expectations read, in order."""
        return list(dict.fromkeys(c for check in self.checks for e in check.expectations() for c in e.columns()))

    def equality_only(self) -> set[str]:
        """The columns only uniqueness and presence are checked on: any one-to-one recoding of
        their values (nulls kept) leaves every result as it is."""
        kinds: dict[str, set[str]] = {}
        for check in self.checks:
            for e in check.expectations():
                for c in e.columns():
                    kinds.setdefault(c, set()).add(e.kind)
        return {c for c, used in kinds.items() if used <= _EQUALITY_KINDS}

    def check_of(self, name: str) -> Check:
        """The check reporting the stable name ``name`` (itself or one of its parts)."""
        return next(c for c in self.checks if name == c.name or name in {p.name for p in c.parts})


def declared(name: str) -> Suite | None:
    return _DECLARED.get(name)


@lru_cache(maxsize=None)
def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


# --------------------------------------------------------------------------- templates


class _RowFormat(string.Formatter):
    """``str.format`` over a row: a missing value reads "null", a float without a format spec
    reads in its shortest exact form (6.1, 900, 123450000000)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None:
            return "null"
        if isinstance(value, float) and not format_spec:
            return f"{value:.15g}"
        return super().format_field(value, format_spec)


_FORMAT = _RowFormat()


def fill(template: str, row: Mapping[str, Any], check: str = "") -> str:
    try:
        return _FORMAT.vformat(template, (), row)
    except (KeyError, IndexError) as exc:
        raise ExpectationError(f"{check}: template {template!r} names {exc}, which the rows lack") from exc


def plain(value: Any) -> Any:
    """numpy / pandas scalars → JSON-ready Python values (NaN → None)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
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


def _sampled(check: Check, failing: pl.DataFrame) -> pl.DataFrame:
    if check.group:
        groups = failing.get_column(check.group).unique(maintain_order=True).head(SAMPLE_GROUPS)
        failing = failing.filter(pl.col(check.group).is_in(groups.to_list()))
    if check.order:
        failing = failing.sort([c.lstrip("-") for c in check.order],
                               descending=[c.startswith("-") for c in check.order])
    return failing if check.group else failing.head(SAMPLE_SIZE)


def sample_candidates(check: Check, failing: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``failing`` (the check's failing rows, in order) that ``samples`` can pick, told
    apart without the columns added to them later: all of them where the check orders its sample
    without grouping it, splits it into parts, or groups by a column not there yet."""
    if check.parts or (check.order and not check.group) or (check.group and check.group not in failing.columns):
        return failing
    if check.group:
        # a null group among the first ones keeps its rows here, so that the groups ``samples``
        # picks from these rows are the ones it picks from all of them
        groups = failing.get_column(check.group).unique(maintain_order=True).head(SAMPLE_GROUPS)
        return failing.filter(pl.col(check.group).is_in(groups.to_list(), nulls_equal=True))
    return failing.head(SAMPLE_SIZE)


def samples(suite: Suite, check: Check, failing: pl.DataFrame) -> list[dict]:
    """The rows of a failing check shown in dq_results and alerts: the suite's fields, the
    check's extra fields and its detail."""
    out = []
    for row in _sampled(check, failing).iter_rows(named=True):
        record = {name: row.get(column) for name, column in suite.sample.items()}
        if check.evidence is not None:
            record["evidence"] = fill(check.evidence, row, check.name)
        record.update({name: fill(template, row, check.name) for name, template in check.extra.items()})
        record["detail"] = fill(check.detail, row, check.name)
        out.append(plain(record))
    return out
