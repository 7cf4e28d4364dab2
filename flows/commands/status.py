"""``zonefacts status``: the published snapshot's size, its last runs, what is in quarantine, and
how many analyst corrections do nothing."""
from __future__ import annotations

import argparse

from flows.commands.options import Options, existing_warehouse
from flows.errors import EXIT_OK, unreadable_snapshot


def register(sub, options: Options) -> None:
    status = sub.add_parser("status", parents=options.parents(), help="last runs and the quarantine")
    status.add_argument("--runs", type=int, default=10, help=argparse.SUPPRESS)
    status.add_argument("--quarantine-limit", type=int, default=200, help=argparse.SUPPRESS)
    status.set_defaults(handler=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    warehouse = existing_warehouse(args)
    import duckdb

    from flows.console import render
    from warehouse.store import open_published

    con = open_published(warehouse)
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
        idle = con.execute("SELECT count(*) FROM corrections_unmatched").fetchall()[0][0]
    except duckdb.Error as exc:
        raise unreadable_snapshot(exc, warehouse) from exc
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
    if idle:
        print()
        print(f"corrections that do nothing: {idle} (SELECT * FROM corrections_unmatched)")
    return EXIT_OK
