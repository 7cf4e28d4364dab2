"""The run's stages as plain functions, and the stage table: names, order, how each runs.

A stage takes and returns plain values (paths as strings, Polars frames, small result
classes), so that the same function runs as a Prefect task (``flows.runners``) or as a plain
call (benchmarks, unit tests). ``STAGES`` is the one list of them; the run object in
``flows.pipeline`` calls them in its order.

Stage boundaries are events: the run announces each stage as it begins (``announce``), and
the load announces ``"commit"`` inside its transaction once every row is inserted. Whatever
is in ``STAGE_LISTENERS`` hears them (progress reporting, tracing, the fault tests' hook).
"""
from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from flows.inbox import Discovery, discover_entries, log_skipped
from flows.inbox_read import read_raw_files
from flows.runrecord import insert_run_row
from flows.settings import Settings
from flows.validation import (QUARANTINE_STAGED_SCHEMA, VALIDATED_BATCH, quality_stage, validate_stage,
                              validated_observation_files)
from flows.validation_process import ValidationProcessDied, run_in_validation_process_if_idle
from transforms.corrections import extend_vocabulary, vocabulary_key
from transforms.documents import parse_documents
from transforms.extract import ENTITY_SCHEMA, Extraction, extract
from transforms.fingerprint import extractor_fingerprint, vocabulary_digest
from transforms.vocabulary import Vocabulary, entity_dimension, indicator_dimension, load_vocabulary
from warehouse import corrections, history, store
from warehouse.staging import stage_batch, staged_file

log = logging.getLogger("zonefacts.pipeline")


# Quarantine reason of an inbox entry discovery refuses (a symlink loop or one leading out of the
# inbox, a FIFO, a directory too deep): it stays refused until the entry itself changes.
REFUSED_PATH = "refused_path"
# The batch number under which the discovery's refused entries are staged: none of the read or
# re-extracted batches (numbered from 0) nor of the validation flushes (VALIDATED_BATCH + n).
DISCOVERY_BATCH = VALIDATED_BATCH - 1


# --------------------------------------------------------------------------- what the extractor reads


@dataclass(frozen=True)
class ExtractorInputs:
    """What the extractor reads in a run besides the documents: the vocabulary with the analysts'
    map_phrase and alias lines, the corrections file as read once, and the fingerprint naming both."""
    vocabulary: Vocabulary
    corrections: corrections.CorrectionsFile
    fingerprint: str


def extractor_inputs(settings: Settings, vocabulary: Vocabulary | None = None) -> ExtractorInputs:
    """The run's vocabulary and fingerprint: the vocabulary files' (or ``vocabulary``, given in
    code), extended by the corrections file beside the warehouse (``settings.corrections``)."""
    base = load_vocabulary() if vocabulary is None else vocabulary
    found = corrections.read(corrections.corrections_path(settings.warehouse, settings.corrections), base)
    extra = vocabulary_key(found.lines)
    given = "" if vocabulary is None else vocabulary_digest(vocabulary)
    if given and given != vocabulary_digest(load_vocabulary()):
        extra += f"\0vocabulary {given}"     # not what the files say: facts must not carry their fingerprint
    return ExtractorInputs(extend_vocabulary(base, found.lines), found, extractor_fingerprint(extra=extra))


# --------------------------------------------------------------------------- stage results


class KnownDocuments:
    """Document ids already loaded (or seen earlier in this run).

    A plain class on purpose: Prefect walks list/set/dataclass task parameters looking for
    futures, wasted work on a large id set should a runner make reading a task run (zonefacts'
    own runs it in the flow run: ``read`` is not a task in ``STAGES``).
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


def quarantine_of(parsed: ParsedBatch, extracted: ExtractedBatch) -> pl.DataFrame:
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

    def add(self, batch_no: int, extracted: ExtractedBatch) -> None:
        from expectations.suites import document_stats

        observations = extracted.extraction.observations
        if observations.height:
            stage_batch(self.directory, batch_no, {"observations": observations})
            self.files.append(str(staged_file(self.directory, "observations", batch_no)))
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


# --------------------------------------------------------------------------- stages


def discover_stage(inbox: str, max_bytes: int) -> Discovery:
    """Candidate files under ``inbox`` as sorted posix paths relative to it, and the entries
    refused on the way with the reason (logged as one warning; the run quarantines them)."""
    found = discover_entries(inbox)
    log_skipped(inbox, found.skipped)
    return found


def refused_quarantine(skipped: list[tuple[str, str]]) -> pl.DataFrame:
    """Discovery's refused entries as staged quarantine rows: path and reason, never a payload
    (nothing of the entry is read)."""
    return pl.DataFrame({"stage": ["discover"] * len(skipped), "path": [path for path, _ in skipped],
                         "document_id": [None] * len(skipped), "reason": [REFUSED_PATH] * len(skipped),
                         "detail": [why for _, why in skipped], "payload": [None] * len(skipped)},
                        schema=QUARANTINE_STAGED_SCHEMA)


def clean_leftovers(settings: Settings) -> None:
    """Remove staging dirs and publish temp files of runs that died (the caller holds the lock)."""
    if settings.staging_dir.is_dir():
        for child in settings.staging_dir.iterdir():
            shutil.rmtree(child, ignore_errors=True)
    for tmp in settings.warehouse.parent.glob(f".{settings.warehouse.name}.publish-*"):
        tmp.unlink(missing_ok=True)


def warehouse_state(settings: Settings, fingerprint: str, reextract: str | None) -> tuple[KnownDocuments, list[str]]:
    """Open (seed, migrate) the working file; read the loaded document ids, and the stored
    documents to re-extract: those another fingerprint read, and those ``reextract`` (a glob of
    paths or stems) names.

    A function of its own so that no DuckDB handle is a local of the long-lived run frame
    (a failed run's traceback outlives the run in Prefect's state)."""
    con = store.open_work(settings.warehouse, settings.work_path)
    try:
        stale = set(history.stale_document_ids(con, fingerprint))
        if reextract:
            stale.update(history.matching_document_ids(con, reextract))
        return KnownDocuments(store.known_document_ids(con)), sorted(stale)
    finally:
        con.close()


def unvalidated_loads(settings: Settings) -> bool:
    """Whether a run that loaded rows died before its warehouse suite: the data still needs it."""
    con = store.open_work(settings.warehouse, settings.work_path)
    try:
        return store.unvalidated_loads(con) > 0
    finally:
        con.close()


def read_parse_stage(inbox: str, paths: list[str], max_bytes: int, known: KnownDocuments) -> ParsedBatch:
    """Read one batch of files and parse them into documents and an ingest quarantine.

    Files whose document identity (bytes and sidecar) is in ``known`` are hashed, then dropped
    (counted as skipped).
    """
    raw = read_raw_files(Path(inbox), list(paths), max_bytes, skip_documents=known)
    is_known = raw.get_column("document_id").is_in(pl.Series(list(known.ids), dtype=pl.String)).fill_null(False)
    skipped = int(is_known.sum())
    raw = raw.filter(~is_known)
    documents, quarantine = parse_documents(raw, max_bytes=max_bytes)
    before = documents.height
    documents = documents.unique(subset="document_id", keep="first", maintain_order=True)
    skipped += before - documents.height
    return ParsedBatch(documents, _to_staged_quarantine(quarantine, "ingest"), skipped)


def read_stored_stage(work: str, warehouse: str, document_ids: list[str]) -> ParsedBatch:
    """Stored documents to re-extract, as a parsed batch: their text as loaded, so a document is
    read again even when its file is gone."""
    con = store.open_work(Path(warehouse), Path(work))
    try:
        documents = history.read_documents(con, document_ids)
    finally:
        con.close()
    return ParsedBatch(documents, empty_quarantine(), 0)


def extract_stage(documents: pl.DataFrame, vocabulary: Vocabulary, batch_no: int = 0) -> ExtractedBatch:
    """Extract a batch (in the validation process when it is idle); if the extractor raises,
    retry document by document here and
    quarantine (stage 'extract', reason 'extract_error') only those it fails on.
    Such documents are not loaded, so a fixed extractor picks them up next run.
    ``batch_no`` names the batch in the log and in the task run's name."""
    try:
        extraction = _extract_where_idle(documents, vocabulary)
    except ValidationProcessDied:
        raise   # not the documents' doing: the run fails, as a validation there would
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


def _extract_where_idle(documents: pl.DataFrame, vocabulary: Vocabulary) -> Extraction:
    """``extract(documents, vocabulary)`` in the validation process while it sits idle, else here.

    The extractor's many small Polars queries and its Python steps mostly hold the GIL, so a
    second extraction thread here gains little; that process has a GIL of its own and is idle
    from its GX import to its first validation. The result is the same wherever it ran."""
    remote = run_in_validation_process_if_idle(extract, documents, vocabulary)
    return remote[0] if remote is not None else extract(documents, vocabulary)


@dataclass
class Loaded:
    counts: store.LoadCounts
    fact_changes: list[str]           # "re-extraction under 3fa2c1d9e0b4: 4 added, 2 changed, 1 retracted", per cause
    corrections: list[str]            # "corrections: 5 applied", then each correction that does nothing
    superseded: int                   # documents a new version of their file replaced


def load_stage(work: str, warehouse: str, staging: str, run_id: str, vocabulary: Vocabulary,
               run_row: Callable[[], dict], fingerprint: str, inbox: str, correction_lines: pl.DataFrame) -> Loaded:
    """Load the whole run's staging into the working file in one transaction, the
    pipeline_runs row included, and close it (checkpointed, ready to publish).

    ``run_row()`` returns that row; the load calls it once the documents and dimensions are in,
    before it reads the staged observations: the run's last validation, which stages them, runs
    in the validation process meanwhile, and ``run_row`` waits for it.
    ``inbox`` is the run's (``pipeline_runs.inbox``): with a path it names a file's lineage.
    ``correction_lines`` is the corrections file as read now (empty without one: a deleted
    line or file undoes its corrections)."""
    said: dict = {}

    def observations_staged() -> None:
        said["row"] = run_row()

    def record(con: duckdb.DuckDBPyConnection, counts: store.LoadCounts) -> None:
        row = dict(said.pop("row"))
        said.update(fact_changes=history.summary_lines(con, run_id), corrections=corrections.summary_lines(con),
                    superseded=history.superseded_count(con, run_id))
        row["documents_new"] = counts.documents
        row["observations_loaded"] = counts.observations
        row["summary"] = {**row["summary"], "documents_new": counts.documents,
                          "observations_loaded": counts.observations, "load": counts.__dict__,
                          "fact_changes": said["fact_changes"], "corrections": said["corrections"]}
        if said["superseded"]:
            # a copy elsewhere in the inbox of a version superseded now was skipped as loaded
            row["summary"]["inbox_listing"] = None
        insert_run_row(con, row)
        announce("commit")   # every row inserted, nothing committed

    con = store.open_work(Path(warehouse), Path(work))
    try:
        counts = store.load_staged(
            con, Path(staging), run_id=run_id,
            indicators=indicator_dimension(vocabulary),
            vocabulary_entities=entity_dimension(vocabulary),
            before_commit=record, before_observations=observations_staged,
            validated_files=lambda: validated_observation_files(staging), fingerprint=fingerprint, inbox=inbox,
            corrections=correction_lines,
        )
    finally:
        con.close()
    return Loaded(counts, **said)


def publish_stage(work: str, warehouse: str) -> None:
    store.publish(Path(work), Path(warehouse))


# --------------------------------------------------------------------------- the stage table


@dataclass(frozen=True)
class Stage:
    name: str
    fn: Callable
    # A Prefect task run of its own, or a plain call inside the flow run: a task run costs
    # ~0.1 s of bookkeeping here and ~0.08 s of CPU on the server, more than reading a batch
    # (~0.15 s) or staging it (a few file writes) is worth; the batch's extract task run and
    # the flow's log report each batch.
    task: bool
    task_run_name: str | None = None
    retries: int = 0                  # on OSError only: transient I/O


STAGES: tuple[Stage, ...] = (
    Stage("discover", discover_stage, task=True),
    Stage("read", read_parse_stage, task=False, retries=2),
    # stored documents read again from the working file, one batch at a time, as ``read`` reads files
    Stage("reextract", read_stored_stage, task=False),
    Stage("extract", extract_stage, task=True, task_run_name="extract-{batch_no}"),
    Stage("stage", stage_batch, task=False),
    Stage("validate", validate_stage, task=True, task_run_name="validate-{flush_no}"),
    Stage("load", load_stage, task=True),
    Stage("quality", quality_stage, task=True),
    Stage("publish", publish_stage, task=True),
)
STAGE_BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}

# Called with the event's name ("discover" … "publish" as each stage begins, "commit" inside
# the load's transaction). In the thread of the stage; an exception raised here fails the run
# there, as the stage's own would.
STAGE_LISTENERS: list[Callable[[str], None]] = []


def announce(event: str) -> None:
    for listener in STAGE_LISTENERS:
        listener(event)
