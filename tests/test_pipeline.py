"""End-to-end runs of the zonefacts flow on real files, a real DuckDB and a real Prefect server.

Observation counts are 0 until the extractor lands; every assertion about them compares
counts (before/after, first/second run) so it holds with the real extractor too.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import (EXPECTED_QUARANTINE, GOOD_FILES, MAX_FILE_BYTES, ROOT, ZONEFACTS, query,
                      table_counts, write_inbox)
from faults.hook.fault_hook import Fault, environment, injected
from flows import cli, pipeline
from flows.inbox import HEAD_BYTES, discover, file_batches, stat_listing
from flows.inbox_read import read_raw_files
from flows.pipeline import run_lock, run_pipeline, zonefacts_run
from flows.settings import Settings


def _flow(inbox: Path, warehouse: Path, **kwargs) -> dict:
    params = dict(max_file_bytes=MAX_FILE_BYTES, batch_documents=3)
    params.update(kwargs)
    return zonefacts_run(inbox=str(inbox), warehouse=str(warehouse), **params)


def _without_runs(counts: dict) -> dict:
    return {k: v for k, v in counts.items() if k != "pipeline_runs"}


# --------------------------------------------------------------------------- the file edge


def test_discover_skips_sidecars_hidden_symlinks_out_and_special_files(tmp_path, inbox):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret", encoding="utf-8")
    (inbox / "leak.txt").symlink_to(outside)
    (inbox / "alias.txt").symlink_to(inbox / "2024-h1.txt")  # inside the inbox: kept
    (inbox / "loop").symlink_to(inbox, target_is_directory=True)  # a loop is cut, not followed forever
    os.mkfifo(inbox / "pipe.txt")
    found = [p.as_posix() for p in discover(inbox)]
    assert found == sorted(found)
    assert set(found) == set(GOOD_FILES) | set(EXPECTED_QUARANTINE) | {"alias.txt"}


def test_read_raw_files_oversized_head_and_vanished_file(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    big = os.urandom(HEAD_BYTES + 12345)
    (inbox / "big.bin").write_bytes(big)
    (inbox / "ok.txt").write_bytes(b"hello")
    (inbox / "ok.meta.json").write_bytes(b'{"title": "x"}')
    raw = read_raw_files(inbox, [Path("big.bin"), Path("gone.txt"), inbox / "ok.txt"], max_bytes=1000)
    rows = {r["path"]: r for r in raw.to_dicts()}
    assert rows["big.bin"]["size_bytes"] == len(big)
    assert rows["big.bin"]["content"] == big[:HEAD_BYTES]
    assert rows["big.bin"]["sha256"] == hashlib.sha256(big).hexdigest()
    assert rows["gone.txt"]["read_error"].startswith("FileNotFoundError")
    assert rows["gone.txt"]["sha256"] is None
    assert rows["ok.txt"]["sidecar"] == b'{"title": "x"}'
    assert rows["ok.txt"]["read_error"] is None


# --------------------------------------------------------------------------- flow runs


def test_flow_run_loads_documents_quarantines_bad_files_and_is_idempotent(prefect_api_url, inbox, warehouse):
    first = _flow(inbox, warehouse)
    assert first["status"] == "success"
    assert first["documents_seen"] == len(GOOD_FILES) + len(EXPECTED_QUARANTINE)
    assert first["documents_new"] == len(GOOD_FILES)
    assert first["documents_quarantined"] == len(EXPECTED_QUARANTINE)
    assert first["quarantine_reasons"] == {r: 1 for r in EXPECTED_QUARANTINE.values()}
    assert first["batches"] == 3
    assert first["flow_run_id"]

    docs = {row[0]: row[1:] for row in query(
        warehouse, "SELECT path, encoding, format, title, published_at::VARCHAR, source_url, sha256 FROM documents")}
    assert set(docs) == set(GOOD_FILES)
    assert docs["gbk/2024-q1.txt"][0] == "gb18030"
    assert docs["2024-q3.md"][1] == "markdown"
    assert docs["2024-fy.html"][1] == "html"
    assert docs["2024-h1.txt"][2:5] == ("上半年经济运行", "2024-07-20", "https://example.cn/news/h1")
    assert docs["2024-h1.txt"][5] == hashlib.sha256((inbox / "2024-h1.txt").read_bytes()).hexdigest()

    quarantined = {p: (stage, reason, doc_id) for p, stage, reason, doc_id in query(
        warehouse, "SELECT path, stage, reason, document_id FROM quarantine")}
    assert {p: r for p, (_, r, _) in quarantined.items()} == EXPECTED_QUARANTINE
    assert all(stage == "ingest" for stage, _, _ in quarantined.values())
    assert quarantined["nul.txt"][2] == hashlib.sha256((inbox / "nul.txt").read_bytes()).hexdigest()

    runs = query(warehouse, "SELECT status, documents_new, documents_quarantined, flow_run_id, "
                            "summary->>'$.status' FROM pipeline_runs")
    assert runs == [("success", len(GOOD_FILES), len(EXPECTED_QUARANTINE), first["flow_run_id"], "success")]
    assert not (warehouse.parent / "zonefacts.duckdb.staging").exists()

    before = table_counts(warehouse)
    second = _flow(inbox, warehouse)
    assert second["status"] == "success"
    assert (second["documents_new"], second["observations_loaded"], second["quarantine_rows_new"]) == (0, 0, 0)
    assert second["documents_skipped"] == len(GOOD_FILES)
    after = table_counts(warehouse)
    assert _without_runs(after) == _without_runs(before)
    assert after["pipeline_runs"] == before["pipeline_runs"] + 1


def test_changed_file_at_same_path_is_a_new_version(prefect_api_url, inbox, warehouse):
    """An edited file is its next version: the current one in documents, the earlier one retired
    in document_versions, and its facts kept in the history (issue 17)."""
    _flow(inbox, warehouse)
    old_sha = hashlib.sha256((inbox / "2024-h1.txt").read_bytes()).hexdigest()
    (inbox / "2024-h1.txt").write_text(
        "重庆高新区2024年上半年经济运行情况（修订）\n2024年上半年，重庆高新区地区生产总值同比增长6.3%。\n",
        encoding="utf-8")
    summary = _flow(inbox, warehouse)
    assert summary["documents_new"] == 1
    new_sha = hashlib.sha256((inbox / "2024-h1.txt").read_bytes()).hexdigest()
    assert query(warehouse, "SELECT sha256 FROM documents WHERE path = '2024-h1.txt'") == [(new_sha,)]
    versions = query(warehouse, "SELECT sha256, retired_cause FROM document_versions WHERE path = '2024-h1.txt' "
                                "ORDER BY retired_run NULLS LAST")
    assert versions == [(old_sha, "superseded"), (new_sha, None)]
    assert table_counts(warehouse)["documents"] == len(GOOD_FILES)
    # the earlier version's GDP growth is history; the current one reads 6.3
    assert query(warehouse, "SELECT value, end_cause FROM fact_history WHERE indicator = 'gdp' "
                            "AND measure = 'yoy_pct' AND document = '2024-h1' ORDER BY valid_to_run NULLS LAST") == [
        (6.1, "superseded"), (6.3, None)]
    assert query(warehouse, "SELECT value FROM observations WHERE indicator = 'gdp' AND measure = 'yoy_pct' "
                            "AND document = '2024-h1'") == [(6.3,)]


def test_plain_runner_without_prefect_gives_the_same_result(inbox, tmp_path):
    settings = Settings(warehouse=tmp_path / "plain.duckdb", inbox=inbox, max_file_bytes=MAX_FILE_BYTES,
                        batch_documents=2)
    summary = run_pipeline(settings)
    assert summary["status"] == "success"
    assert summary["flow_run_id"] is None
    assert (summary["documents_new"], summary["documents_quarantined"]) == (len(GOOD_FILES),
                                                                            len(EXPECTED_QUARANTINE))
    assert run_pipeline(settings)["documents_new"] == 0


def test_duplicate_content_under_two_paths_is_loaded_once(inbox, tmp_path):
    # the same version: the same bytes and the same sidecar (the sidecar is part of the identity)
    (inbox / "copy-of-h1.txt").write_bytes((inbox / "2024-h1.txt").read_bytes())
    (inbox / "copy-of-h1.meta.json").write_bytes((inbox / "2024-h1.meta.json").read_bytes())
    settings = Settings(warehouse=tmp_path / "dup.duckdb", inbox=inbox, max_file_bytes=MAX_FILE_BYTES,
                        batch_documents=1)  # the copy lands in another batch
    summary = run_pipeline(settings)
    assert summary["documents_new"] == len(GOOD_FILES)
    assert summary["documents_skipped"] == 1


def test_file_batches_end_at_a_count_or_a_byte_budget(tmp_path):
    sizes = {"a": 10, "b": 10, "c": 30, "d": 5, "huge": 10_000, "e": 1}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"x" * size)
    names = list(sizes) + ["vanished"]
    # at most 3 files, and past a batch's first file at most 40 bytes held; the oversized
    # file holds only its head (HEAD_BYTES), which alone exceeds the budget, so it stands alone
    listing = stat_listing(tmp_path, names)
    batches = file_batches(listing, files=3, max_bytes=1_000, batch_bytes=40)
    assert batches == [["a", "b"], ["c", "d"], ["huge"], ["e", "vanished"]]
    assert [p for b in batches for p in b] == names                        # every file, in order
    assert file_batches(listing, files=2, max_bytes=1_000, batch_bytes=10**9) == [
        ["a", "b"], ["c", "d"], ["huge", "e"], ["vanished"]]


def test_a_byte_budget_splits_batches_and_loads_the_same_rows(inbox, tmp_path, monkeypatch):
    counted = Settings(warehouse=tmp_path / "count.duckdb", inbox=inbox, max_file_bytes=MAX_FILE_BYTES,
                       batch_documents=1000)
    by_count = run_pipeline(counted)
    monkeypatch.setattr(pipeline, "BATCH_MAX_BYTES", 1)      # every file is a batch of its own
    by_bytes = run_pipeline(Settings(warehouse=tmp_path / "bytes.duckdb", inbox=inbox,
                                     max_file_bytes=MAX_FILE_BYTES, batch_documents=1000))
    assert by_count["batches"] == 1
    assert by_bytes["batches"] >= len(GOOD_FILES) > 1                  # an empty file may share one
    assert _without_runs(table_counts(tmp_path / "bytes.duckdb")) == _without_runs(
        table_counts(tmp_path / "count.duckdb"))


# --------------------------------------------------------------------------- faults


@pytest.mark.slow
def test_kill_during_load_leaves_published_warehouse_unchanged(prefect_api_url, cli_env, inbox, warehouse):
    _flow(inbox, warehouse)
    before = table_counts(warehouse)
    (inbox / "2025-h1.txt").write_text("2025年上半年，重庆高新区地区生产总值同比增长5.9%。\n", encoding="utf-8")

    env = environment("kill:load", dict(cli_env, ZONEFACTS_MAX_FILE_BYTES=str(MAX_FILE_BYTES)))
    proc = subprocess.run([str(ZONEFACTS), "run", "--inbox", str(inbox), "--warehouse", str(warehouse)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == -9, proc.stderr
    assert table_counts(warehouse) == before  # nothing published, not even a run row

    # the lock died with the process; the next normal run completes and loads the new file
    summary = _flow(inbox, warehouse)
    assert summary["status"] == "success"
    assert summary["documents_new"] == 1
    after = table_counts(warehouse)
    assert after["documents"] == before["documents"] + 1
    assert not (warehouse.parent / "zonefacts.duckdb.staging").exists()


def test_failed_load_rolls_back_and_is_recorded(prefect_api_url, inbox, warehouse, capsys):
    _flow(inbox, warehouse)
    before = table_counts(warehouse)
    (inbox / "2025-q1.txt").write_text("2025年一季度，重庆高新区地区生产总值同比增长5.2%。\n", encoding="utf-8")
    with injected("load"):
        code = cli.main(["run", "--inbox", str(inbox), "--warehouse", str(warehouse),
                         "--max-file-bytes", str(MAX_FILE_BYTES)])
    assert code == cli.EXIT_FAILED
    assert "run failed" in capsys.readouterr().err
    after = table_counts(warehouse)
    assert _without_runs(after) == _without_runs(before)
    assert after["pipeline_runs"] == before["pipeline_runs"] + 1
    assert query(warehouse, "SELECT status FROM pipeline_runs ORDER BY started_at DESC LIMIT 1") == [("failed",)]

    assert _flow(inbox, warehouse)["documents_new"] == 1


def test_a_run_announces_each_stage_as_it_begins_and_the_loads_commit(inbox, tmp_path):
    """The stage boundaries listeners hear (flows.stages.STAGE_LISTENERS), in the order of the table."""
    from flows.stages import STAGE_LISTENERS, STAGES

    heard: list[str] = []
    STAGE_LISTENERS.append(heard.append)
    try:
        summary = run_pipeline(Settings(warehouse=tmp_path / "events.duckdb", inbox=inbox,
                                        max_file_bytes=MAX_FILE_BYTES, batch_documents=3))
    finally:
        STAGE_LISTENERS.remove(heard.append)
    per_batch = ["read", "extract", "stage"] * summary["batches"]
    assert heard == ["discover", *per_batch, "validate", "load", "commit", "quality", "publish"]
    assert [s.name for s in STAGES] == ["discover", "read", "reextract", "extract", "stage", "validate", "load",
                                        "quality", "publish"]


def test_fault_spec_is_validated():
    assert Fault.parse("kill:load") == Fault("load", kill=True)
    assert Fault.parse(None) is None
    with pytest.raises(ValueError, match="unknown fault stage"):
        Fault.parse("kill:nowhere")


# --------------------------------------------------------------------------- concurrency


def test_second_run_while_locked_exits_75(prefect_api_url, inbox, warehouse, capsys):
    lock = Settings(warehouse=warehouse).lock_path
    with run_lock(lock):
        code = cli.main(["run", "--inbox", str(inbox), "--warehouse", str(warehouse)])
    assert code == cli.EXIT_TEMPFAIL == 75
    assert f"another zonefacts run holds {lock}; skipped" in capsys.readouterr().err
    assert not warehouse.exists()


def test_flow_skips_when_the_lock_is_held(prefect_api_url, inbox, warehouse):
    lock = Settings(warehouse=warehouse).lock_path
    with run_lock(lock):
        summary = _flow(inbox, warehouse, lock_wait_seconds=0.3)
    assert summary["status"] == "skipped"
    assert summary["message"] == f"another zonefacts run holds {lock}; skipped"
    assert not warehouse.exists()


def test_run_waits_for_the_lock_up_to_lock_wait(prefect_api_url, inbox, warehouse, capsys):
    lock = Settings(warehouse=warehouse).lock_path
    release = threading.Event()

    def holder():
        with run_lock(lock):
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    time.sleep(0.2)
    threading.Timer(0.5, release.set).start()
    code = cli.main(["run", "--inbox", str(inbox), "--warehouse", str(warehouse), "--lock-wait", "30",
                     "--max-file-bytes", str(MAX_FILE_BYTES)])
    t.join()
    assert code == 0
    assert "seen 8, new 4" in capsys.readouterr().out


# --------------------------------------------------------------------------- the default path


@pytest.mark.slow
def test_zonefacts_run_on_prefects_temporary_server_is_quiet(tmp_path):
    """`zonefacts run` without PREFECT_API_URL: Prefect's temporary server, our summary only."""
    inbox = write_inbox(tmp_path / "inbox")
    warehouse = tmp_path / "tmp-server.duckdb"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL",)}
    proc = subprocess.run([str(ZONEFACTS), "run", "--inbox", str(inbox), "--warehouse", str(warehouse),
                           "--max-file-bytes", str(MAX_FILE_BYTES)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("zonefacts run ")
    assert "seen 8, new 4, skipped 0, quarantined 4" in proc.stdout
    assert proc.stderr.strip() == ""
    assert table_counts(warehouse)["documents"] == len(GOOD_FILES)


# --------------------------------------------------------------------------- the up-to-date check


def _cli_run(inbox: Path, warehouse: Path, capsys, *extra: str) -> str:
    code = cli.main(["run", "--inbox", str(inbox), "--warehouse", str(warehouse),
                     "--max-file-bytes", str(MAX_FILE_BYTES), *extra])
    assert code == cli.EXIT_OK
    return capsys.readouterr().out


def test_unchanged_inbox_is_up_to_date_without_a_flow_run(prefect_api_url, inbox, warehouse, capsys):
    first = _cli_run(inbox, warehouse, capsys)
    assert "seen 8, new 4, skipped 0, quarantined 4" in first
    runs = table_counts(warehouse)["pipeline_runs"]

    # the same listing (quarantined files included): answered from the warehouse, nothing recorded
    again = _cli_run(inbox, warehouse, capsys)
    assert again.startswith("zonefacts run: up to date, nothing to do")
    assert "8 files, unchanged since run" in again
    assert table_counts(warehouse)["pipeline_runs"] == runs

    # a touched file is a change: the flow runs, reads it, finds it loaded already
    st = (inbox / "2024-q3.md").stat()
    os.utime(inbox / "2024-q3.md", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert "seen 8, new 0, skipped 4, quarantined 4" in _cli_run(inbox, warehouse, capsys)
    assert "up to date" in _cli_run(inbox, warehouse, capsys)

    # so is a changed sidecar (a new version of its document), a new file, and --rescan reads
    # everything regardless
    (inbox / "2024-q3.meta.json").write_text('{"title": "前三季度"}', encoding="utf-8")
    assert "seen 8, new 1" in _cli_run(inbox, warehouse, capsys)
    (inbox / "2025-q1.txt").write_text("2025年一季度，重庆高新区地区生产总值同比增长5.2%。\n", encoding="utf-8")
    assert "seen 9, new 1" in _cli_run(inbox, warehouse, capsys)
    assert "seen 9, new 0" in _cli_run(inbox, warehouse, capsys, "--rescan")
    assert table_counts(warehouse)["pipeline_runs"] == runs + 4


def test_a_run_that_could_not_read_a_file_is_never_up_to_date(prefect_api_url, inbox, warehouse, capsys):
    """A file the run could not read may read next time: that run records no listing."""
    from flows.pipeline import run_plain

    flaky = inbox / "flaky.txt"
    flaky.write_text("2024年，重庆高新区地区生产总值增长6.1%。", encoding="utf-8")
    stat_before = flaky.stat()
    content = flaky.read_bytes()

    def vanishing_once(stage, fn, *args, **kwargs):
        if stage == "read" and flaky.exists():
            flaky.unlink()     # gone between discovery and reading
        return run_plain(stage, fn, *args, **kwargs)

    settings = Settings(warehouse=warehouse, inbox=inbox.resolve(), max_file_bytes=MAX_FILE_BYTES)
    summary = run_pipeline(settings, vanishing_once)
    assert summary["quarantine_reasons"]["unreadable"] == 1
    assert summary["inbox_listing"] is None
    flaky.write_bytes(content)   # back, with the size and mtime it was listed with
    os.utime(flaky, ns=(stat_before.st_atime_ns, stat_before.st_mtime_ns))
    assert "seen 9, new 1" in _cli_run(inbox, warehouse, capsys)
    assert "up to date" in _cli_run(inbox, warehouse, capsys)


def test_up_to_date_check_defers_to_the_flow_after_a_run_died_before_publishing(
        prefect_api_url, inbox, warehouse, capsys):
    _cli_run(inbox, warehouse, capsys)
    settings = Settings(warehouse=warehouse)
    os.utime(settings.work_path)     # the working file is newer than the snapshot: a run died
    assert "seen 8, new 0" in _cli_run(inbox, warehouse, capsys)
