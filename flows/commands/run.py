"""``zonefacts run``: one flow run over the inbox, or "up to date" without one; prints the summary.

A run that fails prints its summary and one error line (exit 1); a warehouse it cannot use is
one line naming the file and the recovery (exit 3, nothing printed before it); another run
holding the lock is exit 75. ``run_flow`` is the flow run itself, also for ``zonefacts reextract``.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from flows import collector
from flows.commands.options import Options, files_of, settings_of
from flows.errors import EXIT_FAILED, EXIT_OK, EXIT_TEMPFAIL, EXIT_WAREHOUSE, CommandError, explain, misplaced


def register(sub, options: Options) -> None:
    run = sub.add_parser("run", parents=options.parents("inbox", "lock_wait"),
                         help="ingest the inbox into the warehouse and publish it")
    run.add_argument("--max-file-bytes", type=int, help="files larger than this are quarantined")
    run.add_argument("--batch-documents", type=int, help="files per batch (one task run per stage per batch)")
    run.add_argument("--rescan", action="store_true",
                     help="read every file even when the inbox is unchanged since the last complete run")
    run.add_argument("--reextract", action="store_true",
                     help="extract every stored document again, not only those an earlier vocabulary or "
                          "extractor read (`zonefacts reextract --documents GLOB` for some of them)")
    run.add_argument("--task-runner", choices=("default", "dask"), default="default",
                     help="where extraction runs: a pool of threads in this process (default) or Dask (prefect-dask)")
    run.add_argument("--dask-address", metavar="tcp://HOST:8786",
                     help="with --task-runner dask: an existing Dask scheduler (default: a local "
                          "cluster of 2 worker processes)")
    run.set_defaults(handler=cmd_run, writes=True)


def print_summary(summary: dict) -> None:
    reasons = summary.get("quarantine_reasons") or {}
    reason_text = ", ".join(f"{k}: {v}" for k, v in reasons.items())
    # what changed in the facts, per cause ("re-extraction under <fingerprint>: 4 added, …"), and
    # the corrections ("corrections: 5 applied", then each one that does nothing)
    changes = _labelled("facts", summary.get("fact_changes") or [])
    corrections = [line.removeprefix("corrections: ") for line in summary.get("corrections") or []]
    changes += _labelled("corrections", corrections)
    lines = [
        f"zonefacts run {summary.get('run_id', '?')[:12]}: {summary.get('status')}",
        f"  documents     seen {summary.get('documents_seen', 0)}, new {summary.get('documents_new', 0)}, "
        f"skipped {summary.get('documents_skipped', 0)}, quarantined {summary.get('documents_quarantined', 0)}"
        + (f" ({reason_text})" if reason_text else ""),
        *([f"  re-extracted  {summary['documents_reextracted']} stored documents"]
          if summary.get("documents_reextracted") else []),
        f"  observations  loaded {summary.get('observations_loaded', 0)} "
        f"(extracted {summary.get('observations_extracted', 0)})",
        *changes,
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


def _labelled(label: str, lines: list[str]) -> list[str]:
    return [f"  {label if i == 0 else '':<13} {line}" for i, line in enumerate(lines)]


def up_to_date(settings) -> str | None:
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
    from flows.stages import extractor_inputs
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
    inputs = extractor_inputs(settings)    # a changed vocabulary or corrections file is work to do
    salt = listing_salt(settings.max_file_bytes, inputs.fingerprint, inputs.corrections.digest)
    listing = listing_fingerprint(inbox, stat_listing(inbox, paths), salt=salt)
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
    settings = settings_of(args)
    problem = misplaced(settings.warehouse)
    if problem:   # before Prefect's import and server: nothing could be written there
        raise CommandError(problem, EXIT_WAREHOUSE)
    if args.dask_address:  # an address means Dask
        args.task_runner = "dask"
    if not (args.rescan or args.reextract or args.task_runner == "dask"):
        try:
            report = up_to_date(settings)
        except Exception:  # noqa: BLE001 - a damaged warehouse or inbox: the flow reports it properly
            report = None
        if report:
            print(report)
            return EXIT_OK
    # --reextract: the glob that matches every stored document's path
    return run_flow(args, settings, reextract="*" if args.reextract else None, task_runner=args.task_runner,
                    dask_address=args.dask_address, warm_validation=args.reextract or not args.rescan)


def run_flow(args: argparse.Namespace, settings, *, reextract: str | None = None, read_inbox: bool = True,
             task_runner: str = "default", dask_address: str | None = None, warm_validation: bool = True) -> int:
    """One ``zonefacts_run`` flow run with these settings; prints its summary (exit 0), or raises
    the ``CommandError`` of a failed (1), locked (75) or unusable-warehouse (3) run."""
    if not settings.lock_wait_seconds:
        # a cheap early answer, before Prefect is imported and starts its server: another run
        # holds the lock, or no lock can be made there (read-only, /proc); the flow takes it for real
        from flows.locking import RunLocked, run_lock

        try:
            with run_lock(settings.lock_path, 0):
                pass
        except RunLocked as exc:
            raise CommandError(str(exc), EXIT_TEMPFAIL) from exc
    if warm_validation:
        from flows.validation_process import start_validation_process

        # GX imports in its own process while this one imports Prefect (and its temporary server
        # starts): ~6 s of the other core instead of this one's. A rescan usually finds nothing
        # new; the run starts it anyway at the first batch with new documents.
        start_validation_process()
    from flows.commands.prefect_env import defer_block_types, one_off_run, prepare_prefect

    defer_block_types()
    prepare_prefect(verbose=args.verbose, quiet_runs=True)
    from flows.pipeline import PipelineFailed, zonefacts_run
    from flows.validation_process import settling_after

    collector.freeze_imports()

    flow_fn = zonefacts_run
    if task_runner == "dask":
        from flows.pipeline import dask_task_runner

        flow_fn = zonefacts_run.with_options(task_runner=dask_task_runner(dask_address))
    try:
        with held_warnings(args.verbose) as succeeded:
            # the Data Docs render while the flow run ends; waited for before the summary
            with settling_after(), one_off_run():
                summary = flow_fn(
                    inbox=str(settings.inbox.resolve()), warehouse=str(settings.warehouse.resolve()),
                    max_file_bytes=settings.max_file_bytes, batch_documents=settings.batch_documents,
                    lock_wait_seconds=settings.lock_wait_seconds,
                    task_runner=task_runner, dask_address=dask_address, reextract=reextract,
                    read_inbox=read_inbox, corrections=str(settings.corrections) if settings.corrections else None,
                )
            succeeded()
    except PipelineFailed as exc:
        unusable = explain(exc, files_of(args))
        if unusable is not None:
            raise unusable from exc
        print_summary(exc.summary)
        raise CommandError(f"run failed: {exc.summary.get('error')}", EXIT_FAILED) from exc
    except Exception as exc:
        if explain(exc, files_of(args)) is not None:
            raise
        # orchestration trouble, e.g. Prefect's server did not start
        hint = ("" if os.environ.get("PREFECT_API_URL") else
                " (zonefacts starts Prefect's temporary local server; set PREFECT_API_URL to use a running one)")
        raise CommandError(f"run could not complete: {type(exc).__name__}: {exc}{hint}", EXIT_FAILED) from exc
    if summary.get("status") == "skipped":
        raise CommandError(summary.get("message"), EXIT_TEMPFAIL)
    print_summary(summary)
    return EXIT_OK


@contextmanager
def held_warnings(verbose: bool) -> Iterator:
    """Hold zonefacts' own log records of a quiet run until it ends: shown after the run when it
    succeeds (call the yielded function), dropped when it fails, whose one error line says what
    matters (a run on a damaged snapshot would also warn that it could not record the failure
    in the working file). With ``--verbose`` they are shown as they come."""
    import logging
    from logging.handlers import BufferingHandler

    if verbose:
        yield lambda: None
        return
    logger = logging.getLogger("zonefacts")
    held = BufferingHandler(capacity=10_000)
    done = []
    logger.addHandler(held)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield lambda: done.append(True)
    finally:
        logger.removeHandler(held)
        logger.propagate = propagate
        if done:
            for record in held.buffer:
                print(f"zonefacts run: {record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)
