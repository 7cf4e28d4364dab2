"""The zonefacts run: inbox → documents → observations → staged parquet → warehouse.

The stages are plain functions (``discover_stage``, ``read_parse_stage``,
``extract_stage``, ``validate_stage``, ``stage_batch``, ``load_stage``,
``publish_stage``) driven by ``run_pipeline(settings, runner=...)``. A *runner*
decides how a stage is executed: ``run_plain`` calls it directly (benchmarks, unit
tests), ``run_as_prefect_task`` runs it as the Prefect task of the same name. The
Prefect flow ``zonefacts_run`` is a thin wrapper over ``run_pipeline``.

Work is done per BATCH of at most ``batch_documents`` files (one task run per
stage per batch, never per document). Each batch is written to
``<warehouse>.staging/<run_id>/<table>-<batch>.parquet``; the load task then
loads every staged file in one DuckDB transaction (with the run's
``pipeline_runs`` row), and the publish step atomically replaces the published
snapshot. A crash anywhere leaves the published snapshot as it was.

Concurrency: one run at a time per warehouse, enforced by ``fcntl.flock`` on
``<warehouse>.lock``. A second run waits up to ``lock_wait_seconds`` and then
returns a summary with ``status == "skipped"`` (the CLI exits 75, EX_TEMPFAIL).
"""
from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import shutil
import signal
import time
import traceback
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import accumulate
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run as prefect_flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from flows.inbox import discover_paths, file_batches, listing_fingerprint, listing_salt, read_raw_files, stat_listing
from flows.progress import Progress
from flows.settings import DEFAULT_MAX_FILE_BYTES, Settings, load_settings
from flows.validation import (QUARANTINE_STAGED_SCHEMA, UnwalkedList, ValidationResult, quality_stage,
                              validate_stage)
from flows.validation_process import settle_validation_process, start_validation_process
from transforms.documents import parse_documents
from transforms.extract import ENTITY_SCHEMA, EXTRACTOR_VERSION, Extraction, extract
from transforms.vocabulary import Vocabulary, entity_dimension, indicator_dimension, load_vocabulary
from warehouse import store
from warehouse.store import stage_batch

log = logging.getLogger("zonefacts.pipeline")

EX_TEMPFAIL = 75  # another run holds the lock; try again later

STAGES = ("discover", "read", "extract", "validate", "stage", "load", "quality", "publish")



# --------------------------------------------------------------------------- errors


class InjectedFault(RuntimeError):
    """Raised at a stage named by ``fault`` (tests only)."""


class PipelineFailed(RuntimeError):
    """The run failed; ``summary`` is what was recorded for it."""

    def __init__(self, message: str, summary: dict):
        super().__init__(message)
        self.summary = summary


@dataclass(frozen=True)
class Fault:
    """``"load"`` → raise inside that stage; ``"kill:load"`` → SIGKILL this process there."""

    stage: str
    kill: bool = False

    @classmethod
    def parse(cls, spec: str | None) -> "Fault | None":
        if not spec:
            return None
        kill = spec.startswith("kill:")
        stage = spec.removeprefix("kill:")
        if stage not in STAGES:
            raise ValueError(f"unknown fault stage {stage!r}; expected one of {', '.join(STAGES)}")
        return cls(stage, kill)

    def trigger(self, stage: str) -> None:
        if stage != self.stage:
            return
        if self.kill:
            os.kill(os.getpid(), signal.SIGKILL)
        raise InjectedFault(f"injected failure at stage {stage!r}")


def _fault_at(fault: Fault | None, stage: str) -> None:
    if fault is not None:
        fault.trigger(stage)


# --------------------------------------------------------------------------- lock


class RunLocked(RuntimeError):
    pass


@contextmanager
def run_lock(lock_path: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (released by the kernel even on SIGKILL)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise RunLocked(f"another zonefacts run holds {lock_path}; skipped") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# --------------------------------------------------------------------------- stage results


class KnownDocuments:
    """Document ids already loaded (or seen earlier in this run).

    A plain class on purpose: Prefect walks list/set/dataclass task parameters looking for
    futures, wasted work on a large id set should a runner make reading a task run (zonefacts'
    own runs it in the flow run, ``IN_FLOW_STAGES``).
    """

    __slots__ = ("ids",)

    def __init__(self, ids: set[str] | None = None):
        self.ids = set(ids or ())

    def __contains__(self, item: object) -> bool:
        return item in self.ids

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class ParsedBatch:
    documents: pl.DataFrame
    quarantine: pl.DataFrame          # QUARANTINE_STAGED_SCHEMA
    skipped: int                      # already loaded, or a duplicate of a file earlier in this run


@dataclass
class ExtractedBatch:
    extraction: Extraction
    quarantine: pl.DataFrame          # documents the extractor failed on (QUARANTINE_STAGED_SCHEMA)
    documents: pl.DataFrame           # what is left to load
    coverage: pl.DataFrame            # numbers with cues per document of ``documents`` (transforms.coverage)


def empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_STAGED_SCHEMA)


def _to_staged_quarantine(frame: pl.DataFrame, stage: str) -> pl.DataFrame:
    """parse_documents' quarantine (path, sha256, reason, detail, payload) → staged shape."""
    if frame.height == 0:
        return empty_quarantine()
    cols = frame.columns
    payload = pl.col("payload") if "payload" in cols else pl.lit(None)
    doc_id = pl.col("document_id") if "document_id" in cols else (
        pl.col("sha256") if "sha256" in cols else pl.lit(None))
    return frame.select(
        pl.lit(stage).alias("stage"),
        pl.col("path").cast(pl.String),
        doc_id.cast(pl.String).alias("document_id"),
        pl.col("reason").cast(pl.String).fill_null("unknown"),
        pl.col("detail").cast(pl.String).fill_null("") if "detail" in cols else pl.lit(""),
        payload.cast(pl.Binary).alias("payload"),
    ).cast(QUARANTINE_STAGED_SCHEMA)


# --------------------------------------------------------------------------- stages


def discover_stage(inbox: str, max_bytes: int) -> list[str]:
    """Candidate files under ``inbox`` as sorted posix paths relative to it."""
    return discover_paths(inbox, max_bytes)


def read_parse_stage(
    inbox: str, paths: list[str], max_bytes: int, known: KnownDocuments, batch_no: int = 0,
) -> ParsedBatch:
    """Read one batch of files and parse them into documents and an ingest quarantine.

    Files whose sha256 is in ``known`` are hashed, then dropped (counted as skipped).
    """
    raw = read_raw_files(Path(inbox), list(paths), max_bytes, skip_sha256=known)
    is_known = pl.Series([sha is not None and sha in known for sha in raw["sha256"]], dtype=pl.Boolean)
    skipped = int(is_known.sum())
    raw = raw.filter(~is_known)
    documents, quarantine = parse_documents(raw, max_bytes=max_bytes)
    before = documents.height
    documents = documents.unique(subset="document_id", keep="first", maintain_order=True)
    skipped += before - documents.height
    return ParsedBatch(documents, _to_staged_quarantine(quarantine, "ingest"), skipped)


def extract_stage(documents: pl.DataFrame, vocabulary: Vocabulary, batch_no: int = 0) -> ExtractedBatch:
    """Extract a batch; if the extractor raises, retry document by document and
    quarantine (stage 'extract', reason 'extract_error') only those it fails on.
    Such documents are not loaded, so a fixed extractor picks them up next run."""
    try:
        extraction = extract(documents, vocabulary)
    except Exception as batch_exc:  # noqa: BLE001 - isolate the bad document(s)
        log.warning("extractor failed on batch %s (%r); retrying per document", batch_no, batch_exc)
    else:
        return ExtractedBatch(extraction, empty_quarantine(), documents, extraction.coverage)
    parts: list[Extraction] = []
    bad: list[dict] = []
    good_ids: list[str] = []
    for i in range(documents.height):
        one = documents.slice(i, 1)
        try:
            parts.append(extract(one, vocabulary))
            good_ids.append(one["document_id"][0])
        except Exception as exc:  # noqa: BLE001
            bad.append({"stage": "extract", "path": one["path"][0], "document_id": one["document_id"][0],
                        "reason": "extract_error", "detail": f"{type(exc).__name__}: {exc}"[:2000],
                        "payload": None})
    if parts:
        merged = Extraction(*(pl.concat([getattr(p, f) for p in parts], how="diagonal_relaxed")
                              for f in ("observations", "defects", "unmapped", "entities", "coverage")))
    else:
        merged = extract(documents.clear(), vocabulary)
    quarantine = pl.DataFrame(bad, schema=QUARANTINE_STAGED_SCHEMA) if bad else empty_quarantine()
    kept = documents.filter(pl.col("document_id").is_in(good_ids))
    return ExtractedBatch(merged, quarantine, kept, merged.coverage)


VALIDATE_EVERY_OBSERVATIONS = 150_000


def quarantine_of(parsed: "ParsedBatch", extracted: "ExtractedBatch") -> pl.DataFrame:
    return pl.concat([parsed.quarantine, extracted.quarantine], how="vertical_relaxed")


class PendingValidation:
    """What waits for the next validation: the batches' observations, staged unvalidated under
    ``<staging>/unvalidated/`` (the validation process reads them from there, and memory does
    not hold them), and their entities and per-document figures (small)."""

    def __init__(self, staging: Path) -> None:
        self.directory = staging / "unvalidated"
        self.files: list[str] = []
        self.entities: list[pl.DataFrame] = []
        self.stats: list[pl.DataFrame] = []
        self.observations = 0
        self.flushes = 0

    @property
    def batches(self) -> int:
        return len(self.stats)

    def add(self, batch_no: int, extracted: "ExtractedBatch") -> None:
        from expectations.suites import document_stats

        observations = extracted.extraction.observations
        if observations.height:
            stage_batch(self.directory, batch_no, {"observations": observations})
            self.files.append(str(store.staged_file(self.directory, "observations", batch_no)))
        self.observations += observations.height
        self.entities.append(extracted.extraction.entities)
        self.stats.append(document_stats(extracted.documents, extracted.extraction.defects))

    def take(self) -> tuple[list[str], pl.DataFrame, pl.DataFrame]:
        """(unvalidated observation files, entities, document figures) gathered since the last take."""
        files, entities, stats = self.files, self.entities, self.stats
        self.files, self.entities, self.stats, self.observations = [], [], [], 0
        self.flushes += 1
        return (files,
                pl.concat(entities, how="vertical_relaxed") if entities else pl.DataFrame(schema=ENTITY_SCHEMA),
                pl.concat(stats, how="vertical_relaxed") if stats else pl.DataFrame())


def load_stage(
    work: str,
    warehouse: str,
    staging: str,
    run_id: str,
    vocabulary: Vocabulary,
    run_row: dict,
    fault: Fault | None = None,
) -> store.LoadCounts:
    """Load the whole run's staging into the working file in one transaction, the
    pipeline_runs row included, and close it (checkpointed, ready to publish)."""

    def record(con: duckdb.DuckDBPyConnection, counts: store.LoadCounts) -> None:
        row = dict(run_row)
        row["documents_new"] = counts.documents
        row["observations_loaded"] = counts.observations
        row["summary"] = {**row["summary"], "documents_new": counts.documents,
                          "observations_loaded": counts.observations, "load": counts.__dict__}
        _insert_run_row(con, row)
        if fault is not None and fault.stage == "load" and fault.kill:
            os.kill(os.getpid(), signal.SIGKILL)  # everything inserted, nothing committed

    fail_after = "observations" if (fault and fault.stage == "load" and not fault.kill) else None
    con = store.open_work(Path(warehouse), Path(work))
    try:
        return store.load_staged(
            con, Path(staging), run_id=run_id,
            indicators=indicator_dimension(vocabulary),
            vocabulary_entities=entity_dimension(vocabulary),
            fail_after=fail_after, before_commit=record,
        )
    finally:
        con.close()


def publish_stage(work: str, warehouse: str) -> None:
    store.publish(Path(work), Path(warehouse))


# --------------------------------------------------------------------------- runners

Runner = Callable[..., Any]  # runner(stage_name, fn, *args, **kwargs) -> fn's result

STAGE_RETRIES = {"read": 2}   # transient I/O only (OSError)

# Quarantine reasons a later run may not repeat: the file could not be read, the extractor failed.
RETRYABLE_REASONS = frozenset({"unreadable", "extract_error"})


def run_plain(stage: str, fn: Callable, *args, **kwargs):
    """Call the stage directly; a stage in ``STAGE_RETRIES`` is retried on OSError (transient I/O)."""
    attempts = STAGE_RETRIES.get(stage, 0) + 1
    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except OSError:
            if attempt + 1 == attempts:
                raise
            time.sleep(0.5)


def _task(name: str, fn: Callable, run_name: str | None = None, **options) -> Any:
    return task(fn, name=name, cache_policy=NO_CACHE, persist_result=False,
                task_run_name=run_name, **options)


PREFECT_TASKS: dict[str, Any] = {
    "discover": _task("discover", discover_stage),
    "extract": _task("extract", extract_stage, "extract-{batch_no}"),
    "validate": _task("validate", validate_stage, "validate-{flush_no}"),
    "load": _task("load", load_stage),
    "quality": _task("quality", quality_stage),
    "publish": _task("publish", publish_stage),
}


# Stages that run inside the flow run as plain calls (retried by run_plain), not as task runs:
# a task run costs ~0.1 s of bookkeeping here and ~0.08 s of CPU on the server, and reading a
# batch costs ~0.15 s. The batch's extract task run and the flow's log report each batch.
IN_FLOW_STAGES = frozenset({"read"})


def run_as_prefect_task(stage: str, fn: Callable, *args, **kwargs):
    """Runner that executes ``fn`` as its Prefect task (inside a flow run), or as a plain call
    for the stages in ``IN_FLOW_STAGES``."""
    if stage in IN_FLOW_STAGES:
        return run_plain(stage, fn, *args, **kwargs)
    t = PREFECT_TASKS[stage]
    if t.fn is not fn:
        raise ValueError(f"stage {stage!r} is bound to {t.fn.__name__}, not {fn.__name__}")
    return t(*args, **kwargs)


def submit_as_prefect_task(stage: str, fn: Callable, *args, **kwargs):
    """Like ``run_as_prefect_task`` but ``task.submit``: returns a future on the flow's task
    runner (e.g. a Dask cluster); the caller takes ``.result()``. Used for ``extract`` only."""
    t = PREFECT_TASKS[stage]
    if t.fn is not fn:
        raise ValueError(f"stage {stage!r} is bound to {t.fn.__name__}, not {fn.__name__}")
    return t.submit(*args, **kwargs)


# How many extract batches may be submitted before the oldest result is consumed.
EXTRACT_IN_FLIGHT = 3

# Extraction threads of the default task runner. Polars releases the GIL inside its kernels,
# so two batches extract side by side (1.4× on 2 cores); more threads only contend for the GIL.
EXTRACT_THREADS = 2


@contextmanager
def thread_submitter(threads: int = EXTRACT_THREADS) -> Iterator[Runner]:
    """A ``submit`` for ``run_pipeline`` without Prefect: extraction on a thread pool, as the
    Prefect flow's default task runner does it (``submit(stage, fn, ...)`` returns a future)."""
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="zonefacts-extract") as pool:
        yield lambda stage, fn, *args, **kwargs: pool.submit(run_plain, stage, fn, *args, **kwargs)


# --------------------------------------------------------------------------- the run


def _insert_run_row(con: duckdb.DuckDBPyConnection, row: dict) -> None:
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


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _clean_leftovers(settings: Settings, keep: str | None = None) -> None:
    """Remove staging dirs and publish temp files of runs that died (we hold the lock)."""
    if settings.staging_dir.is_dir():
        for child in settings.staging_dir.iterdir():
            if child.name != keep:
                shutil.rmtree(child, ignore_errors=True)
    for tmp in settings.warehouse.parent.glob(f".{settings.warehouse.name}.publish-*"):
        tmp.unlink(missing_ok=True)


def _known_documents(settings: Settings) -> KnownDocuments:
    """Open (seed, migrate) the working file and read the loaded document ids.

    A function of its own so that no DuckDB handle is a local of the long-lived run frame
    (a failed run's traceback outlives the run in Prefect's state)."""
    con = store.open_work(settings.warehouse, settings.work_path)
    try:
        return KnownDocuments(store.known_document_ids(con))
    finally:
        con.close()


# A batch also ends at about this many bytes of files: a thousand 20 MiB files (each under
# ZONEFACTS_MAX_FILE_BYTES) must not make one 20 GB batch.
BATCH_MAX_BYTES = 32 * 1024 * 1024


def run_pipeline(
    settings: Settings,
    runner: Runner = run_plain,
    *,
    fault: str | Fault | None = None,
    flow_run_id: str | None = None,
    vocabulary: Vocabulary | None = None,
    submit: Runner | None = None,
) -> dict:
    """One zonefacts run. Returns the summary dict (status 'success' or 'skipped').

    ``submit`` (``submit_as_prefect_task``, or ``thread_submitter()`` without Prefect), when
    given, runs the extract stage: it returns a future, up to ``EXTRACT_IN_FLIGHT`` batches
    are in flight while later ones are read, and their results are consumed in batch order.
    Every other stage stays on ``runner`` in this process (the load is a single writer).

    Raises ``PipelineFailed`` (with ``.summary``) when the run failed; the failure is
    recorded in ``pipeline_runs`` and the published snapshot keeps its data.
    """
    fault = Fault.parse(fault) if isinstance(fault, str) or fault is None else fault
    started = time.monotonic()
    run_id = uuid.uuid4().hex
    summary: dict[str, Any] = {
        "run_id": run_id, "flow_run_id": flow_run_id, "status": "running",
        "inbox": str(settings.inbox), "warehouse": str(settings.warehouse),
        "started_at": _utcnow().isoformat(timespec="seconds"),
        "documents_seen": 0, "documents_new": 0, "documents_skipped": 0,
        "documents_quarantined": 0, "quarantine_reasons": {}, "quarantine_rows_new": 0,
        "observations_extracted": 0, "observations_loaded": 0, "defects": 0, "unmapped": 0,
        "entities_new": 0, "expectations_failed": 0, "batches": 0, "duration_seconds": 0.0,
    }
    try:
        with run_lock(settings.lock_path, settings.lock_wait_seconds):
            return _run_locked(settings, runner, fault, run_id, summary, started, vocabulary, submit)
    except RunLocked as exc:
        log.warning("%s", exc)
        summary.update(status="skipped", message=str(exc),
                       duration_seconds=round(time.monotonic() - started, 3))
        return summary


def _run_locked(settings, runner, fault, run_id, summary, started, vocabulary, submit=None) -> dict:
    staging = settings.staging_dir / run_id
    _clean_leftovers(settings)
    vocabulary = vocabulary or load_vocabulary()
    reasons: Counter[str] = Counter()
    expectations: Counter[str] = Counter()
    batch_results = UnwalkedList()
    pending = PendingValidation(staging)

    def validate_pending(final: bool) -> None:
        """Validate what the batches gathered; the validate stage stages the clean rows and the rejects."""
        if not pending.batches and not final:
            return
        files, entities, stats = pending.take()
        if not files and stats.height == 0:
            return
        _fault_at(fault, "validate")
        validated: ValidationResult = runner("validate", validate_stage, str(staging), files, entities, stats,
                                             vocabulary, flush_no=pending.flushes)
        batch_results.extend(validated.results)
        expectations.update(validated.expectations_failed)
        reasons.update(validated.quarantine["reason"].to_list())
    try:
        _fault_at(fault, "discover")
        paths = runner("discover", discover_stage, str(settings.inbox), settings.max_file_bytes)
        summary["documents_seen"] = len(paths)
        # DuckDB opens (seeds, migrates) the working file and reads the loaded ids while this
        # thread stats the listed files; both are done before the first batch is read
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="zonefacts-open") as opening:
            known_documents = opening.submit(_known_documents, settings)
            listed = stat_listing(settings.inbox, paths)   # once: for the batches and the fingerprint
            listing = listing_fingerprint(settings.inbox, listed, salt=listing_salt(settings.max_file_bytes))
            known = known_documents.result()

        def consume(batch_no: int, batch: list[str], parsed: ParsedBatch, extracted: ExtractedBatch) -> None:
            _fault_at(fault, "stage")
            files_quarantined = quarantine_of(parsed, extracted)
            # a plain call, not a task run: ~0.1 s of Prefect bookkeeping here and on the server
            # per batch, for a write of a few files
            stage_batch(str(staging), batch_no, {
                "documents": extracted.documents, "quarantine": files_quarantined,
                "entities": extracted.extraction.entities,
                "defects": extracted.extraction.defects, "unmapped": extracted.extraction.unmapped,
                "coverage": extracted.coverage,
            })
            pending.add(batch_no, extracted)
            if pending.observations >= VALIDATE_EVERY_OBSERVATIONS:
                validate_pending(final=False)
            known.ids.update(extracted.documents["document_id"].to_list())
            summary["documents_quarantined"] += files_quarantined.height
            reasons.update(files_quarantined["reason"].to_list())
            summary["observations_extracted"] += extracted.extraction.observations.height
            summary["defects"] += extracted.extraction.defects.height
            summary["unmapped"] += extracted.extraction.unmapped.height
            log.info("batch %d: %d files, %d documents, %d quarantined, %d skipped",
                     batch_no, len(batch), extracted.documents.height, files_quarantined.height,
                     parsed.skipped)
            bar.update(batch_no + 1, files_done[batch_no])

        validation_started = False
        in_flight: deque = deque()   # (batch_no, batch, parsed, future) when extraction is submitted
        batches = file_batches(listed, settings.batch_documents, settings.max_file_bytes, BATCH_MAX_BYTES)
        files_done = list(accumulate(len(b) for b in batches))
        bar = Progress(len(paths), len(batches))
        for batch_no, batch in enumerate(batches):
            summary["batches"] += 1
            _fault_at(fault, "read")
            parsed: ParsedBatch = runner("read", read_parse_stage, str(settings.inbox), batch,
                                         settings.max_file_bytes, known, batch_no=batch_no)
            summary["documents_skipped"] += parsed.skipped
            if parsed.documents.height and not validation_started:
                start_validation_process()
                validation_started = True

            _fault_at(fault, "extract")
            if submit is None:
                consume(batch_no, batch, parsed, runner("extract", extract_stage, parsed.documents, vocabulary,
                                                        batch_no=batch_no))
                continue
            # Later batches are read before this one's extraction is consumed: count its
            # documents as seen now, so a copy in a later batch is skipped as before.
            known.ids.update(parsed.documents["document_id"].to_list())
            in_flight.append((batch_no, batch, parsed,
                              submit("extract", extract_stage, parsed.documents, vocabulary, batch_no=batch_no)))
            if len(in_flight) >= EXTRACT_IN_FLIGHT:
                done_no, done_batch, done_parsed, future = in_flight.popleft()
                consume(done_no, done_batch, done_parsed, future.result())
        while in_flight:
            done_no, done_batch, done_parsed, future = in_flight.popleft()
            consume(done_no, done_batch, done_parsed, future.result())
        bar.close()
        validate_pending(final=True)

        summary["quarantine_reasons"] = dict(sorted(reasons.items()))
        # the inbox as listed at discovery, for the CLI's up-to-date check; not when a file may
        # read or extract differently next time
        summary["inbox_listing"] = None if RETRYABLE_REASONS & reasons.keys() else listing
        summary["expectations_failed"] = sum(expectations.values())
        summary["expectations_failed_names"] = sorted(expectations)
        summary["status"] = "success"
        finished = _utcnow()
        summary["finished_at"] = finished.isoformat(timespec="seconds")
        run_row = _run_row(summary, started_at=summary["started_at"], finished_at=finished)

        counts: store.LoadCounts = runner("load", load_stage, str(settings.work_path),
                                          str(settings.warehouse), str(staging), run_id, vocabulary,
                                          run_row, fault)
        summary.update(documents_new=counts.documents, observations_loaded=counts.observations,
                       quarantine_rows_new=counts.quarantined, entities_new=counts.entities)
        _fault_at(fault, "quality")
        if counts.documents or counts.observations or counts.quarantined or batch_results or _unvalidated(settings):
            quality = runner("quality", quality_stage, str(settings.work_path), str(settings.warehouse), run_id,
                             batch_results, str(settings.data_docs_dir), settings.alerts,
                             _as_datetime(summary["started_at"]), settings.coverage)
        else:
            # Nothing was loaded, so the warehouse is what the last run validated and alerted
            # on; `zonefacts validate` re-runs its suite on demand.
            log.info("nothing new was loaded: the warehouse suite is not re-run")
            quality = {"failed": [], "data_docs": None, "alerts_sent": 0, "alert_errors": []}
        summary.update(expectations_failed=len(quality["failed"]), failed_expectations=quality["failed"],
                       expectations_failed_names=[f["expectation"] for f in quality["failed"]],
                       data_docs=quality["data_docs"], alerts_sent=quality["alerts_sent"],
                       alert_errors=quality["alert_errors"])
        _fault_at(fault, "publish")
        runner("publish", publish_stage, str(settings.work_path), str(settings.warehouse))
        settle_validation_process(at_end_of_run=True)   # the Data Docs
        summary["duration_seconds"] = round(time.monotonic() - started, 3)
        return summary
    except BaseException as exc:
        summary["status"] = "failed"
        summary["error"] = f"{type(exc).__name__}: {exc}"
        summary["error_type"] = type(exc).__name__
        summary["duration_seconds"] = round(time.monotonic() - started, 3)
        summary["finished_at"] = _utcnow().isoformat(timespec="seconds")
        if isinstance(exc, Exception):
            # drop the failed frames' locals (open DuckDB handles, batch frames): the exception
            # outlives the run in Prefect's state, and the handles must not outlive the run
            traceback.clear_frames(exc.__traceback__)
            _record_failure(settings, summary)
            raise PipelineFailed(f"zonefacts run failed: {summary['error']}", summary) from exc
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        try:
            settings.staging_dir.rmdir()  # only when no other run's leftovers remain
        except OSError:
            pass


def _unvalidated(settings: Settings) -> bool:
    """A run that loaded rows died before its warehouse suite: the data still needs it."""
    con = store.open_work(settings.warehouse, settings.work_path)
    try:
        return store.unvalidated_loads(con) > 0
    finally:
        con.close()


def _as_datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _run_row(summary: dict, *, started_at, finished_at) -> dict:
    started_at, finished_at = _as_datetime(started_at), _as_datetime(finished_at)
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


def _record_failure(settings: Settings, summary: dict) -> None:
    """Best effort: write the failed run's row and publish it so `zonefacts status` shows it.

    The data tables are unchanged (the load rolled back or never ran), so publishing is safe.
    """
    con = None
    try:
        con = store.open_work(settings.warehouse, settings.work_path)
        row = _run_row(summary, started_at=summary["started_at"], finished_at=summary["finished_at"])
        _insert_run_row(con, row)
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


# --------------------------------------------------------------------------- Prefect flow


@flow(name="zonefacts-run", persist_result=False, log_prints=False,
      task_runner=ThreadPoolTaskRunner(max_workers=EXTRACT_THREADS))
def zonefacts_run(
    inbox: str,
    warehouse: str,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    batch_documents: int = 1000,
    lock_wait_seconds: float = 0.0,
    fault: str | None = None,
    task_runner: str = "default",
    dask_address: str | None = None,
) -> dict:
    """Run the zonefacts pipeline over ``inbox`` into ``warehouse``: a thin wrapper over
    ``run_pipeline`` with every stage as a Prefect task. Returns the run summary;
    raises ``PipelineFailed`` when the run failed.

    The extract tasks are submitted (``task.submit``) to the flow's task runner: a pool of
    ``EXTRACT_THREADS`` threads by default; with ``task_runner="dask"`` the caller sets a Dask
    one with ``zonefacts_run.with_options(task_runner=dask_task_runner(dask_address))``. Every
    other stage runs in the flow's thread, and the load stays a single writer.
    ``dask_address`` is recorded with the run's parameters (the runner itself is not).

    Alert channels come from the settings edge at run time, not as parameters: their
    secrets must not be stored with the flow run. The coverage thresholds come from there too."""
    edge = load_settings()
    settings = Settings(warehouse=Path(warehouse), inbox=Path(inbox), max_file_bytes=max_file_bytes,
                        batch_documents=batch_documents, lock_wait_seconds=lock_wait_seconds,
                        alerts=edge.alerts, coverage=edge.coverage)
    flow_run_id = prefect_flow_run.id
    if task_runner not in TASK_RUNNERS:
        raise ValueError(f"unknown task runner {task_runner!r}; expected one of {', '.join(TASK_RUNNERS)}")
    return run_pipeline(settings, run_as_prefect_task, fault=fault,
                        flow_run_id=str(flow_run_id) if flow_run_id else None,
                        submit=submit_as_prefect_task)


TASK_RUNNERS = ("default", "dask")


def dask_task_runner(address: str | None = None, n_workers: int = 2):
    """prefect-dask's DaskTaskRunner: on the cluster at ``address`` (tcp://host:8786), else on
    a LocalCluster of ``n_workers`` single-threaded worker processes."""
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_class=_local_cluster,
                          cluster_kwargs={"n_workers": n_workers, "threads_per_worker": 1, "processes": True})


def _local_cluster(**kwargs):
    """A ``distributed.LocalCluster`` whose workers report to this flow's Prefect API.

    Created when the first task is submitted, i.e. inside the flow run, once the API is
    known: $PREFECT_API_URL / the settings context, else the flow's temporary server.
    Without it every worker process would start a temporary server of its own (~25 s
    each) and record its task runs there."""
    import distributed
    from prefect.settings import PREFECT_API_URL

    api_url = PREFECT_API_URL.value()
    if not api_url:
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()   # the flow process's temporary server (a singleton)
        api_url = server.api_url if server.server_process is not None else None
    env = {k: v for k, v in os.environ.items() if k.startswith(("PREFECT_LOGGING_", "ZONEFACTS_"))}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return distributed.LocalCluster(env={**env, **kwargs.pop("env", {})}, **kwargs)

