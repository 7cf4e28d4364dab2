"""Store a data-quality run in the warehouse (tables of warehouse/sql/004_quality.sql).

Every value goes in as a query parameter; nothing is formatted into SQL.
"""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

from expectations.results import ERROR, WARNING, ExpectationResult, merge_results


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def already_alerted(con) -> set[str]:
    """Fingerprints of failures already sent (pass as ``already_sent`` to flows.alerts.send_alerts)."""
    return {row[0] for row in con.execute("SELECT fingerprint FROM alert_log").fetchall()}


def record_results(
    con,
    run_id: str,
    results: Iterable[ExpectationResult],
    data_docs_path: str | None = None,
    alerts: Any = None,
    *,
    started_at: _dt.datetime | None = None,
    finished_at: _dt.datetime | None = None,
) -> dict[str, int]:
    """Insert one run into dq_runs / dq_results and the alerts it sent into alert_log.

    ``results`` may hold several results per (suite, expectation) (one per batch): they are
    merged first. ``alerts`` is a ``flows.alerts.AlertOutcome`` (or None): its ``sent`` and
    ``errors`` go into dq_runs, its ``fingerprints`` into alert_log. Re-recording a run id
    replaces that run's rows. Returns the counts stored in dq_runs.
    """
    merged: Sequence[ExpectationResult] = merge_results(results)
    now = _utcnow()
    started_at = started_at or now
    finished_at = finished_at or now
    suites = sorted({r.suite for r in merged})
    failed_error = sum(1 for r in merged if not r.success and r.severity == ERROR)
    failed_warning = sum(1 for r in merged if not r.success and r.severity == WARNING)
    sent = list(getattr(alerts, "sent", []) or [])
    errors = list(getattr(alerts, "errors", []) or [])
    fingerprints = sorted(getattr(alerts, "fingerprints", set()) or set())
    channels = ",".join(sorted({str(s.get("channel")) for s in sent if isinstance(s, dict) and s.get("channel")})) \
        or "unknown"

    con.execute("DELETE FROM dq_results WHERE run_id = ?", [run_id])
    con.execute(
        """INSERT INTO dq_runs (run_id, started_at, finished_at, suites, expectations_evaluated, failed_error,
                                failed_warning, data_docs_path, alerts_sent, alert_errors)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (run_id) DO UPDATE SET finished_at = excluded.finished_at, suites = excluded.suites,
               expectations_evaluated = excluded.expectations_evaluated, failed_error = excluded.failed_error,
               failed_warning = excluded.failed_warning, data_docs_path = excluded.data_docs_path,
               alerts_sent = excluded.alerts_sent, alert_errors = excluded.alert_errors""",
        [run_id, started_at, finished_at, suites, len(merged), failed_error, failed_warning,
         None if data_docs_path is None else str(data_docs_path), _json(sent), _json(errors)],
    )
    if merged:
        con.executemany(
            """INSERT INTO dq_results (run_id, suite, expectation, severity, success, unexpected_count, sample,
                                       fingerprint)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            [[run_id, r.suite, r.expectation, r.severity, bool(r.success), int(r.unexpected_count),
              _json(r.sample), r.fingerprint] for r in merged],
        )
    if fingerprints:
        con.executemany(
            """INSERT INTO alert_log (fingerprint, first_sent_at, last_sent_at, channel) VALUES (?, ?, ?, ?)
               ON CONFLICT (fingerprint) DO UPDATE SET last_sent_at = excluded.last_sent_at,
                   channel = excluded.channel""",
            [[f, now, now, channels] for f in fingerprints],
        )
    return {"expectations_evaluated": len(merged), "failed_error": failed_error, "failed_warning": failed_warning}
