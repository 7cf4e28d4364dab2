"""Schema migrations: apply the ordered SQL files in ``warehouse/sql`` that a database lacks,
then (re)create the views whose indicator lists come from the vocabulary.

Each file ``NNN_name.sql`` is one schema version; ``schema_migrations`` records
which versions a database has, so opening an old warehouse upgrades it in place
and opening a current one applies nothing. A view built from
``transforms/vocab/indicators.csv`` (``growth_panel``: its ``headline`` column) is not frozen
in a migration: ``migrate`` rebuilds it every time, so it follows the vocabulary.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from transforms.vocabulary import load_vocabulary

SQL_DIR = Path(__file__).with_name("sql")
_FILE_PATTERN = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")   # an indicator code is safe as a column name and a literal

# Entity × period: year-on-year growth (%) of the headline indicators, in the order of their
# headline rank, whole economy (no segment, no benchmark), from latest_observations.
# NULL = not reported for that period.
_GROWTH_PANEL = """
CREATE OR REPLACE VIEW growth_panel AS
SELECT
    entity, year, start_month, end_month, any_value(period) AS period,
{columns}
    max(published_at) AS latest_published_at
FROM latest_observations
WHERE measure = 'yoy_pct' AND segment IS NULL AND benchmark IS NULL AND indicator IN ({codes})
GROUP BY entity, year, start_month, end_month
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    def statements(self) -> str:
        return self.path.read_text(encoding="utf-8")


def available_migrations(sql_dir: Path = SQL_DIR) -> list[Migration]:
    found = []
    for path in sorted(sql_dir.glob("*.sql")):
        match = _FILE_PATTERN.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"duplicate schema versions in {sql_dir}: {versions}")
    return found


def latest_version() -> int:
    return max(m.version for m in available_migrations())


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    return con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()[0][0]


def headline_indicators() -> list[str]:
    """The headline indicators' codes (indicators.csv, column ``headline``: their rank), in rank order."""
    codes = (load_vocabulary().indicators.filter(pl.col("headline").is_not_null())
             .sort(pl.col("headline").cast(pl.Int32), maintain_order=True).get_column("code").to_list())
    bad = [c for c in codes if not _CODE.match(c)]
    if bad:
        raise ValueError(f"indicators.csv: headline codes must be lower-case identifiers: {bad}")
    return codes


def create_vocabulary_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the views whose indicator lists come from the vocabulary."""
    codes = headline_indicators()
    columns = "".join(f"    max(value) FILTER (WHERE indicator = '{c}') AS {c},\n" for c in codes)
    con.execute(_GROWTH_PANEL.format(columns=columns, codes=", ".join(f"'{c}'" for c in codes) or "NULL"))


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Bring ``con`` to the latest schema version and rebuild the vocabulary's views; returns the
    versions applied now."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP DEFAULT now())"
    )
    # every version not recorded yet, not only those above the highest: two migrations written
    # side by side (006, 007) may reach a database in either order
    have = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for migration in available_migrations():
        if migration.version in have:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(migration.statements())
            con.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                [migration.version, migration.name],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    create_vocabulary_views(con)
    return applied
