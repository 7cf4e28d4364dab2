"""Steps run once per distinct value of the columns they read, their results joined back.

A batch repeats its text: bylines, boilerplate and reposted paragraphs, and in the tiles the
leads and cores of its cue phrases (同比增长, 占全市比重), so a column has far fewer distinct
values than rows. A regular expression (or Python) over such a column run here costs its
distinct values, not its rows.
"""
from __future__ import annotations

from collections.abc import Callable

import polars as pl


def on_distinct(frame: pl.DataFrame, keys: list[str],
                step: Callable[[pl.DataFrame], pl.DataFrame]) -> pl.DataFrame:
    """``step(frame)`` for a step that computes its columns from the ``keys`` columns alone
    (never from another column or the row's position) and leaves the keys as they are: it runs
    on one row per distinct combination of the keys (nulls included), and every row of
    ``frame`` gets the columns it added or replaced."""
    return looked_up(frame, step(frame.select(keys).unique()), keys)


def looked_up(frame: pl.DataFrame, table: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """``frame`` with the other columns of ``table`` (one row per combination of ``keys``,
    nulls included) set on each row by its keys, null where the table has no row. Only the
    keys take part in the join: the wide frame is not gathered."""
    if table.height == 0:  # nothing to find: no key is hashed
        return frame.with_columns(pl.repeat(None, frame.height, dtype=dtype, eager=True).alias(name)
                                  for name, dtype in table.schema.items() if name not in keys)
    found = frame.select(keys).join(table, on=keys, how="left", nulls_equal=True, maintain_order="left")
    return frame.with_columns(found.drop(keys).get_columns())

