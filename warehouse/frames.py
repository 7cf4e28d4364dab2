"""Polars frames as DuckDB relations: how the load and the history hand frames to SQL."""
from __future__ import annotations

import duckdb
import polars as pl


def register_frame(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """Expose a Polars frame to SQL without pyarrow (not a dependency): DuckDB reads the
    Arrow C stream directly. The stream can be scanned once, so use ``name`` in one query."""
    con.register(name, frame.__arrow_c_stream__())


def temp_table(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """``frame`` as the temporary table ``name``, for queries that read it more than once."""
    register_frame(con, f"{name}_frame", frame)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_frame")
    con.unregister(f"{name}_frame")
