"""Schema migrations: apply the ordered SQL files in ``warehouse/sql`` that a database lacks.

Each file ``NNN_name.sql`` is one schema version; ``schema_migrations`` records
which versions a database has, so opening an old warehouse upgrades it in place
and opening a current one does nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).with_name("sql")
_FILE_PATTERN = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


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


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Bring ``con`` to the latest schema version; returns the versions applied now."""
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
    return applied
