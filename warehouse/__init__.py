"""The DuckDB warehouse: schema as ordered SQL files, migrations, idempotent loads, snapshots."""
