"""The run's own row in ``pipeline_runs``: what a run records of itself.

A successful run writes it inside the load's transaction (``insert_run_row`` from the load
stage), so it commits or rolls back with the data; a failed run writes it on its own and
publishes it (``record_failure``) so that `zonefacts status` shows the failure.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import duckdb

from flows.settings import Settings
from transforms.extract import EXTRACTOR_VERSION
from warehouse import store

log = logging.getLogger("zonefacts.pipeline")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def as_datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def new_summary(run_id: str, flow_run_id: str | None, settings: Settings) -> dict:
    """The summary of a run that begins: what it counts as it goes (the CLI prints it, and
    ``pipeline_runs.summary`` keeps it)."""
    return {
        "run_id": run_id, "flow_run_id": flow_run_id, "status": "running",
        "inbox": str(settings.inbox), "warehouse": str(settings.warehouse),
        "started_at": utcnow().isoformat(timespec="seconds"),
        "documents_seen": 0, "documents_new": 0, "documents_skipped": 0,
        "documents_quarantined": 0, "quarantine_reasons": {}, "quarantine_rows_new": 0,
        "observations_extracted": 0, "observations_loaded": 0, "defects": 0, "unmapped": 0,
        "entities_new": 0, "expectations_failed": 0, "batches": 0, "duration_seconds": 0.0,
        "documents_reextracted": 0, "fingerprint": None, "fact_changes": [], "corrections": [],
        "corrections_errors": [],
    }


def run_row(summary: dict, *, started_at, finished_at) -> dict:
    started_at, finished_at = as_datetime(started_at), as_datetime(finished_at)
    return {
        "run_id": summary["run_id"], "flow_run_id": summary["flow_run_id"],
        "started_at": started_at, "finished_at": finished_at, "status": summary["status"],
        "inbox": summary["inbox"], "documents_seen": summary["documents_seen"],
        "documents_new": summary["documents_new"], "documents_skipped": summary["documents_skipped"],
        "documents_quarantined": summary["documents_quarantined"],
        "observations_loaded": summary["observations_loaded"],
        "expectations_failed": summary["expectations_failed"],
        "summary": {**summary, "duration_seconds": round(
            (finished_at - started_at).total_seconds(), 3)},
    }


def insert_run_row(con: duckdb.DuckDBPyConnection, row: dict) -> None:
    con.execute(
        """INSERT INTO pipeline_runs (run_id, flow_run_id, started_at, finished_at, status, inbox,
               documents_seen, documents_new, documents_skipped, documents_quarantined,
               observations_loaded, expectations_failed, extractor_version, summary)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (run_id) DO UPDATE SET finished_at = excluded.finished_at,
               status = excluded.status, summary = excluded.summary""",
        [row["run_id"], row["flow_run_id"], row["started_at"], row["finished_at"], row["status"],
         row["inbox"], row["documents_seen"], row["documents_new"], row["documents_skipped"],
         row["documents_quarantined"], row["observations_loaded"], row["expectations_failed"],
         EXTRACTOR_VERSION, json.dumps(row["summary"], ensure_ascii=False, default=str)],
    )


def record_failure(settings: Settings, summary: dict) -> None:
    """Best effort: write the failed run's row and publish it so `zonefacts status` shows it.

    The data tables are unchanged (the load rolled back or never ran), so publishing is safe.
    """
    con = None
    try:
        con = store.open_work(settings.warehouse, settings.work_path)
        insert_run_row(con, run_row(summary, started_at=summary["started_at"], finished_at=summary["finished_at"]))
        con.close()
        con = None
        store.publish(settings.work_path, settings.warehouse)
    except Exception as exc:  # noqa: BLE001 - the original failure matters more
        log.warning("could not record the failed run in %s: %s", settings.work_path, exc)
    finally:
        if con is not None:
            try:
                con.close()
            except Exception:  # noqa: BLE001
                pass
