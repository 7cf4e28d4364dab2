"""The validate and quality stages, and the process Great Expectations runs in.

observations → validated facts (``validate_stage``: the batch suites, rejects to the
quarantine) and warehouse → alerts (``quality_stage``: the warehouse suite, Data Docs,
alerts, ``dq_results``).

Importing GX is ~6 s of pure-Python work that holds the GIL. Done in the run's own
process it stalls reading and extraction for that long, so ``start_validation_process()``
spawns one process that imports GX on the other core (while this one imports Prefect
and extracts) and both stages run there, their frames and results pickled across. Until
it is started (unit tests, ``zonefacts validate``), the stages run in this process.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import polars as pl

from flows.alerts import send_alerts
from flows.settings import AlertSettings
from transforms.extract import OBSERVATION_SCHEMA
from transforms.vocabulary import Vocabulary
from warehouse import store

log = logging.getLogger("zonefacts.validation")

# Column order/types of the staged ``quarantine`` table (see warehouse/sql/001_raw.sql).
QUARANTINE_STAGED_SCHEMA = {
    "stage": pl.String, "path": pl.String, "document_id": pl.String,
    "reason": pl.String, "detail": pl.String, "payload": pl.Binary,
}

# ZONEFACTS_VALIDATION_PROCESS=0 keeps GX in the run's own process (one process to debug).
_ENABLED = os.environ.get("ZONEFACTS_VALIDATION_PROCESS", "1") != "0"


STAGED_OBSERVATION_SCHEMA = {**OBSERVATION_SCHEMA, "dq_flags": pl.List(pl.String)}

# The validate stage stages flush N as batch VALIDATED_BATCH + N, after every extracted batch.
VALIDATED_BATCH = 100_000


@dataclass
class ValidationResult:
    observations: int                 # clean rows staged (with dq_flags)
    quarantine: pl.DataFrame          # rejected records (QUARANTINE_STAGED_SCHEMA, stage='validation'), also staged
    expectations_failed: list[str] = field(default_factory=list)
    results: list = field(default_factory=list)   # expectations.results.ExpectationResult


# --------------------------------------------------------------------------- the process


class ValidationProcessDied(RuntimeError):
    """The validation process exited under a stage (killed, out of memory)."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised in the validation process (its ``__cause__``)."""


_STAGES: dict[str, Callable] = {}   # what the validation process may be asked to run, by name


class _ValidationProcess:
    """A ``python -c`` child that imports GX at once, then runs stages sent as pickles over a
    pipe pair. Not ``multiprocessing``: its spawn re-imports the caller's ``__main__``, which
    breaks scripts without a main guard."""

    def __init__(self) -> None:
        request_r, request_w = os.pipe()
        response_r, response_w = os.pipe()
        code = ("import sys, json; sys.path[:] = json.loads(sys.argv[3]); "
                "from flows.validation import _serve; _serve(int(sys.argv[1]), int(sys.argv[2]))")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code, str(request_r), str(response_w), json.dumps(sys.path)],
                pass_fds=(request_r, response_w), stdin=subprocess.DEVNULL)
        finally:
            os.close(request_r)
            os.close(response_w)
        self.requests = os.fdopen(request_w, "wb")
        self.responses = os.fdopen(response_r, "rb")
        self.lock = threading.Lock()
        self.broken = False

    def call(self, name: str, *args: Any) -> Any:
        # pickled before the pipe is touched: an argument that does not pickle leaves it in step
        request = pickle.dumps((name, args), protocol=pickle.HIGHEST_PROTOCOL)
        with self.lock:
            if self.broken:
                raise ValidationProcessDied("the validation process was abandoned after an interrupted call")
            try:
                self.requests.write(request)
                self.requests.flush()
                ok, value = pickle.load(self.responses)
            except (OSError, EOFError, pickle.UnpicklingError) as exc:
                self.broken = True
                code = self.process.poll()
                raise ValidationProcessDied(
                    f"the validation process died during {name} (exit status {code}): {exc!r}") from None
            except BaseException:
                self.broken = True   # interrupted mid-exchange: its answer would be taken for the next call's
                raise
        if ok:
            return value
        exc, remote = value
        exc.__cause__ = RemoteTraceback(remote)
        raise exc

    def stop(self) -> None:
        for stream in (self.requests, self.responses):
            try:
                stream.close()
            except OSError:
                pass
        # idle, or still importing GX: nothing to finish, so no need to wait for a clean exit
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _serve(request_fd: int, response_fd: int) -> None:
    """The validation process: import GX, then answer requests until the pipe closes."""
    requests, responses = os.fdopen(request_fd, "rb"), os.fdopen(response_fd, "wb")
    # Ctrl-C reaches the whole process group: the run decides, and stops this process
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        from expectations.suites import warm_up

        warm_up()
    except Exception:  # noqa: BLE001 - the first stage raises it, with its traceback
        pass
    while True:
        try:
            name, args = pickle.load(requests)
        except EOFError:
            os._exit(0)   # the run is over (or died); nothing here to tear down
        try:
            reply = pickle.dumps((True, _STAGES[name](*args)), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:  # noqa: BLE001 - sent back and raised in the run
            remote = traceback.format_exc()
            try:
                reply = pickle.dumps((False, (exc, remote)), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - an exception that does not pickle travels as text
                reply = pickle.dumps((False, (RuntimeError(f"{type(exc).__name__}: {exc}"), remote)))
        try:
            responses.write(reply)
            responses.flush()
        except OSError:
            os._exit(0)   # the run died while this answered it


_LOCK = threading.Lock()
_PROCESS: list[_ValidationProcess] = []
_STOP_AT_EXIT: list[bool] = []


def start_validation_process() -> None:
    """Start the validation process and have it import GX now; a no-op when it runs already
    (one per process, reused by every later run: ``zonefacts serve`` pays the import once)."""
    if not _ENABLED:
        return
    with _LOCK:
        if _PROCESS:
            return
        _PROCESS.append(_ValidationProcess())
        if not _STOP_AT_EXIT:
            atexit.register(stop_validation_process)
            _STOP_AT_EXIT.append(True)


def stop_validation_process() -> None:
    """Stop it now, even mid-import (a run that exits early must not wait ~6 s for GX)."""
    with _LOCK:
        process = _PROCESS.pop() if _PROCESS else None
    if process is not None:
        process.stop()


def _in_validation_process(fn: Callable, *args: Any) -> Any:
    with _LOCK:
        process = _PROCESS[0] if _PROCESS else None
    if process is None:
        return fn(*args)
    try:
        return process.call(fn.__name__, *args)
    finally:
        if process.broken:
            with _LOCK:   # the next run (serve) starts a fresh one
                if _PROCESS and _PROCESS[0] is process:
                    _PROCESS.clear()
            process.stop()


# --------------------------------------------------------------------------- stages


def validate_stage(staging: str, observation_files: list[str], entities: pl.DataFrame,
                   document_stats: pl.DataFrame, vocabulary: Vocabulary, flush_no: int = 0) -> ValidationResult:
    """The batch suites (expectations/) over the observations (staged unvalidated, as parquet
    ``observation_files``) and documents gathered since the last flush. Error-severity failures go
    to the quarantine, warning-severity ones stay on the rows as ``dq_flags``; both are staged for
    the load, and the unvalidated files removed. GX has a fixed cost per validation, so a run
    validates once, or once per ``VALIDATE_EVERY_OBSERVATIONS`` rows, not once per batch."""
    return _in_validation_process(_validate, staging, observation_files, entities, document_stats, vocabulary,
                                  flush_no)


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
    store.stage_batch(staging, VALIDATED_BATCH + flush_no, {"observations": clean, "quarantine": quarantine})
    for path in observation_files:
        Path(path).unlink(missing_ok=True)
    return ValidationResult(clean.height, quarantine, [r.expectation for r in results if not r.success], results)


def quality_stage(work: str, warehouse: str, run_id: str, batch_results: list, data_docs_dir: str,
                  alert_settings: AlertSettings, started_at: datetime) -> dict:
    """After the load: the warehouse suite, Data Docs, alerts for new failures, and the
    results in dq_runs/dq_results. A failing channel or renderer is recorded, never raised."""
    return _in_validation_process(_quality, work, warehouse, run_id, batch_results, data_docs_dir,
                                  alert_settings, started_at)


def _quality(work: str, warehouse: str, run_id: str, batch_results: list, data_docs_dir: str,
             alert_settings: AlertSettings, started_at: datetime) -> dict:
    from expectations.record import already_alerted, record_results
    from expectations.results import failures, merge_results
    from expectations.suites import build_data_docs, validate_warehouse

    con = store.open_work(Path(warehouse), Path(work))
    try:
        results = merge_results([*batch_results, *validate_warehouse(con)])
        by_suite: dict[str, list] = {}
        for result in results:
            by_suite.setdefault(result.suite, []).append(result)
        try:
            docs = str(build_data_docs(by_suite, Path(data_docs_dir), run_id))
        except Exception as exc:  # noqa: BLE001 - the docs are a view of the results, not the results
            log.warning("could not build Data Docs in %s: %s", data_docs_dir, exc)
            docs = None
        outcome = send_alerts(alert_settings, run_id, results, docs, already_alerted(con))
        con.execute("BEGIN TRANSACTION")
        record_results(con, run_id, results, docs, outcome, started_at=started_at,
                       finished_at=datetime.now(timezone.utc).replace(tzinfo=None))
        con.execute("UPDATE pipeline_runs SET expectations_failed = ? WHERE run_id = ?",
                    [len(failures(results)), run_id])
        con.execute("COMMIT")
    finally:
        con.close()
    failed = failures(results)
    return {
        "expectations_evaluated": len(results),
        "failed": [{"suite": r.suite, "expectation": r.expectation, "severity": r.severity,
                    "unexpected_count": r.unexpected_count} for r in failed],
        "data_docs": docs, "alerts_sent": len(outcome.sent), "alert_errors": list(outcome.errors),
    }


_STAGES.update({fn.__name__: fn for fn in (_validate, _quality)})
