"""``zonefacts`` command line: run the pipeline, query the published warehouse, show status.

Exit codes:
    0   success (also when some files were quarantined: that is data, not a failure)
    1   the run failed (recorded in pipeline_runs as 'failed'; the published data is unchanged)
    2   bad usage, or a query that is refused / fails in ``zonefacts sql``
    3   a warehouse file is missing, locked by another program, or damaged (WarehouseError)
    75  EX_TEMPFAIL: another zonefacts run holds the warehouse lock; nothing was done, try later

This module is the only place that reads the environment (settings, ZONEFACTS_FAULT).
"""
from __future__ import annotations

import argparse
import atexit
import logging
import os
import typing
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_WAREHOUSE, EXIT_TEMPFAIL = 0, 1, 2, 3, 75

# Statement types `zonefacts sql` runs; everything else is refused before it reaches DuckDB.
_READ_STATEMENTS = {"SELECT", "EXPLAIN"}
_READ_HINT = "SELECT / WITH / FROM / VALUES / SHOW / DESCRIBE / SUMMARIZE / EXPLAIN"


def _quiet_prefect() -> None:
    """Prefect reads these at import: keep normal output to our own summary."""
    for name, value in {
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLI_PROMPT": "false",
        # the temporary server needs ~25 s on a small machine (Prefect's default wait is 20 s)
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }.items():
        os.environ.setdefault(name, value)
    # GX logs its temporary docs folder at INFO on every validation
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    # DuckDB's nanobind binding reports objects still cached by typing at shutdown as
    # "leaked"; they are not (nanobind docs, refleaks): clearing typing's caches first
    # keeps stderr for real errors.
    atexit.register(_clear_typing_caches)


def _clear_typing_caches() -> None:
    for cleanup in getattr(typing, "_cleanups", []):
        cleanup()


def _err(message: str) -> None:
    print(message, file=sys.stderr)


# --------------------------------------------------------------------------- run


def _print_summary(summary: dict) -> None:
    reasons = summary.get("quarantine_reasons") or {}
    reason_text = ", ".join(f"{k}: {v}" for k, v in reasons.items())
    lines = [
        f"zonefacts run {summary.get('run_id', '?')[:12]}: {summary.get('status')}",
        f"  documents     seen {summary.get('documents_seen', 0)}, new {summary.get('documents_new', 0)}, "
        f"skipped {summary.get('documents_skipped', 0)}, quarantined {summary.get('documents_quarantined', 0)}"
        + (f" ({reason_text})" if reason_text else ""),
        f"  observations  loaded {summary.get('observations_loaded', 0)} "
        f"(extracted {summary.get('observations_extracted', 0)})",
        f"  defects {summary.get('defects', 0)}, unmapped mentions {summary.get('unmapped', 0)}, "
        f"expectations failed {summary.get('expectations_failed', 0)}",
        *[f"    {f['severity']:<7} {f['suite']}.{f['expectation']} ({f['unexpected_count']} rows)"
          for f in summary.get("failed_expectations") or []],
        *([f"  data docs     {summary['data_docs']}"] if summary.get("data_docs") else []),
        *([f"  alerts        sent {summary.get('alerts_sent', 0)}, channel errors {len(summary['alert_errors'])}"]
          if summary.get("alert_errors") else []),
        f"  run time      {summary.get('duration_seconds', 0):.1f} s",
        f"  warehouse     {summary.get('warehouse')}",
    ]
    print("\n".join(lines))


def _up_to_date(settings) -> str | None:
    """The report of a run with nothing to do, or None when the flow must run.

    Nothing to do: the inbox lists exactly the files (paths, sizes, mtimes, sidecars) of the
    latest successful run over it, that run read and extracted every one of them, every load
    has had its warehouse suite, and no later run died before publishing. Checked before
    Prefect is imported (~4 s): an unchanged inbox answers in about a second."""
    warehouse, work = settings.warehouse, settings.work_path
    if not warehouse.exists():
        return None
    if work.exists() and work.stat().st_mtime_ns > warehouse.stat().st_mtime_ns:
        return None   # a run died between load and publish: the flow finishes its work
    from flows.inbox import discover_paths, listing_fingerprint, listing_salt, stat_listing
    from warehouse import migrate, store

    inbox = settings.inbox.resolve()
    con = store.open_published(warehouse)
    try:
        if migrate.current_version(con) != migrate.latest_version() or store.unvalidated_loads(con):
            return None
        last = store.last_inbox_listing(con, str(inbox))
    finally:
        con.close()
    if last is None or last[0] is None:
        return None
    paths = discover_paths(inbox, settings.max_file_bytes)
    listing = listing_fingerprint(inbox, stat_listing(inbox, paths), salt=listing_salt(settings.max_file_bytes))
    if listing != last[0]:
        return None
    finished = f"{last[2]:%Y-%m-%d %H:%M:%S}" if last[2] else "?"
    return "\n".join([
        "zonefacts run: up to date, nothing to do",
        f"  inbox         {inbox}: {len(paths)} files, unchanged since run {last[1][:12]} ({finished} UTC)",
        "  nothing read, nothing loaded; --rescan reads every file anyway",
        f"  warehouse     {warehouse}",
    ])


def cmd_run(args: argparse.Namespace) -> int:
    from flows.settings import load_settings

    settings = load_settings().with_overrides(
        inbox=Path(args.inbox) if args.inbox else None,
        warehouse=Path(args.warehouse) if args.warehouse else None,
        max_file_bytes=args.max_file_bytes, batch_documents=args.batch_documents,
        lock_wait_seconds=args.lock_wait,
    )
    fault = os.environ.get("ZONEFACTS_FAULT") or None
    if not settings.inbox.is_dir():
        _err(f"zonefacts: inbox {settings.inbox} is not a directory")
        return EXIT_USAGE

    if not (args.rescan or fault or args.task_runner == "dask" or args.dask_address):
        try:
            report = _up_to_date(settings)
        except Exception:  # noqa: BLE001 - a damaged warehouse or inbox: the flow reports it properly
            report = None
        if report:
            print(report)
            return EXIT_OK

    if not args.rescan:
        from flows.validation_process import start_validation_process

        # GX imports in its own process while this one imports Prefect (and its temporary server
        # starts): ~6 s of the other core instead of this one's. A rescan usually finds nothing
        # new; the run starts it anyway at the first batch with new documents.
        start_validation_process()
    _quiet_prefect()
    from flows.pipeline import Fault, PipelineFailed, RunLocked, run_lock, zonefacts_run
    from flows.validation_process import settling_after
    from warehouse.store import WarehouseError

    try:
        Fault.parse(fault)
    except ValueError as exc:
        _err(f"zonefacts: ZONEFACTS_FAULT: {exc}")
        return EXIT_USAGE
    if not settings.lock_wait_seconds:
        # cheap early answer, before Prefect starts its server; the flow takes the lock for real
        try:
            with run_lock(settings.lock_path, 0):
                pass
        except RunLocked as exc:
            _err(f"zonefacts: {exc}")
            return EXIT_TEMPFAIL
    try:
        flow_fn = zonefacts_run
        if args.dask_address:  # an address means Dask
            args.task_runner = "dask"
        if args.task_runner == "dask":
            from flows.pipeline import dask_task_runner

            flow_fn = zonefacts_run.with_options(task_runner=dask_task_runner(args.dask_address))
        # the Data Docs render while the flow run ends; waited for before the summary
        with settling_after():
            summary = flow_fn(
                inbox=str(settings.inbox.resolve()), warehouse=str(settings.warehouse.resolve()),
                max_file_bytes=settings.max_file_bytes, batch_documents=settings.batch_documents,
                lock_wait_seconds=settings.lock_wait_seconds, fault=fault,
                task_runner=args.task_runner, dask_address=args.dask_address,
            )
    except PipelineFailed as exc:
        _print_summary(exc.summary)
        _err(f"zonefacts: run failed: {exc.summary.get('error')}")
        return EXIT_WAREHOUSE if exc.summary.get("error_type") == "WarehouseError" else EXIT_FAILED
    except WarehouseError as exc:
        _err(f"zonefacts: {exc}")
        return EXIT_WAREHOUSE
    except Exception as exc:  # noqa: BLE001 - orchestration trouble, e.g. Prefect's server did not start
        hint = ("" if os.environ.get("PREFECT_API_URL") else
                " (zonefacts starts Prefect's temporary local server; set PREFECT_API_URL to use a running one)")
        _err(f"zonefacts: run could not complete: {type(exc).__name__}: {exc}{hint}")
        return EXIT_FAILED
    if summary.get("status") == "skipped":
        _err(f"zonefacts: {summary.get('message')}")
        return EXIT_TEMPFAIL
    _print_summary(summary)
    return EXIT_OK


# --------------------------------------------------------------------------- sql


def _query_published(warehouse: Path, statements: list[str]) -> list[tuple[list[str], list[tuple]]]:
    from warehouse.store import open_published

    con = open_published(warehouse)
    try:
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        results = []
        for sql in statements:
            cur = con.execute(sql)
            columns = [d[0] for d in cur.description] if cur.description else []
            results.append((columns, cur.fetchall() if columns else []))
        return results
    finally:
        con.close()


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from flows.console import render
    from flows.settings import load_settings
    from warehouse.store import WarehouseError

    warehouse = Path(args.warehouse) if args.warehouse else load_settings().warehouse
    try:
        statements = duckdb.extract_statements(args.query)
    except duckdb.Error as exc:
        _err(f"zonefacts sql: cannot parse the query: {exc}")
        return EXIT_USAGE
    if not statements:
        _err("zonefacts sql: empty query")
        return EXIT_USAGE
    for stmt in statements:
        kind = stmt.type.name
        if kind not in _READ_STATEMENTS:
            _err(f"zonefacts sql: refused {kind.replace('_', ' ')} statement: `zonefacts sql` only reads "
                 f"the published snapshot ({_READ_HINT}). The warehouse is changed only by `zonefacts run`.")
            return EXIT_USAGE
    try:
        results = _query_published(warehouse, [s.query for s in statements])
    except WarehouseError as exc:
        _err(f"zonefacts sql: {exc}")
        return EXIT_WAREHOUSE
    except duckdb.PermissionException as exc:
        _err(f"zonefacts sql: refused: file and network access is disabled in `zonefacts sql` "
             f"(only the warehouse tables can be read). DuckDB said: {exc}")
        return EXIT_USAGE
    except duckdb.Error as exc:
        text = str(exc)
        if "read-only" in text:
            _err(f"zonefacts sql: refused: the published warehouse is opened read-only. DuckDB said: {text}")
        else:
            _err(f"zonefacts sql: query failed: {text}")
        return EXIT_USAGE
    outputs = [render(cols, rows, args.format) for cols, rows in results if cols]
    if outputs:
        print("\n\n".join(outputs))
    return EXIT_OK


# --------------------------------------------------------------------------- validate


def cmd_validate(args: argparse.Namespace) -> int:
    """The warehouse suites on demand: same lock, working file and publish as a run."""
    import uuid
    from datetime import datetime, timezone

    from flows.pipeline import RunLocked, publish_stage, quality_stage, run_lock
    from flows.settings import load_settings
    from flows.validation import UnwalkedList
    from warehouse.store import WarehouseError

    settings = load_settings().with_overrides(warehouse=Path(args.warehouse) if args.warehouse else None)
    if not settings.warehouse.exists():
        _err(f"zonefacts: {settings.warehouse} does not exist yet: run `zonefacts run` first.")
        return EXIT_WAREHOUSE
    run_id = "validate-" + uuid.uuid4().hex[:12]
    try:
        with run_lock(settings.lock_path, settings.lock_wait_seconds):
            quality = quality_stage(str(settings.work_path), str(settings.warehouse), run_id, UnwalkedList(),
                                    str(settings.data_docs_dir), settings.alerts, datetime.now(timezone.utc),
                                    settings.coverage)
            publish_stage(str(settings.work_path), str(settings.warehouse))
    except RunLocked as exc:
        _err(f"zonefacts: {exc}")
        return EXIT_TEMPFAIL
    except WarehouseError as exc:
        _err(f"zonefacts: {exc}")
        return EXIT_WAREHOUSE
    print(f"zonefacts validate {run_id}: {quality['expectations_evaluated']} expectations, "
          f"{len(quality['failed'])} failed")
    for failed in quality["failed"]:
        print(f"    {failed['severity']:<7} {failed['suite']}.{failed['expectation']} "
              f"({failed['unexpected_count']} rows)")
    if quality["data_docs"]:
        print(f"  data docs     {quality['data_docs']}")
    return EXIT_OK


# --------------------------------------------------------------------------- status


def cmd_status(args: argparse.Namespace) -> int:
    import duckdb

    from flows.console import render
    from flows.settings import load_settings
    from warehouse.store import WarehouseError, open_published

    warehouse = Path(args.warehouse) if args.warehouse else load_settings().warehouse
    try:
        con = open_published(warehouse)
    except WarehouseError as exc:
        _err(f"zonefacts status: {exc}")
        return EXIT_WAREHOUSE
    try:
        documents = con.execute("SELECT count(*) FROM documents").fetchall()[0][0]
        facts = con.execute("SELECT count(*) FROM fact_observation").fetchall()[0][0]
        runs = con.execute("""
            SELECT strftime(started_at, '%Y-%m-%d %H:%M:%S') AS started, status,
                   documents_seen AS seen, documents_new AS new, documents_skipped AS skipped,
                   documents_quarantined AS quarantined, observations_loaded AS observations,
                   expectations_failed AS expectations,
                   round(epoch(finished_at) - epoch(started_at), 1) AS seconds,
                   left(run_id, 12) AS run_id
            FROM pipeline_runs ORDER BY started_at DESC LIMIT ?""", [args.runs])
        run_cols = [d[0] for d in runs.description]
        run_rows = runs.fetchall()
        total_q = con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0]
        quarantine = con.execute("""
            SELECT path, reason, detail, stage,
                   strftime(max(quarantined_at), '%Y-%m-%d %H:%M:%S') AS last_seen
            FROM quarantine GROUP BY path, reason, detail, stage
            ORDER BY path NULLS LAST, reason LIMIT ?""", [args.quarantine_limit])
        q_cols = [d[0] for d in quarantine.description]
        q_rows = quarantine.fetchall()
    except duckdb.Error as exc:
        _err(f"zonefacts status: {warehouse} cannot be read as a zonefacts warehouse: {exc}")
        return EXIT_WAREHOUSE
    finally:
        con.close()
    print(f"warehouse {warehouse}: {documents} documents, {facts} observations")
    print()
    print(f"last {len(run_rows)} runs")
    print(render(run_cols, run_rows))
    print()
    print(f"quarantine ({total_q} rows)")
    print(render(q_cols, q_rows))
    if len(q_rows) >= args.quarantine_limit:
        print(f"… showing the first {args.quarantine_limit}; query the quarantine table for all of them")
    return EXIT_OK


# --------------------------------------------------------------------------- serve / export / report / shell


def cmd_serve(args: argparse.Namespace) -> int:
    from flows.settings import load_settings

    settings = load_settings().with_overrides(
        inbox=Path(args.inbox) if args.inbox else None,
        warehouse=Path(args.warehouse) if args.warehouse else None)
    if args.cron is not None and args.interval is not None:
        _err("zonefacts serve: give --cron or --interval, not both")
        return EXIT_USAGE
    if args.interval is not None and args.interval <= 0:
        _err("zonefacts serve: --interval must be a positive number of seconds")
        return EXIT_USAGE
    if not settings.inbox.is_dir():
        _err(f"zonefacts serve: inbox {settings.inbox} is not a directory")
        return EXIT_USAGE
    _quiet_prefect()
    from flows.serve import serve

    try:
        return serve(inbox=settings.inbox, warehouse=settings.warehouse,
                     cron=None if args.interval is not None else (args.cron or "0 7 * * *"),
                     interval=args.interval, timezone=args.timezone,
                     max_file_bytes=settings.max_file_bytes, batch_documents=settings.batch_documents,
                     lock_wait_seconds=args.lock_wait or 0.0)
    except (RuntimeError, ValueError) as exc:
        _err(f"zonefacts serve: {exc}")
        return EXIT_FAILED


def cmd_export(args: argparse.Namespace) -> int:
    import duckdb

    from flows.export import export_warehouse
    from flows.settings import load_settings
    from warehouse.store import WarehouseError

    warehouse = Path(args.warehouse) if args.warehouse else load_settings().warehouse
    try:
        written = export_warehouse(warehouse, Path(args.dir), args.format)
    except ValueError as exc:
        _err(f"zonefacts export: {exc}")
        return EXIT_USAGE
    except WarehouseError as exc:
        _err(f"zonefacts export: {exc}")
        return EXIT_WAREHOUSE
    except (OSError, duckdb.Error) as exc:
        _err(f"zonefacts export: could not write to {args.dir}: {exc}")
        return EXIT_FAILED
    for item in written:
        print(f"{item.rows:>9} rows  {item.path}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    import duckdb

    from flows.report import write_report
    from flows.settings import load_settings
    from warehouse.store import WarehouseError

    warehouse = Path(args.warehouse) if args.warehouse else load_settings().warehouse
    try:
        target = write_report(warehouse, Path(args.out))
    except WarehouseError as exc:
        _err(f"zonefacts report: {exc}")
        return EXIT_WAREHOUSE
    except (OSError, duckdb.Error) as exc:
        _err(f"zonefacts report: {exc}")
        return EXIT_FAILED
    print(f"zonefacts report: {target}")
    return EXIT_OK


def _shell_statements(text: str) -> tuple[list[str] | None, str | None]:
    """Parse and check one `zonefacts shell` input with the rules of `zonefacts sql`."""
    import duckdb

    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as exc:
        return None, f"cannot parse the query: {exc}"
    for stmt in statements:
        if stmt.type.name not in _READ_STATEMENTS:
            return None, (f"refused {stmt.type.name.replace('_', ' ')} statement: the shell only reads the "
                          f"published snapshot ({_READ_HINT})")
    return [s.query for s in statements], None


def cmd_shell(args: argparse.Namespace) -> int:
    """A minimal read-only REPL on the published snapshot: statements end with `;`,
    `.quit` or end of input leaves. Same refusal rules as `zonefacts sql`."""
    import duckdb

    from flows.console import render
    from flows.settings import load_settings
    from warehouse.store import WarehouseError, open_published

    warehouse = Path(args.warehouse) if args.warehouse else load_settings().warehouse
    try:
        con = open_published(warehouse)
    except WarehouseError as exc:
        _err(f"zonefacts shell: {exc}")
        return EXIT_WAREHOUSE
    interactive = sys.stdin.isatty()
    errors = 0
    try:
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
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
            statements, problem = _shell_statements(text)
            if problem:
                _err(f"zonefacts shell: {problem}")
                errors += 1
                continue
            for sql in statements:
                try:
                    cur = con.execute(sql)
                    cols = [d[0] for d in cur.description] if cur.description else []
                    rows = cur.fetchall() if cols else []
                except duckdb.PermissionException as exc:
                    _err(f"zonefacts shell: refused: file and network access is disabled. DuckDB said: {exc}")
                    errors += 1
                    break
                except duckdb.Error as exc:
                    _err(f"zonefacts shell: query failed: {exc}")
                    errors += 1
                    break
                if cols:
                    print(render(cols, rows, args.format), flush=True)
        if buffer and "".join(buffer).strip():
            _err("zonefacts shell: input ended inside a statement (missing ';'); it was not run")
            errors += 1
    finally:
        con.close()
    if interactive:
        print()
    return EXIT_OK if not errors or interactive else EXIT_USAGE


def _add_analyst_commands(sub, wh_help: str) -> None:
    serve = sub.add_parser("serve", help="run the pipeline on a schedule (Prefect deployment)")
    serve.add_argument("--cron", help='cron schedule (default "0 7 * * *")')
    serve.add_argument("--interval", type=float, metavar="SECONDS", help="run every SECONDS instead of a cron")
    serve.add_argument("--timezone", default="Asia/Shanghai", help="time zone of the schedule (default Asia/Shanghai)")
    serve.add_argument("--inbox", help="directory of news files (default: $ZONEFACTS_INBOX or ./samples)")
    serve.add_argument("--warehouse", help=wh_help)
    serve.add_argument("--lock-wait", type=float, metavar="SECONDS",
                       help="a run waits this long for a running one before it is skipped")
    serve.set_defaults(func=cmd_serve)

    export = sub.add_parser("export", help="write every view and table of the published warehouse to DIR")
    export.add_argument("dir")
    export.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    export.add_argument("--warehouse", help=wh_help)
    export.set_defaults(func=cmd_export)

    report = sub.add_parser("report", help="write a static offline HTML report (index.html)")
    report.add_argument("--out", default="report", help="output directory (default ./report)")
    report.add_argument("--warehouse", help=wh_help)
    report.set_defaults(func=cmd_report)

    shell = sub.add_parser("shell", help="interactive read-only SQL prompt on the published warehouse")
    shell.add_argument("--warehouse", help=wh_help)
    shell.add_argument("--format", choices=("table", "csv", "json"), default="table")
    shell.set_defaults(func=cmd_shell)


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zonefacts", description="Regional-economy news text → DuckDB warehouse of indicator facts.",
        epilog="exit codes: 0 ok, 1 run failed, 2 usage/refused query, 3 warehouse error, "
               "75 another run holds the lock")
    sub = parser.add_subparsers(dest="command", required=True)
    wh_help = "warehouse file (default: $ZONEFACTS_WAREHOUSE or ./zonefacts.duckdb)"

    run = sub.add_parser("run", help="ingest the inbox into the warehouse and publish it")
    run.add_argument("--inbox", help="directory of news files (default: $ZONEFACTS_INBOX or ./samples)")
    run.add_argument("--warehouse", help=wh_help)
    run.add_argument("--max-file-bytes", type=int, help="files larger than this are quarantined")
    run.add_argument("--batch-documents", type=int, help="files per batch (one task run per stage per batch)")
    run.add_argument("--lock-wait", type=float, metavar="SECONDS",
                     help="wait this long for a concurrent run to finish before giving up (exit 75)")
    run.add_argument("--rescan", action="store_true",
                     help="read every file even when the inbox is unchanged since the last complete run")
    run.add_argument("--task-runner", choices=("default", "dask"), default="default",
                     help="where extraction runs: a pool of threads in this process (default) or Dask (prefect-dask)")
    run.add_argument("--dask-address", metavar="tcp://HOST:8786",
                     help="with --task-runner dask: an existing Dask scheduler (default: a local "
                          "cluster of 2 worker processes)")
    run.set_defaults(func=cmd_run)

    sql = sub.add_parser("sql", help="run a read-only query on the published warehouse")
    sql.add_argument("query")
    sql.add_argument("--warehouse", help=wh_help)
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.set_defaults(func=cmd_sql)

    status = sub.add_parser("status", help="last runs and the quarantine")
    status.add_argument("--warehouse", help=wh_help)
    status.add_argument("--runs", type=int, default=10, help=argparse.SUPPRESS)
    status.add_argument("--quarantine-limit", type=int, default=200, help=argparse.SUPPRESS)
    status.set_defaults(func=cmd_status)

    validate = sub.add_parser("validate", help="re-run the warehouse suites, record them and alert on new failures")
    validate.add_argument("--warehouse", help=wh_help)
    validate.set_defaults(func=cmd_validate)
    _add_analyst_commands(sub, wh_help)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _err(f"zonefacts: interrupted after {time.monotonic() - started:.1f} s")
        return 130
    except BrokenPipeError:
        return EXIT_OK


def exit_without_teardown(code: int | None) -> typing.NoReturn:
    """Exit the process once a command is done, without tearing the interpreter down.

    Freeing the modules one by one (GX, Prefect, pandas) takes about 2 s on a small machine
    and does nothing the OS does not do at exit. The exit handlers still run first (Prefect's
    event and log flushes, logging, thread pools), and the streams are flushed; only the
    module teardown is skipped."""
    try:
        atexit._run_exitfuncs()   # CPython runs these at exit; os._exit alone would skip them
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(int(code or 0))


def console_main() -> None:
    """The ``zonefacts`` command: ``main``, then ``exit_without_teardown``."""
    exit_without_teardown(main())


if __name__ == "__main__":
    console_main()
