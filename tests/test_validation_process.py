"""The validation process (flows/validation_process.py): GX runs in a child process of its own.

What the run loads must not depend on where GX ran; the run's own process must not import
GX; a child that dies fails the run cleanly, and the next run starts a fresh one.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from conftest import GOOD_FILES, MAX_FILE_BYTES, ROOT, query, table_counts
from expectations.gx_import import ABSENT_FOR_GX, hidden
from flows import validation, validation_process
from flows.pipeline import PipelineFailed, run_pipeline
from flows.settings import Settings
from flows.stages import KnownDocuments, read_parse_stage
from transforms.extract import extract
from transforms.vocabulary import load_vocabulary

IMPLAUSIBLE = "2024年上半年，重庆高新区规模以上工业增加值同比增长950%，固定资产投资同比增长4.2%。\n"


def _settings(inbox, warehouse) -> Settings:
    return Settings(warehouse=warehouse, inbox=inbox, max_file_bytes=MAX_FILE_BYTES, batch_documents=2)


def _loaded(warehouse) -> dict[str, list[tuple]]:
    return {
        "facts": query(warehouse, "SELECT observation_id, value, dq_flags FROM fact_observation ORDER BY 1"),
        "quarantine": query(warehouse, "SELECT stage, document_id, reason, detail FROM quarantine ORDER BY ALL"),
        "results": query(warehouse, "SELECT suite, expectation, severity, success, unexpected_count, fingerprint "
                                    "FROM dq_results ORDER BY ALL"),
    }


def test_runs_load_the_same_rows_whether_gx_runs_here_or_in_the_validation_process(inbox, tmp_path, monkeypatch):
    (inbox / "implausible.txt").write_text(IMPLAUSIBLE, encoding="utf-8")
    validation_process.stop_validation_process()
    monkeypatch.setattr(validation_process, "_ENABLED", False)
    here = run_pipeline(_settings(inbox, tmp_path / "here.duckdb"))
    assert validation_process._PROCESS is None

    monkeypatch.setattr(validation_process, "_ENABLED", True)
    validation_process.start_validation_process()
    child = validation_process._PROCESS.process
    there = run_pipeline(_settings(inbox, tmp_path / "there.duckdb"))
    running = validation_process._PROCESS
    assert running is not None and running.process is child and child.poll() is None

    # GX ran there as where SQLAlchemy is not installed (expectations/gx_import.py), here with it
    assert validation_process.run_in_validation_process(hidden) == list(ABSENT_FOR_GX)
    assert hidden() == []

    assert here["status"] == there["status"] == "success"
    loaded = _loaded(tmp_path / "here.duckdb")
    assert loaded == _loaded(tmp_path / "there.duckdb")
    assert loaded["facts"] and any(row[0] == "validation" for row in loaded["quarantine"])
    assert any(not row[3] for row in loaded["results"])   # some expectation failed, the same way


def test_a_script_without_a_main_guard_runs_without_importing_gx(inbox, tmp_path):
    """multiprocessing's spawn would re-run such a script in the child; ``python -c`` does not."""
    script = tmp_path / "run_it.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from flows.pipeline import run_pipeline
        from flows.settings import Settings
        summary = run_pipeline(Settings(warehouse=Path({str(tmp_path / 'wh.duckdb')!r}),
                                        inbox=Path({str(inbox)!r}), max_file_bytes={MAX_FILE_BYTES}))
        print(summary["status"], summary["documents_new"], "great_expectations" in sys.modules)
    """), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZONEFACTS_")}
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["success", str(len(GOOD_FILES)), "False"]


def test_an_error_in_the_validation_process_arrives_with_its_traceback_and_the_process_stays_usable(tmp_path):
    validation_process.start_validation_process()
    missing = str(tmp_path / "missing.parquet")
    empty_entities = pl.DataFrame(schema={"name": pl.String, "entity_type": pl.String, "parent": pl.String,
                                          "aliases": pl.List(pl.String)})
    with pytest.raises(FileNotFoundError) as raised:
        validation.validate_stage(str(tmp_path), [missing], empty_entities, pl.DataFrame(), load_vocabulary())
    assert isinstance(raised.value.__cause__, validation_process.RemoteTraceback)
    assert "_validate" in str(raised.value.__cause__)
    assert validation_process._PROCESS is not None and not validation_process._PROCESS.broken
    result = validation.validate_stage(str(tmp_path / "staging"), [], empty_entities, pl.DataFrame(),
                                       load_vocabulary())
    assert result.observations == 0 and result.quarantine.height == 0


def test_a_validation_process_that_dies_fails_the_run_and_the_next_run_loads(inbox, warehouse):
    validation_process.start_validation_process()
    dead = validation_process._PROCESS.process
    os.kill(dead.pid, signal.SIGKILL)
    dead.wait(10)

    with pytest.raises(PipelineFailed) as failed:
        run_pipeline(_settings(inbox, warehouse))
    assert "ValidationProcessDied" in failed.value.summary["error"]
    counts = table_counts(warehouse)   # the failure is recorded, nothing else is published
    assert (counts["documents"], counts["fact_observation"], counts["quarantine"]) == (0, 0, 0)
    assert query(warehouse, "SELECT status FROM pipeline_runs") == [("failed",)]
    assert validation_process._PROCESS is None   # the dead one is let go

    summary = run_pipeline(_settings(inbox, warehouse))
    assert summary["status"] == "success"
    assert summary["documents_new"] == len(GOOD_FILES)
    assert validation_process._PROCESS is not None and validation_process._PROCESS.process.pid != dead.pid


def test_without_a_validation_process_the_stages_run_here(monkeypatch, capsys):
    validation_process.stop_validation_process()

    def no_process(*args, **kwargs):
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(validation_process.subprocess, "Popen", no_process)
    validation_process.start_validation_process()
    assert validation_process._PROCESS is None
    assert "could not start the validation process" in capsys.readouterr().err
    assert validation_process.run_in_validation_process(len, [1, 2, 3]) == 3


def _answer_then_write(path: str, seconds: float) -> str:
    """A stage that leaves writing ``path`` for after its answer (as the quality stage leaves its Data Docs)."""

    def write() -> None:
        time.sleep(seconds)
        Path(path).write_text("written after the answer", encoding="utf-8")

    validation_process.after_reply(write)
    return "answered"


def _answer_then_fail() -> str:
    def fail() -> None:
        raise RuntimeError("the renderer broke")

    validation_process.after_reply(fail)
    return "answered"


def test_work_left_for_after_the_answer_overlaps_the_caller_and_is_waited_for(tmp_path, capfd):
    validation_process.start_validation_process()
    marker = tmp_path / "after.txt"
    # the work after the answer takes long enough that a loaded test machine still checks in time
    assert validation_process.run_in_validation_process(_answer_then_write, str(marker), 3.0) == "answered"
    assert not marker.exists()   # the caller goes on while the process works
    validation_process.settle_validation_process()
    assert marker.read_text(encoding="utf-8") == "written after the answer"

    # inside settling_after, the end of a run leaves the wait to the end of the block
    marker.unlink()
    with validation_process.settling_after():
        validation_process.run_in_validation_process(_answer_then_write, str(marker), 3.0)
        validation_process.settle_validation_process(at_end_of_run=True)
        assert not marker.exists()
    assert marker.exists()

    # a failure after the answer is logged there, and the process goes on answering
    assert validation_process.run_in_validation_process(_answer_then_fail) == "answered"
    validation_process.settle_validation_process()
    assert "the renderer broke" in capfd.readouterr().err
    assert validation_process.run_in_validation_process(len, [1, 2]) == 2


def test_without_a_validation_process_work_after_the_answer_runs_at_once(tmp_path, monkeypatch):
    validation_process.stop_validation_process()
    monkeypatch.setattr(validation_process, "_ENABLED", False)
    marker = tmp_path / "after.txt"
    assert validation_process.run_in_validation_process(_answer_then_write, str(marker), 0.0) == "answered"
    assert marker.read_text(encoding="utf-8") == "written after the answer"


def _when_idle(fn, *args) -> tuple:
    """``run_in_validation_process_if_idle(fn, *args)`` once the process is done importing GX."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        answer = validation_process.run_in_validation_process_if_idle(fn, *args)
        if answer is not None:
            return answer
        time.sleep(0.1)
    raise AssertionError("the validation process never became idle")


def test_work_goes_to_the_validation_process_only_while_it_is_idle():
    validation_process.stop_validation_process()
    validation_process.start_validation_process()
    # GX takes seconds to import: meanwhile the caller is told at once to do the work itself
    assert validation_process.run_in_validation_process_if_idle(os.getpid) is None
    (there,) = _when_idle(os.getpid)
    assert there == validation_process._PROCESS.process.pid != os.getpid()

    busy = threading.Thread(target=validation_process.run_in_validation_process, args=(time.sleep, 1.5))
    busy.start()
    time.sleep(0.3)
    assert validation_process.run_in_validation_process_if_idle(os.getpid) is None   # serving the sleep
    busy.join()
    assert validation_process.run_in_validation_process_if_idle(os.getpid) == (there,)


def test_a_batch_extracts_the_same_in_the_validation_process(inbox):
    validation_process.start_validation_process()
    documents = read_parse_stage(str(inbox), list(GOOD_FILES), MAX_FILE_BYTES, KnownDocuments()).documents
    vocabulary = load_vocabulary()
    here = extract(documents, vocabulary)
    (there,) = _when_idle(extract, documents, vocabulary)
    assert here.observations.height > 0
    for part in ("observations", "defects", "unmapped", "entities", "coverage"):
        assert_frame_equal(getattr(there, part), getattr(here, part))


def test_a_run_extracting_in_the_idle_validation_process_loads_what_a_run_extracting_here_loads(
        inbox, tmp_path, monkeypatch):
    (inbox / "implausible.txt").write_text(IMPLAUSIBLE, encoding="utf-8")
    validation_process.stop_validation_process()
    monkeypatch.setattr(validation_process, "_ENABLED", False)
    here = run_pipeline(_settings(inbox, tmp_path / "here.duckdb"))

    monkeypatch.setattr(validation_process, "_ENABLED", True)
    validation_process.start_validation_process()
    _when_idle(os.getpid)   # idle now: the run's batches extract there, one after the other
    there = run_pipeline(_settings(inbox, tmp_path / "there.duckdb"))

    assert here["status"] == there["status"] == "success"
    assert here["observations_loaded"] == there["observations_loaded"] > 0
    assert _loaded(tmp_path / "here.duckdb") == _loaded(tmp_path / "there.duckdb")


def test_a_runs_data_docs_show_every_suite_it_validated(inbox, tmp_path):
    """The batch suites' pages are rendered while the run loads, the warehouse suites' and the
    index after the quality stage: the index lists the pages of all of them, each one written."""
    (inbox / "implausible.txt").write_text(IMPLAUSIBLE, encoding="utf-8")
    validation_process.start_validation_process()
    summary = run_pipeline(_settings(inbox, tmp_path / "docs.duckdb"))
    validation_process.settle_validation_process()
    index = Path(summary["data_docs"])
    listed = set(re.findall(r'validations/([a-z_]+)/[^"#?]+\.html', index.read_text(encoding="utf-8")))
    assert listed == {"observations", "documents", "warehouse_facts", "warehouse_documents", "warehouse_consistency"}
    pages = {p.relative_to(index.parent / "validations").parts[0] for p in index.parent.glob("validations/**/*.html")}
    assert pages == listed


def test_the_validation_process_collects_less_often_and_never_walks_its_imports():
    """flows/collector.py: the validation process imports GX with collection paused, then freezes
    what the imports made and collects again, its youngest generation at the relaxed threshold."""
    import gc

    from flows import collector

    validation_process.start_validation_process()
    assert validation_process.run_in_validation_process(gc.isenabled) is True
    assert validation_process.run_in_validation_process(gc.get_threshold)[0] == collector.YOUNG_COLLECTION_EVERY
    assert validation_process.run_in_validation_process(gc.get_freeze_count) > 10_000   # GX's modules


def test_a_long_lived_process_freezes_its_imports_once():
    """``freeze_imports`` freezes only in a process whose entry point tuned its collector (never the
    heap of a program calling zonefacts), and only the first time: what a later run leaves stays
    collectable."""
    code = textwrap.dedent("""
        import gc
        from flows import collector
        collector.freeze_imports()
        assert gc.get_freeze_count() == 0      # not a zonefacts entry point: nothing frozen
        collector.pause()
        assert not gc.isenabled()
        collector.freeze_imports()
        frozen = gc.get_freeze_count()
        leftovers = [[] for _ in range(1000)]
        collector.freeze_imports()
        print(gc.isenabled(), gc.get_threshold()[0], frozen > 0, gc.get_freeze_count() == frozen)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    from flows.collector import YOUNG_COLLECTION_EVERY

    assert done.stdout.split() == ["True", str(YOUNG_COLLECTION_EVERY), "True", "True"]
