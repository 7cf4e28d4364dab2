"""The validate and quality stages: the GX suites before and after the load.

observations → validated facts (``validate_stage``: the batch suites, rejects to the
quarantine) and warehouse → alerts (``quality_stage``: the warehouse suite, Data Docs,
alerts, ``dq_results``).

Both run in the validation process once it is started (flows/validation_process.py);
until then (unit tests, ``zonefacts validate``) they run in this process.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from flows.alerts import send_alerts
from flows.settings import AlertSettings, CoverageThresholds, ReextractionThresholds
from flows.validation_process import after_reply, run_in_validation_process
from transforms.extract import OBSERVATION_SCHEMA
from transforms.vocabulary import Vocabulary
from warehouse import store
from warehouse.staging import stage_batch, staged_files

log = logging.getLogger("zonefacts.validation")

# Column order/types of the staged ``quarantine`` table (see warehouse/sql/001_raw.sql).
QUARANTINE_STAGED_SCHEMA = {
    "stage": pl.String, "path": pl.String, "document_id": pl.String,
    "reason": pl.String, "detail": pl.String, "payload": pl.Binary,
}

STAGED_OBSERVATION_SCHEMA = {**OBSERVATION_SCHEMA, "dq_flags": pl.List(pl.String)}

# The validate stage stages flush N as batch VALIDATED_BATCH + N, after every extracted batch.
VALIDATED_BATCH = 100_000


class UnwalkedList:
    """A list as a task parameter or in a task's result that Prefect does not walk: it visits
    every item of a list or dataclass (and every field of each), before and after each task run.
    For a run's expectation results that was ~0.5 s per validate or quality task, on the flow's
    thread. A plain class on purpose, as ``flows.stages.KnownDocuments``."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable = ()) -> None:
        self.items = list(items)

    def extend(self, more: Iterable) -> None:
        self.items.extend(more)

    def __iter__(self) -> Iterator:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class ValidationResult:
    observations: int                 # clean rows staged (with dq_flags)
    quarantine: pl.DataFrame          # rejected records (QUARANTINE_STAGED_SCHEMA, stage='validation'), also staged
    expectations_failed: list[str] = field(default_factory=list)
    results: UnwalkedList = field(default_factory=UnwalkedList)   # expectations.results.ExpectationResult


# --------------------------------------------------------------------------- stages


def validated_observation_files(staging: str | Path) -> list[Path]:
    """The clean observations the validations have staged so far, in flush order."""
    return staged_files(staging, "observations", first_batch=VALIDATED_BATCH)


def validate_stage(staging: str, observation_files: list[str], entities: pl.DataFrame,
                   document_stats: pl.DataFrame, vocabulary: Vocabulary, flush_no: int = 0) -> ValidationResult:
    """The batch suites (expectations/) over the observations (staged unvalidated, as parquet
    ``observation_files``) and documents gathered since the last flush. Error-severity failures go
    to the quarantine, warning-severity ones stay on the rows as ``dq_flags``; both are staged for
    the load, and the unvalidated files removed. GX has a fixed cost per validation, so a run
    validates once, or once per ``VALIDATE_EVERY_OBSERVATIONS`` rows, not once per batch."""
    return run_in_validation_process(_validate, staging, observation_files, entities, document_stats,
                                     vocabulary, flush_no)


def _validate(staging: str, observation_files: list[str], entities: pl.DataFrame, document_stats: pl.DataFrame,
              vocabulary: Vocabulary, flush_no: int) -> ValidationResult:
    from expectations.suites import validate_document_stats, validate_observations

    observations = (pl.read_parquet(observation_files) if observation_files
                    else pl.DataFrame(schema=OBSERVATION_SCHEMA))
    checked = validate_observations(observations, vocabulary, entities)
    # samples name the document by its path, as the documents suite does, not by its sha256
    paths = dict(document_stats.select("document_id", "document").iter_rows()) if document_stats.height else {}
    named = [replace(r, sample=[{**s, "document": paths.get(s.get("document"), s.get("document"))} for s in r.sample])
             for r in checked.results]
    results = named + (validate_document_stats(document_stats) if document_stats.height else [])
    clean = checked.clean.select(list(STAGED_OBSERVATION_SCHEMA)).cast(STAGED_OBSERVATION_SCHEMA)
    quarantine = checked.quarantined.cast(QUARANTINE_STAGED_SCHEMA)
    stage_batch(staging, VALIDATED_BATCH + flush_no, {"observations": clean, "quarantine": quarantine})
    for path in observation_files:
        Path(path).unlink(missing_ok=True)
    return ValidationResult(clean.height, quarantine, [r.expectation for r in results if not r.success],
                            UnwalkedList(results))


def quality_stage(work: str, warehouse: str, run_id: str, batch_results: UnwalkedList, data_docs_dir: str,
                  alert_settings: AlertSettings, started_at: datetime, coverage: CoverageThresholds,
                  reextraction: ReextractionThresholds = ReextractionThresholds()) -> dict:
    """After the load: the warehouse suite, Data Docs, alerts for new failures, and the
    results in dq_runs/dq_results. A failing channel is recorded, never raised. The Data Docs are
    rendered after the stage has answered (``after_reply``): a failure to render them is logged,
    and their index then shows the runs rendered before."""
    return run_in_validation_process(_quality, work, warehouse, run_id, batch_results, data_docs_dir,
                                     alert_settings, started_at, coverage, reextraction)


# In the validation process: the Data Docs validations made ahead of the quality stage
# and rendered (``prepare_data_docs``), by (data_docs_dir, run_id): the GX run identifier and the
# suites. One run at a time; the quality stage takes them.
_PREPARED_DOCS: dict[tuple[str, str], tuple[Any, set[str]]] = {}


def prepare_data_docs(batch_results: UnwalkedList, data_docs_dir: str, run_id: str) -> None:
    """Validate the batch suites' kept failing rows for the run's Data Docs, and render their
    pages, while the run loads: the validation process is otherwise idle then. The quality
    stage adds the warehouse suite's pages and the index; a failure here is logged and that
    stage validates and renders these suites too."""
    run_in_validation_process(_prepare_data_docs, batch_results, data_docs_dir, run_id)


def _prepare_data_docs(batch_results: UnwalkedList, data_docs_dir: str, run_id: str) -> None:
    _PREPARED_DOCS.clear()
    after_reply(_validate_for_docs, list(batch_results), data_docs_dir, run_id)


def _validate_for_docs(results: list, data_docs_dir: str, run_id: str) -> None:
    from expectations.suites import docs_run, render_data_docs, validate_for_docs

    try:
        run = docs_run(run_id)
        identifiers = validate_for_docs(results, data_docs_dir, run)
        render_data_docs(data_docs_dir, identifiers, index=False)   # the index once the run's pages are all in
    except Exception as exc:  # noqa: BLE001 - the docs are a view of the results, not the results
        log.warning("could not validate or render the Data Docs in %s: %s", data_docs_dir, exc)
        return
    _PREPARED_DOCS[data_docs_dir, run_id] = (run, {r.suite for r in results})


def _build_data_docs(results: list, data_docs_dir: str, run_id: str) -> None:
    from expectations.suites import docs_run, render_data_docs, validate_for_docs

    run, done = _PREPARED_DOCS.pop((data_docs_dir, run_id), (None, set()))
    _PREPARED_DOCS.clear()
    try:
        rest = [r for r in results if r.suite not in done]
        render_data_docs(data_docs_dir, validate_for_docs(rest, data_docs_dir, run or docs_run(run_id)))
    except Exception as exc:  # noqa: BLE001 - the docs are a view of the results, not the results
        log.warning("could not build Data Docs in %s: %s", data_docs_dir, exc)


def _quality(work: str, warehouse: str, run_id: str, batch_results: UnwalkedList, data_docs_dir: str,
             alert_settings: AlertSettings, started_at: datetime, coverage: CoverageThresholds,
             reextraction: ReextractionThresholds) -> dict:
    from expectations.record import already_alerted, record_results
    from expectations.results import failures, merge_results
    from expectations.suites import data_docs_index, validate_warehouse

    con = store.open_work(Path(warehouse), Path(work))
    try:
        results = merge_results([*batch_results, *validate_warehouse(con, coverage, reextraction)])
        # rendered once this stage has answered: the run publishes and ends meanwhile
        docs = str(data_docs_index(Path(data_docs_dir)))
        after_reply(_build_data_docs, results, data_docs_dir, run_id)
        outcome = send_alerts(alert_settings, run_id, results, docs, already_alerted(con))
        con.execute("BEGIN TRANSACTION")
        record_results(con, run_id, results, docs, outcome, started_at=started_at,
                       finished_at=datetime.now(timezone.utc).replace(tzinfo=None))
        failed = failures(results)
        con.execute("UPDATE pipeline_runs SET expectations_failed = ? WHERE run_id = ?", [len(failed), run_id])
        con.execute("COMMIT")
    finally:
        con.close()
    return {
        "expectations_evaluated": len(results),
        "failed": [{"suite": r.suite, "expectation": r.expectation, "severity": r.severity,
                    "unexpected_count": r.unexpected_count} for r in failed],
        "data_docs": docs, "alerts_sent": len(outcome.sent), "alert_errors": list(outcome.errors),
    }

