"""Windows and steps over runs: the rows of one key standing together, in their order.

Extraction keeps its frames in reading order (document, line, paragraph, sentence, tile),
so the rows of one document, paragraph or sentence form one *run*. Over runs, a row number,
a running sum, a shift or a forward fill is one pass over the whole column, corrected where
a run starts, where ``.over(key)`` hashes the tens of thousands of short sentences of a batch
into groups first.

A step whose rules only ever fire inside some runs (a list needs 分别 in its sentence) runs on
those runs alone through ``on_runs``.

Invariant every window function here relies on: the rows of a key are contiguous (a key that
comes back after another one starts a new run), and keys hold no nulls.
"""
from __future__ import annotations

from collections.abc import Callable

import polars as pl


def run_start(*keys: str) -> pl.Expr:
    """True on the first row of each run of equal ``keys``."""
    return pl.any_horizontal([pl.col(k).ne_missing(pl.col(k).shift(1)) for k in keys])


def same_run(*keys: str, n: int = 1) -> pl.Expr:
    """True where the row ``n`` rows before (after, for a negative ``n``) is in the same run."""
    return pl.all_horizontal([pl.col(k) == pl.col(k).shift(n) for k in keys]).fill_null(False)


def position(*keys: str) -> pl.Expr:
    """0-based row number within the run (Int64), as ``pl.int_range(pl.len()).over(keys)``."""
    row = pl.int_range(pl.len())
    return row - pl.when(run_start(*keys)).then(row).forward_fill()


def running_sum(value: pl.Expr, *keys: str) -> pl.Expr:
    """``value.cum_sum().over(keys)`` for a ``value`` without nulls."""
    total = value.cum_sum()
    return total - pl.when(run_start(*keys)).then(total - value).forward_fill()


def shifted(value: pl.Expr, *keys: str, n: int = 1) -> pl.Expr:
    """``value.shift(n).over(keys)``: null where that row lies outside the run."""
    return pl.when(same_run(*keys, n=n)).then(value.shift(n))


def filled(value: pl.Expr, *keys: str) -> pl.Expr:
    """``value.forward_fill().over(keys)``: a value carries down while the run it was found in
    goes on."""
    run = run_start(*keys).cum_sum()
    found_in = pl.when(value.is_not_null()).then(run).forward_fill()
    return pl.when(found_in == run).then(value.forward_fill())


def filled_by_id(value: pl.Expr, run: str) -> pl.Expr:
    """``filled(value, run)`` for a column of run numbers (sent_id, para_id): a number never comes
    back once another has started, so the numbers tell the runs apart themselves."""
    found_in = pl.when(value.is_not_null()).then(pl.col(run)).forward_fill()
    return pl.when(found_in == pl.col(run)).then(value.forward_fill())


def on_runs(frame: pl.DataFrame, selected: pl.Expr, step: Callable[[pl.DataFrame], pl.DataFrame],
            reads: list[str] | None = None) -> pl.DataFrame:
    """``step(frame)`` for a step that changes rows only where ``selected`` is true and, to do
    so, reads no row where it is false (``selected`` is true on whole sentences or paragraphs,
    whatever ``step`` looks across). The step runs on the selected rows, keeping their number
    and order; what it changed is written back there, the other rows keep their values (null
    in the columns the step adds; the columns it drops are dropped). A step that reads only
    some columns names them in ``reads``: it is given those alone (the wide frame is not
    gathered), and the columns it returns are set on the frame, the others kept."""
    rows = frame.select(selected.fill_null(False)).to_series().arg_true()
    given = (frame if reads is None else frame.select(reads))[rows]
    part = step(given)
    if part.height != given.height:
        raise ValueError("a step on_runs must keep its rows")
    if part.height == frame.height and reads is None:
        return part
    columns = {} if reads is None else {name: frame.get_column(name) for name in frame.columns}
    for name, dtype in part.schema.items():
        if name in given.columns and part.get_column(name).equals(given.get_column(name), check_dtypes=True):
            columns[name] = frame.get_column(name)   # untouched: no copy
            continue
        whole = frame.get_column(name).cast(dtype) if name in frame.columns \
            else pl.repeat(None, frame.height, dtype=dtype, eager=True).alias(name)
        columns[name] = whole.scatter(rows, part.get_column(name)) if rows.len() else whole
    return pl.DataFrame(list(columns.values()))
