"""The zonefacts run: inbox → documents → observations → staged parquet → warehouse.

``PipelineRun`` is one run: each stage of ``flows.stages.STAGES`` is a method of it, which
announces the stage's boundary (``flows.stages.announce``) and calls the stage function on the
run's *runner* (``flows.runners``): ``run_plain`` calls it directly (benchmarks, unit tests),
``run_as_prefect_task`` runs it as the Prefect task of the same name. ``run_pipeline`` runs one;
the Prefect flow ``zonefacts_run`` is a thin wrapper over it.

Work is done per BATCH of at most ``batch_documents`` files (one task run per stage per batch,
never per document). After the inbox's batches, the stored documents that another extractor
fingerprint read (a new vocabulary, new map_phrase or alias corrections), or that the caller
names (``reextract``), are read again from the working file in batches of the same size, then
extracted and staged like the inbox's. Each batch is written to
``<warehouse>.staging/<run_id>/<table>-<batch>.parquet``; the load task then loads every staged
file in one DuckDB transaction (with the run's ``pipeline_runs`` row), and the publish step
atomically replaces the published snapshot. A crash anywhere leaves the published snapshot as
it was.

Concurrency: one run at a time per warehouse (``flows.locking``). A second run waits up to
``lock_wait_seconds`` and then returns a summary with ``status == "skipped"``.
"""
from __future__ import annotations

import contextvars
import logging
import shutil
import time
import traceback
import uuid
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import accumulate
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.runtime import flow_run as prefect_flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from flows import lifeline
from flows.inbox import Discovery, file_batches, listing_fingerprint, listing_salt, stat_listing
from flows.locking import RunLocked, run_lock
from flows.progress import Progress
from flows.runners import (EXTRACT_THREADS, TASK_RUNNERS, PREFECT_TASKS, Runner, dask_task_runner,
                           run_as_prefect_task, run_plain, submit_as_prefect_task, thread_submitter)
from flows.runrecord import as_datetime, new_summary, record_failure, run_row, utcnow
from flows.settings import DEFAULT_BATCH_DOCUMENTS, DEFAULT_MAX_FILE_BYTES, Settings, load_settings
from flows.stages import (DISCOVERY_BATCH, REFUSED_PATH, STAGE_BY_NAME, STAGES, ExtractedBatch, ExtractorInputs,
                          KnownDocuments, Loaded, ParsedBatch, PendingValidation, announce, clean_leftovers,
                          discover_stage, extract_stage, extractor_inputs, load_stage, publish_stage,
                          quarantine_of, read_parse_stage, refused_quarantine, unvalidated_loads,
                          warehouse_state)
from flows.validation import UnwalkedList, ValidationResult, prepare_data_docs, quality_stage, validate_stage
from flows.validation_process import settle_validation_process, start_validation_process
from transforms.vocabulary import Vocabulary
from warehouse.staging import stage_batch

__all__ = [
    "BATCH_MAX_BYTES", "EXTRACT_IN_FLIGHT", "EXTRACT_THREADS", "PREFECT_TASKS", "STAGES", "TASK_RUNNERS",
    "ExtractedBatch", "KnownDocuments", "ParsedBatch", "PipelineFailed", "PipelineRun", "RunLocked", "Runner",
    "dask_task_runner", "discover_stage", "extract_stage", "load_stage", "publish_stage", "quality_stage",
    "read_parse_stage", "run_as_prefect_task", "run_lock", "run_pipeline", "run_plain", "stage_batch",
    "submit_as_prefect_task", "thread_submitter", "validate_stage", "zonefacts_run",
]

log = logging.getLogger("zonefacts.pipeline")

# Prefect starts its temporary server (uvicorn) for a flow run before the flow's body runs, and
# the CLI starts the flow right after importing this module: the server must inherit the lifeline.
lifeline.hold()

# A batch also ends at about this many bytes of files: a thousand 20 MiB files (each under
# ZONEFACTS_MAX_FILE_BYTES) must not make one 20 GB batch.
BATCH_MAX_BYTES = 32 * 1024 * 1024

# The observations gathered before a validation. A validation runs in the validation process
# while later batches are read and extracted, so only the last one holds up the load; GX has a
# fixed cost per validation, so a flush is a few batches' observations rather than one's.
VALIDATE_EVERY_OBSERVATIONS = 50_000

# How many extract batches may be submitted before the oldest result is consumed.
EXTRACT_IN_FLIGHT = 3

# Quarantine reasons a later run may not repeat: the file could not be read, the extractor failed.
# The others (a refused path, an empty, binary, oversized or unparseable file …) repeat as long
# as the inbox listing and the extractor fingerprint do: an unchanged inbox is up to date.
RETRYABLE_REASONS = frozenset({"unreadable", "extract_error"})


class PipelineFailed(RuntimeError):
    """The run failed; ``summary`` is what was recorded for it."""

    def __init__(self, message: str, summary: dict):
        super().__init__(message)
        self.summary = summary


class PipelineRun:
    """One zonefacts run: its settings, how its stages run, its staging directory and tallies.

    ``execute`` takes the warehouse lock and calls the stage methods: ``discover``, then per
    batch ``read``, ``extract`` and ``stage``, then per batch of stored documents to re-extract
    ``reextract``, ``extract`` and ``stage`` (``validate`` whenever enough observations have
    gathered, and once at the end), then ``load``, ``quality`` and ``publish``. The last
    validation runs while the load inserts the documents and dimensions; the load then waits
    for it (``_validated``) before it reads the observations. ``submit``, when
    given, runs the extract stage and returns futures: up to ``EXTRACT_IN_FLIGHT`` batches are
    in flight while later ones are read, and are consumed in batch order. Every other stage stays
    on ``runner`` in this process (the load is a single writer).

    ``reextract`` names stored documents to re-extract even when their fingerprint is current:
    a glob of their paths or stems (``"*"``: every one). ``read_inbox=False`` leaves the inbox
    unread (``zonefacts reextract``). ``vocabulary`` replaces the vocabulary files' (its digest
    then enters the fingerprint).
    """

    def __init__(self, settings: Settings, runner: Runner = run_plain, *, flow_run_id: str | None = None,
                 vocabulary: Vocabulary | None = None, submit: Runner | None = None,
                 reextract: str | None = None, read_inbox: bool = True) -> None:
        self.settings, self.runner, self.submit = settings, runner, submit
        self.given_vocabulary = vocabulary
        self.vocabulary: Vocabulary | None = None
        self.inputs: ExtractorInputs | None = None
        self.reextract_pattern, self.read_inbox = reextract, read_inbox
        self.started = time.monotonic()
        self.run_id = uuid.uuid4().hex
        self.staging = settings.staging_dir / self.run_id
        self.summary: dict[str, Any] = new_summary(self.run_id, flow_run_id, settings)
        self.reasons: Counter[str] = Counter()
        self.expectations: Counter[str] = Counter()
        self.batch_results = UnwalkedList()
        self.pending = PendingValidation(self.staging)
        self.known = KnownDocuments()
        self.stale: list[str] = []        # stored documents to re-extract, found when the run opens
        self.validation_started = False
        # validations sent off and not yet consumed, in flush order; one thread waits on them
        self.validations: deque[Future] = deque()
        self.validating = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zonefacts-validate")

    def _call(self, stage: str, *args, **kwargs):
        return self.runner(stage, STAGE_BY_NAME[stage].fn, *args, **kwargs)

    def _seconds(self) -> float:
        return round(time.monotonic() - self.started, 3)

    # ----------------------------------------------------------------------- the run

    def execute(self) -> dict:
        """The run's summary (status 'success' or 'skipped'); raises ``PipelineFailed``."""
        try:
            with run_lock(self.settings.lock_path, self.settings.lock_wait_seconds):
                return self._locked()
        except RunLocked as exc:
            log.warning("%s", exc)
            self.summary.update(status="skipped", message=str(exc), duration_seconds=self._seconds())
            return self.summary

    def _locked(self) -> dict:
        settings, summary = self.settings, self.summary
        clean_leftovers(settings)
        try:
            self.inputs = inputs = extractor_inputs(settings, self.given_vocabulary)
            self.vocabulary = inputs.vocabulary
            summary["fingerprint"] = inputs.fingerprint
            summary["corrections_errors"] = [str(e) for e in inputs.corrections.errors]
            paths = self.discover() if self.read_inbox else []
            batches, listing = self._open(paths)
            self._batches(batches, len(paths), self.read)
            stored = [self.stale[i:i + settings.batch_documents]
                      for i in range(0, len(self.stale), settings.batch_documents)]
            summary["documents_reextracted"] = len(self.stale)
            self._batches(stored, len(self.stale), self.read_stored, first_no=len(batches))
            self.validate(final=True, wait=False)
            # the load waits for the validations once its documents and dimensions are in
            self.quality(self.load(listing))
            self.publish()
            summary["duration_seconds"] = self._seconds()
            return summary
        except BaseException as exc:
            summary["status"] = "failed"
            summary["error"] = f"{type(exc).__name__}: {exc}"
            summary["error_type"] = type(exc).__name__
            summary["duration_seconds"] = self._seconds()
            summary["finished_at"] = utcnow().isoformat(timespec="seconds")
            if isinstance(exc, Exception):
                # drop the failed frames' locals (open DuckDB handles, batch frames): the exception
                # outlives the run in Prefect's state, and the handles must not outlive the run
                traceback.clear_frames(exc.__traceback__)
                record_failure(settings, summary)
                raise PipelineFailed(f"zonefacts run failed: {summary['error']}", summary) from exc
            raise
        finally:
            # a validation still running writes into the staging directory: it ends first
            self.validating.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(self.staging, ignore_errors=True)
            try:
                settings.staging_dir.rmdir()  # only when no other run's leftovers remain
            except OSError:
                pass

    def _open(self, paths: list[str]) -> tuple[list[list[str]], str]:
        """The batches of the listed files and the listing's fingerprint; the loaded document ids
        and the stored documents to re-extract.

        DuckDB opens (seeds, migrates) the working file and reads the loaded ids while this
        thread stats the listed files; both are done before the first batch is read."""
        settings, inputs = self.settings, self.inputs
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="zonefacts-open") as opening:
            known = opening.submit(warehouse_state, settings, inputs.fingerprint, self.reextract_pattern)
            listed = stat_listing(settings.inbox, paths)   # once: for the batches and the fingerprint
            salt = listing_salt(settings.max_file_bytes, inputs.fingerprint, inputs.corrections.digest)
            listing = listing_fingerprint(settings.inbox, listed, salt=salt)
            self.known, self.stale = known.result()
        return file_batches(listed, settings.batch_documents, settings.max_file_bytes, BATCH_MAX_BYTES), listing

    def _batches(self, batches: list[list[str]], files: int, read, first_no: int = 0) -> None:
        """Read (``read``: files or stored documents), extract and stage every batch, in batch
        order; the batches are numbered from ``first_no``."""
        bar = Progress(files, len(batches))
        files_done = list(accumulate(len(b) for b in batches))
        in_flight: deque = deque()   # (batch_no, parsed, future) when extraction is submitted

        def consume(batch_no: int, parsed: ParsedBatch, extracted: ExtractedBatch) -> None:
            index = batch_no - first_no
            self.stage(batch_no, len(batches[index]), parsed, extracted)
            bar.update(index + 1, files_done[index])

        for index, batch in enumerate(batches):
            batch_no = first_no + index
            parsed = read(batch)
            extracted = self.extract(batch_no, parsed)
            if self.submit is None:
                consume(batch_no, parsed, extracted)
                continue
            in_flight.append((batch_no, parsed, extracted))
            if len(in_flight) >= EXTRACT_IN_FLIGHT:
                done_no, done_parsed, future = in_flight.popleft()
                consume(done_no, done_parsed, future.result())
        while in_flight:
            done_no, done_parsed, future = in_flight.popleft()
            consume(done_no, done_parsed, future.result())
        bar.close()

    # ----------------------------------------------------------------------- the stages

    def discover(self) -> list[str]:
        """The inbox's candidate files; the entries discovery refused are staged as quarantine rows."""
        announce("discover")
        found: Discovery = self._call("discover", str(self.settings.inbox), self.settings.max_file_bytes)
        self.summary["documents_seen"] = len(found.paths)
        if found.skipped:
            self._call("stage", str(self.staging), DISCOVERY_BATCH, {"quarantine": refused_quarantine(found.skipped)})
            self.summary["documents_quarantined"] += len(found.skipped)
            self.reasons[REFUSED_PATH] += len(found.skipped)
        return found.paths

    def read(self, batch: list[str]) -> ParsedBatch:
        self.summary["batches"] += 1
        announce("read")
        parsed: ParsedBatch = self._call("read", str(self.settings.inbox), batch, self.settings.max_file_bytes,
                                         self.known)
        self.summary["documents_skipped"] += parsed.skipped
        self._validation_needed(parsed)
        return parsed

    def read_stored(self, document_ids: list[str]) -> ParsedBatch:
        """A batch of stored documents to re-extract."""
        self.summary["batches"] += 1
        announce("reextract")
        parsed: ParsedBatch = self._call("reextract", str(self.settings.work_path), str(self.settings.warehouse),
                                         document_ids)
        self._validation_needed(parsed)
        return parsed

    def _validation_needed(self, parsed: ParsedBatch) -> None:
        if parsed.documents.height and not self.validation_started:
            start_validation_process()
            self.validation_started = True

    def extract(self, batch_no: int, parsed: ParsedBatch):
        """The batch's extraction; with a submitter, a future of it."""
        announce("extract")
        if self.submit is None:
            return self._call("extract", parsed.documents, self.vocabulary, batch_no=batch_no)
        # Later batches are read before this one's extraction is consumed: count its
        # documents as seen now, so a copy in a later batch is skipped as before.
        self.known.ids.update(parsed.documents["document_id"].to_list())
        return self.submit("extract", extract_stage, parsed.documents, self.vocabulary, batch_no=batch_no)

    def stage(self, batch_no: int, files: int, parsed: ParsedBatch, extracted: ExtractedBatch) -> None:
        """Stage the batch for the load, and its observations for the next validation."""
        announce("stage")
        quarantined = quarantine_of(parsed, extracted)
        self._call("stage", str(self.staging), batch_no, {
            "documents": extracted.documents, "quarantine": quarantined,
            "entities": extracted.extraction.entities,
            "defects": extracted.extraction.defects, "unmapped": extracted.extraction.unmapped,
            "coverage": extracted.coverage,
        })
        self.pending.add(batch_no, extracted)
        if self.pending.observations >= VALIDATE_EVERY_OBSERVATIONS:
            self.validate(final=False)
        self.known.ids.update(extracted.documents["document_id"].to_list())
        summary = self.summary
        summary["documents_quarantined"] += quarantined.height
        self.reasons.update(quarantined["reason"].to_list())
        summary["observations_extracted"] += extracted.extraction.observations.height
        summary["defects"] += extracted.extraction.defects.height
        summary["unmapped"] += extracted.extraction.unmapped.height
        log.info("batch %d: %d files, %d documents, %d quarantined, %d skipped",
                 batch_no, files, extracted.documents.height, quarantined.height, parsed.skipped)

    def validate(self, final: bool, wait: bool | None = None) -> None:
        """Send what the batches gathered to the validate stage, which stages the clean rows and
        the rejects; it runs while later batches are read and extracted, and its results count
        once consumed, in flush order (``final``: send the rest; ``wait`` (default: ``final``):
        then wait for every one). The stage is announced as it is sent."""
        pending = self.pending
        if pending.batches or final:
            files, entities, stats = pending.take()
            if files or stats.height:
                announce("validate")
                # in the flow run's context, so that the validate task run is the flow run's
                context = contextvars.copy_context()
                self.validations.append(self.validating.submit(
                    context.run, self._call, "validate", str(self.staging), files, entities, stats,
                    self.vocabulary, flush_no=pending.flushes))
        wait = final if wait is None else wait
        while self.validations and (wait or self.validations[0].done()):
            validated: ValidationResult = self.validations.popleft().result()
            self.batch_results.extend(validated.results)
            self.expectations.update(validated.expectations_failed)
            self.reasons.update(validated.quarantine["reason"].to_list())

    def load(self, listing: str) -> Loaded:
        announce("load")
        settings, summary = self.settings, self.summary
        loaded: Loaded = self._call("load", str(settings.work_path), str(settings.warehouse), str(self.staging),
                                    self.run_id, self.vocabulary, lambda: self._validated(listing),
                                    self.inputs.fingerprint, str(settings.inbox), self.inputs.corrections.lines)
        counts = loaded.counts
        summary.update(documents_new=counts.documents, observations_loaded=counts.observations,
                       quarantine_rows_new=counts.quarantined, entities_new=counts.entities,
                       fact_changes=loaded.fact_changes, corrections=loaded.corrections)
        if loaded.superseded:
            summary["inbox_listing"] = None
        return loaded

    def _validated(self, listing: str) -> dict:
        """The run's ``pipeline_runs`` row, once every validation is in (the load calls this
        before it reads the observations). ``inbox_listing``: the inbox as listed at discovery, for
        the CLI's up-to-date check; not when a file or a stored document may read or extract
        differently next time (the load also drops it when the run superseded a document)."""
        self.validate(final=True)
        settings, summary = self.settings, self.summary
        summary["quarantine_reasons"] = dict(sorted(self.reasons.items()))
        retry = RETRYABLE_REASONS & self.reasons.keys()
        summary["inbox_listing"] = listing if self.read_inbox and not retry else None
        summary["expectations_failed"] = sum(self.expectations.values())
        summary["expectations_failed_names"] = sorted(self.expectations)
        if self.batch_results:
            # the validation process validates them for the Data Docs while this one loads
            prepare_data_docs(self.batch_results, str(settings.data_docs_dir), self.run_id)
        summary["status"], finished = "success", utcnow()
        summary["finished_at"] = finished.isoformat(timespec="seconds")
        return run_row(summary, started_at=summary["started_at"], finished_at=finished)

    def quality(self, loaded: Loaded) -> None:
        announce("quality")
        settings, summary = self.settings, self.summary
        counts = loaded.counts
        if counts.documents or counts.observations or counts.quarantined or loaded.fact_changes \
                or self.batch_results or unvalidated_loads(settings):
            quality = self._call("quality", str(settings.work_path), str(settings.warehouse), self.run_id,
                                 self.batch_results, str(settings.data_docs_dir), settings.alerts,
                                 as_datetime(summary["started_at"]), settings.coverage,
                                 settings.reextraction)
        else:
            # Nothing was loaded, so the warehouse is what the last run validated and alerted
            # on; `zonefacts validate` re-runs its suite on demand.
            log.info("nothing new was loaded: the warehouse suite is not re-run")
            quality = {"failed": [], "data_docs": None, "alerts_sent": 0, "alert_errors": []}
        summary.update(expectations_failed=len(quality["failed"]), failed_expectations=quality["failed"],
                       expectations_failed_names=[f["expectation"] for f in quality["failed"]],
                       data_docs=quality["data_docs"], alerts_sent=quality["alerts_sent"],
                       alert_errors=quality["alert_errors"])

    def publish(self) -> None:
        announce("publish")
        self._call("publish", str(self.settings.work_path), str(self.settings.warehouse))
        settle_validation_process(at_end_of_run=True)   # the Data Docs


def run_pipeline(settings: Settings, runner: Runner = run_plain, *, flow_run_id: str | None = None,
                 vocabulary: Vocabulary | None = None, submit: Runner | None = None,
                 reextract: str | None = None, read_inbox: bool = True) -> dict:
    """One zonefacts run (``PipelineRun``). Returns the summary dict (status 'success' or 'skipped').

    ``submit`` (``submit_as_prefect_task``, or ``thread_submitter()`` without Prefect), when
    given, runs the extract stage. ``reextract`` (a glob of paths or stems; ``"*"``: all)
    re-extracts those stored documents too; ``read_inbox=False`` re-extracts without reading the
    inbox. Raises ``PipelineFailed`` (with ``.summary``) when the run failed; the failure is
    recorded in ``pipeline_runs`` and the published snapshot keeps its data.
    """
    return PipelineRun(settings, runner, flow_run_id=flow_run_id, vocabulary=vocabulary, submit=submit,
                       reextract=reextract, read_inbox=read_inbox).execute()


# --------------------------------------------------------------------------- Prefect flow


@flow(name="zonefacts-run", persist_result=False, log_prints=False,
      task_runner=ThreadPoolTaskRunner(max_workers=EXTRACT_THREADS))
def zonefacts_run(
    inbox: str,
    warehouse: str,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    batch_documents: int = DEFAULT_BATCH_DOCUMENTS,
    lock_wait_seconds: float = 0.0,
    task_runner: str = "default",
    dask_address: str | None = None,
    reextract: str | None = None,
    read_inbox: bool = True,
    corrections: str | None = None,
) -> dict:
    """Run the zonefacts pipeline over ``inbox`` into ``warehouse``: a thin wrapper over
    ``run_pipeline`` with every stage as a Prefect task. Returns the run summary;
    raises ``PipelineFailed`` when the run failed.

    The extract tasks are submitted (``task.submit``) to the flow's task runner: a pool of
    ``EXTRACT_THREADS`` threads by default; with ``task_runner="dask"`` the caller sets a Dask
    one with ``zonefacts_run.with_options(task_runner=dask_task_runner(dask_address))``. Every
    other stage runs in the flow's thread, and the load stays a single writer.
    ``dask_address`` is recorded with the run's parameters (the runner itself is not).

    ``reextract`` and ``read_inbox`` are ``run_pipeline``'s; ``corrections`` is the corrections
    file (default: $ZONEFACTS_CORRECTIONS, else the one beside the warehouse).

    Alert channels come from the settings edge at run time, not as parameters: their
    secrets must not be stored with the flow run. The check thresholds come from there too."""
    edge = load_settings()
    settings = Settings(warehouse=Path(warehouse), inbox=Path(inbox), max_file_bytes=max_file_bytes,
                        batch_documents=batch_documents, lock_wait_seconds=lock_wait_seconds,
                        alerts=edge.alerts, coverage=edge.coverage, reextraction=edge.reextraction,
                        corrections=Path(corrections) if corrections else edge.corrections)
    flow_run_id = prefect_flow_run.id
    if task_runner not in TASK_RUNNERS:
        raise ValueError(f"unknown task runner {task_runner!r}; expected one of {', '.join(TASK_RUNNERS)}")
    return run_pipeline(settings, run_as_prefect_task, flow_run_id=str(flow_run_id) if flow_run_id else None,
                        submit=submit_as_prefect_task, reextract=reextract, read_inbox=read_inbox)
