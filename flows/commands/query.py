"""``zonefacts sql`` and ``zonefacts shell``: read-only queries on the published snapshot.

Only SELECT-type and EXPLAIN statements reach DuckDB; the snapshot is opened read-only, with
file and network access off and the configuration locked. A refused or failed query is exit 2;
a snapshot that is missing, damaged or locked is exit 3 (``flows.errors``).
"""
from __future__ import annotations

import argparse
import sys
import typing

from flows.commands.options import Options, existing_warehouse
from flows.errors import EXIT_OK, EXIT_USAGE, is_damage, usage

# Statement types that run; everything else is refused before it reaches DuckDB.
_READ_STATEMENTS = {"SELECT", "EXPLAIN"}
_READ_HINT = "SELECT / WITH / FROM / VALUES / SHOW / DESCRIBE / SUMMARIZE / EXPLAIN"


def register(sub, options: Options) -> None:
    sql = sub.add_parser("sql", parents=options.parents("format"),
                         help="run a read-only query on the published warehouse")
    sql.add_argument("query")
    sql.set_defaults(handler=cmd_sql)

    shell = sub.add_parser("shell", parents=options.parents("format"),
                           help="interactive read-only SQL prompt on the published warehouse")
    shell.set_defaults(handler=cmd_shell)


def read_statements(text: str, reader: str) -> list[str]:
    """The statements of ``text``, each one a read; raises the refusal (exit 2) otherwise."""
    import duckdb

    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as exc:
        raise usage(f"cannot parse the query: {exc}") from exc
    for stmt in statements:
        kind = stmt.type.name
        if kind not in _READ_STATEMENTS:
            raise usage(f"refused {kind.replace('_', ' ')} statement: {reader} only reads the published "
                        f"snapshot ({_READ_HINT}). The warehouse is changed only by `zonefacts run`.")
    return [s.query for s in statements]


def open_snapshot(warehouse):
    """The published snapshot, read-only, with file and network access off for good."""
    from warehouse.store import open_published

    con = open_published(warehouse)
    try:
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def raise_query_failure(exc: Exception) -> typing.NoReturn:
    """Raise what a DuckDB error of a query means: the snapshot's damage (as is: exit 3) or a
    refused or failed query (exit 2)."""
    import duckdb

    if is_damage(exc):
        raise exc
    if isinstance(exc, duckdb.PermissionException):
        raise usage(f"refused: file and network access is disabled (only the warehouse tables can be "
                    f"read). DuckDB said: {exc}") from exc
    if "read-only" in str(exc):
        raise usage(f"refused: the published warehouse is opened read-only. DuckDB said: {exc}") from exc
    raise usage(f"query failed: {exc}") from exc


def cmd_sql(args: argparse.Namespace) -> int:
    warehouse = existing_warehouse(args)
    import duckdb

    from flows.console import render

    statements = read_statements(args.query, "`zonefacts sql`")
    if not statements:
        raise usage("empty query")
    con = open_snapshot(warehouse)
    try:
        results = []
        for sql in statements:
            cur = con.execute(sql)
            columns = [d[0] for d in cur.description] if cur.description else []
            results.append((columns, cur.fetchall() if columns else []))
    except duckdb.Error as exc:
        raise_query_failure(exc)
    finally:
        con.close()
    outputs = [render(cols, rows, args.format) for cols, rows in results if cols]
    if outputs:
        print("\n\n".join(outputs))
    return EXIT_OK


def cmd_shell(args: argparse.Namespace) -> int:
    """A minimal read-only REPL on the published snapshot: statements end with `;`,
    `.quit` or end of input leaves. Same refusal rules as `zonefacts sql`. A damaged snapshot
    ends it (exit 3); piped input with a refused or failed statement exits 2."""
    warehouse = existing_warehouse(args)
    import duckdb

    from flows.console import render
    from flows.errors import CommandError

    con = open_snapshot(warehouse)
    interactive = sys.stdin.isatty()
    errors = 0
    try:
        if interactive:
            print(f"zonefacts shell on {warehouse} (read-only). End statements with ';', .quit to leave.")
        buffer: list[str] = []
        while True:
            if interactive:
                print("zonefacts> " if not buffer else "      ...> ", end="", flush=True)
            line = sys.stdin.readline()
            if not line:
                break
            if not buffer and line.strip() in (".quit", ".exit", "\\q"):
                break
            buffer.append(line)
            text = "".join(buffer)
            if not text.rstrip().endswith(";"):
                if not text.strip():
                    buffer = []
                continue
            buffer = []
            try:
                for sql in read_statements(text, "the shell"):
                    try:
                        cur = con.execute(sql)
                        cols = [d[0] for d in cur.description] if cur.description else []
                        rows = cur.fetchall() if cols else []
                    except duckdb.Error as exc:
                        raise_query_failure(exc)
                    if cols:
                        print(render(cols, rows, args.format), flush=True)
            except CommandError as problem:       # this statement only; the shell goes on
                print(f"zonefacts shell: {problem}", file=sys.stderr)
                errors += 1
        if buffer and "".join(buffer).strip():
            print("zonefacts shell: input ended inside a statement (missing ';'); it was not run", file=sys.stderr)
            errors += 1
    finally:
        con.close()
    if interactive:
        print()
    return EXIT_OK if not errors or interactive else EXIT_USAGE
