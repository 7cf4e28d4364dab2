"""In-process fault cases: disk full, concurrent runs, a reader holding the snapshot, failing
alert channels, files that change between discovery and read, damaged warehouse files.

Each case asserts the row counts before and after, and that the next normal run leaves the
warehouse exactly like a clean run (see faults/conftest.py: ``assert_exactly_once``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import MAX_FILE_BYTES, ROOT
from faults.conftest import (DATA_TABLES, NEW_DOC, NEW_DOC_NAME, PYTHON, assert_exactly_once, counts,
                             leftovers, make_case, rows)
from faults.hook import fault_hook
from flows import cli
from flows.pipeline import KnownDocuments, PipelineFailed, discover_stage, read_parse_stage, run_pipeline, run_plain
from flows.settings import AlertSettings
from warehouse.store import WarehouseError


def _data(c: dict) -> dict:
    return {k: v for k, v in c.items() if k != "pipeline_runs"}


# --------------------------------------------------------------------------- disk full


def test_failed_write_during_load_rolls_back_then_next_run_is_exact(base, reference, tmp_path):
    """The injected failing writer at the DuckDB boundary: the load raises inside its transaction,
    after the observations (and every other row) are inserted."""
    case = make_case(base, tmp_path)
    before = counts(case.warehouse)
    with pytest.raises(PipelineFailed) as info, fault_hook.injected("load"):
        run_pipeline(case.settings())
    assert "injected failure after loading observations" in info.value.summary["error"]
    after = counts(case.warehouse)
    assert _data(after) == _data(before)
    assert after["pipeline_runs"] == before["pipeline_runs"] + 1
    assert rows(case.warehouse, "SELECT status FROM pipeline_runs ORDER BY started_at DESC LIMIT 1") == [("failed",)]
    assert leftovers(case) == []

    assert run_pipeline(case.settings())["documents_new"] == 1
    assert_exactly_once(case.warehouse, reference)


@pytest.fixture(scope="module")
def disk_full(base, reference, tmp_path_factory):
    """One run on a tmpfs that fills up mid-run, then the same run after the space is freed."""
    tmp_path = tmp_path_factory.mktemp("diskfull")
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    case = make_case(base, tmp_path / "case")
    size = case.warehouse.stat().st_size
    # room for the snapshot + its working copy + 256 KiB: the run's staging / load / WAL cannot fit
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={(2 * size + 256 * 1024) // 1024}k", "tmpfs",
                           str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()}); the injected failure covers it")
    try:
        warehouse = mnt / "zonefacts.duckdb"
        shutil.copyfile(case.warehouse, warehouse)
        for i in range(40):      # enough new text that the run must write well over 256 KiB
            (case.inbox / f"bulk-{i:02d}.txt").write_text(
                f"重庆高新区2025年第{i}号简报\n2025年上半年，重庆高新区地区生产总值同比增长5.9%。\n" +
                "".join(f"段落{i}-{j}：园区企业持续发展，项目建设稳步推进。" for j in range(400)), encoding="utf-8")
        settings = case.settings(max_file_bytes=20 * 1024 * 1024).with_overrides(warehouse=warehouse)
        before = counts(warehouse)
        snapshot = hashlib.sha256(warehouse.read_bytes()).hexdigest()
        error = None
        try:
            run_pipeline(settings)
        except PipelineFailed as exc:
            error = exc.summary["error"]
        failed = dict(counts=counts(warehouse), sha=hashlib.sha256(warehouse.read_bytes()).hexdigest(),
                      leftovers=[f.name for f in mnt.iterdir() if f.name.startswith(".zonefacts.duckdb.publish-")])
        subprocess.run(["mount", "-o", f"remount,size={256 * 1024}k", str(mnt)], check=True)
        summary = run_pipeline(settings)
        yield dict(before=before, snapshot=snapshot, error=error, failed=failed, summary=summary,
                   after=counts(warehouse), warehouse=warehouse, mnt=mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.slow
def test_real_disk_full_on_a_small_tmpfs_loses_and_duplicates_nothing(disk_full, reference):
    d = disk_full
    assert d["error"] is not None, "the run should fail when the disk is full"
    assert _data(d["failed"]["counts"]) == _data(d["before"])    # snapshot data unchanged
    # 40 bulk files + NEW_DOC + big.txt (oversized at the base's 1000-byte limit, a document at 20 MB)
    assert d["summary"]["status"] == "success" and d["summary"]["documents_new"] == 42
    assert d["after"]["documents"] == d["before"]["documents"] + 42
    assert rows(d["warehouse"], "SELECT count(*) - count(DISTINCT sha256) FROM documents") == [(0,)]
    assert [f for f in d["mnt"].iterdir() if f.name.startswith(".zonefacts.duckdb.publish-")] == []
    ref_paths = {f[1] for f in reference.facts}
    from faults.conftest import FACTS_SQL
    assert [f for f in rows(d["warehouse"], FACTS_SQL) if f[1] in ref_paths] == reference.facts


@pytest.mark.slow
def test_disk_full_leaves_no_partial_publish_file(disk_full):
    assert disk_full["failed"]["leftovers"] == []


@pytest.mark.slow
def test_disk_full_error_names_the_cause(disk_full):
    err = disk_full["error"] or ""
    assert "space" in err.lower() or "ENOSPC" in err, err


# --------------------------------------------------------------------------- concurrency


def test_two_runs_started_at_once_one_runs_one_skips(base, reference, tmp_path):
    case = make_case(base, tmp_path)
    before = counts(case.warehouse)
    barrier = threading.Barrier(2)
    results: list = []

    def one():
        barrier.wait()
        try:
            results.append(run_pipeline(case.settings(lock_wait_seconds=0)))
        except BaseException as exc:  # noqa: BLE001
            results.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(r["status"] for r in results) == ["skipped", "success"], results
    skipped = next(r for r in results if r["status"] == "skipped")
    assert "another zonefacts run holds" in skipped["message"]
    after = counts(case.warehouse)
    assert after["pipeline_runs"] == before["pipeline_runs"] + 1
    assert_exactly_once(case.warehouse, reference)
    # and again: nothing new, nothing doubled
    assert run_pipeline(case.settings())["documents_new"] == 0
    assert_exactly_once(case.warehouse, reference)


@pytest.mark.slow
def test_two_processes_started_at_once_one_runs_one_skips(base, reference, tmp_path):
    case = make_case(base, tmp_path)
    go = tmp_path / "go"
    wrapped = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from flows.pipeline import run_pipeline\n"
        "from flows.settings import Settings\n"
        "print('READY', flush=True)\n"
        f"while not os.path.exists({str(go)!r}):\n"
        "    time.sleep(0.01)\n"
        "s = run_pipeline(Settings(warehouse=Path(sys.argv[1]), inbox=Path(sys.argv[2]),"
        " max_file_bytes=int(sys.argv[3]), lock_wait_seconds=0))\n"
        "print('STATUS', s['status'])\n")
    procs = [subprocess.Popen([str(PYTHON), "-c", wrapped, str(case.warehouse), str(case.inbox), str(MAX_FILE_BYTES)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    import time
    for p in procs:                      # both have imported everything: start them together
        assert p.stdout.readline().strip() == "READY", p.stderr.read()[-2000:]
    deadline = time.monotonic() + 180
    go.touch()
    outs = [p.communicate(timeout=max(deadline - time.monotonic(), 1)) for p in procs]
    statuses = sorted(line.split()[1] for out, _ in outs for line in out.splitlines() if line.startswith("STATUS"))
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
    assert statuses == ["skipped", "success"], outs
    assert_exactly_once(case.warehouse, reference)


# --------------------------------------------------------------------------- a reader


def test_reader_holding_the_published_file_does_not_block_a_run(base, reference, tmp_path):
    case = make_case(base, tmp_path)
    before = counts(case.warehouse)
    reader = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys\n"
         "con = duckdb.connect(sys.argv[1], read_only=True)\n"
         "print(con.execute('SELECT count(*) FROM documents').fetchall()[0][0], flush=True)\n"
         "sys.stdin.readline()\n"
         "print(con.execute('SELECT count(*) FROM documents').fetchall()[0][0], flush=True)\n"
         "con.close()\n",
         str(case.warehouse)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert int(reader.stdout.readline()) == before["documents"]   # the reader has the file open
        summary = run_pipeline(case.settings())
        assert summary["status"] == "success" and summary["documents_new"] == 1
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert int(reader.stdout.readline()) == before["documents"]   # it kept its consistent snapshot
    finally:
        out, err = reader.communicate(timeout=30)
    assert reader.returncode == 0, err
    assert_exactly_once(case.warehouse, reference)


# --------------------------------------------------------------------------- alert channels


TOKEN = "hook-T0KEN-4f1c9e"
PASSWORD = "smtp-P4ss-wd-77!"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def hanging_port():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)   # accepts into the backlog, never answers
    yield listener.getsockname()[1]
    listener.close()


@pytest.mark.parametrize("webhook", ["hanging", "refusing", "500"])
def test_failing_alert_channels_never_fail_the_run(webhook, base, reference, tmp_path, hanging_port, caplog):
    from test_alerts import http_server, smtp_server

    caplog.set_level(logging.DEBUG)
    case = make_case(base, tmp_path)
    before = counts(case.warehouse)
    with http_server(statuses=[500] * 10) as (hook, http_port), \
            smtp_server(greeting="554 5.7.1 no service for you") as (box, smtp_port):
        port = {"hanging": hanging_port, "refusing": _free_port(), "500": http_port}[webhook]
        alerts = AlertSettings(webhook_url=f"http://127.0.0.1:{port}/hooks/{TOKEN}?token={TOKEN}",
                               smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_from="zf@example.cn",
                               smtp_to=("ops@example.cn",), smtp_user="zf", smtp_password=PASSWORD,
                               timeout_seconds=0.5, retries=1)
        summary = run_pipeline(case.settings(alerts=alerts))
    assert summary["status"] == "success"
    assert summary["documents_new"] == 1
    assert summary["expectations_failed"] >= 1
    assert summary["alerts_sent"] == 0
    channels = sorted(e.split(" ", 1)[0] for e in summary["alert_errors"])
    assert channels == ["smtp", "webhook"], summary["alert_errors"]
    if webhook == "500":
        assert len(hook.requests) == 2          # first try + 1 retry
    run_id = summary["run_id"]
    recorded = rows(case.warehouse, "SELECT alert_errors::VARCHAR, failed_error + failed_warning "
                                    "FROM dq_runs WHERE run_id = ?", [run_id])
    assert len(recorded) == 1
    assert sorted(e.split(" ", 1)[0] for e in json.loads(recorded[0][0])) == ["smtp", "webhook"]
    assert recorded[0][1] >= 1
    kept = rows(case.warehouse, "SELECT count(*), count(*) FILTER (WHERE NOT success) FROM dq_results "
                                "WHERE run_id = ?", [run_id])[0]
    assert kept[0] > 0 and kept[1] >= 1           # validation results kept
    assert rows(case.warehouse, "SELECT count(*) FROM alert_log") == [(0,)]   # nothing sent → retried next run
    after = counts(case.warehouse)
    assert after["pipeline_runs"] == before["pipeline_runs"] + 1
    assert_exactly_once(case.warehouse, reference)
    # secrets: nowhere
    dq = json.dumps(rows(case.warehouse, "SELECT * FROM dq_runs"), default=str)
    runs = json.dumps(rows(case.warehouse, "SELECT * FROM pipeline_runs"), default=str)
    for text in (json.dumps(summary, default=str), dq, runs, caplog.text):
        assert TOKEN not in text and PASSWORD not in text


# --------------------------------------------------------------------------- files changing under us


def _runner_mutating_after_discover(mutate):
    def runner(stage, fn, *args, **kwargs):
        result = run_plain(stage, fn, *args, **kwargs)
        if stage == "discover":
            mutate()
        return result
    return runner


def test_file_deleted_or_rewritten_between_discover_and_read_stages(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "gone.txt").write_text("2024年，重庆高新区地区生产总值同比增长6.0%。\n", encoding="utf-8")
    (inbox / "changed.txt").write_text("旧内容：2024年，重庆高新区地区生产总值同比增长6.0%。\n", encoding="utf-8")
    (inbox / "grown.txt").write_text("短。", encoding="utf-8")
    paths = discover_stage(str(inbox), 1000).paths
    assert paths == ["changed.txt", "gone.txt", "grown.txt"]
    (inbox / "gone.txt").unlink()
    new_text = "新内容：2025年，重庆高新区地区生产总值同比增长5.1%。\n"
    (inbox / "changed.txt").write_text(new_text, encoding="utf-8")
    (inbox / "grown.txt").write_text("长" * 2000, encoding="utf-8")   # now over max_bytes
    parsed = read_parse_stage(str(inbox), paths, 1000, KnownDocuments())
    docs = {r["path"]: r for r in parsed.documents.to_dicts()}
    quarantined = {r["path"]: r["reason"] for r in parsed.quarantine.to_dicts()}
    assert quarantined == {"gone.txt": "unreadable", "grown.txt": "oversized"}
    assert set(docs) == {"changed.txt"}
    assert docs["changed.txt"]["sha256"] == hashlib.sha256(new_text.encode()).hexdigest()
    assert docs["changed.txt"]["text"].strip() == new_text.strip()    # read consistently: the new bytes


def test_run_goes_on_when_files_change_after_discovery(base, reference, tmp_path):
    case = make_case(base, tmp_path)
    (case.inbox / "vanishing.txt").write_text("2025年，重庆高新区地区生产总值同比增长5.0%。\n", encoding="utf-8")
    (case.inbox / NEW_DOC_NAME).write_text("placeholder, rewritten after discovery\n", encoding="utf-8")
    before = counts(case.warehouse)

    def mutate():
        (case.inbox / "vanishing.txt").unlink()
        (case.inbox / NEW_DOC_NAME).write_text(NEW_DOC, encoding="utf-8")

    summary = run_pipeline(case.settings(), runner=_runner_mutating_after_discover(mutate))
    assert summary["status"] == "success"
    assert summary["documents_seen"] == before["documents"] + 4 + 2   # base good + bad + 2 new
    assert summary["documents_new"] == 1
    assert summary["quarantine_reasons"].get("unreadable") == 1
    q = rows(case.warehouse, "SELECT reason, detail FROM quarantine WHERE path = 'vanishing.txt'")
    assert len(q) == 1 and q[0][0] == "unreadable" and "FileNotFoundError" in q[0][1]
    # the rewritten file went in with its new content only, and the warehouse is otherwise exact
    assert rows(case.warehouse, "SELECT sha256 FROM documents WHERE path = ?", [NEW_DOC_NAME]) == [
        (hashlib.sha256(NEW_DOC.encode()).hexdigest(),)]
    got = counts(case.warehouse, DATA_TABLES)
    assert got == {**reference.counts, "quarantine": reference.counts["quarantine"] + 1}
    (case.inbox / "vanishing.txt").write_text("2025年，重庆高新区地区生产总值同比增长5.0%。\n", encoding="utf-8")
    assert run_pipeline(case.settings())["documents_new"] == 1      # back: picked up next run


# --------------------------------------------------------------------------- damaged warehouse files


def _damage(kind: str, path: Path) -> None:
    if kind == "random":
        path.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    elif kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "header-only":
        data = path.read_bytes()
        path.write_bytes(data[:4096])
    elif kind == "zero":
        path.write_bytes(b"")


@pytest.mark.parametrize("which", ["published", "work"])
@pytest.mark.parametrize("kind", ["random", "truncated", "header-only", "zero"])
def test_damaged_warehouse_file_is_a_clear_error_never_a_fresh_start(kind, which, base, tmp_path, capsys):
    case = make_case(base, tmp_path)
    settings = case.settings()
    if which == "work":
        shutil.copyfile(case.warehouse, settings.work_path)
    target = case.warehouse if which == "published" else settings.work_path
    _damage(kind, target)
    damaged = target.read_bytes()
    published_before = case.warehouse.read_bytes()

    with pytest.raises(PipelineFailed) as info:
        run_pipeline(settings)
    summary = info.value.summary
    assert summary["error_type"] == "WarehouseError", summary["error"]
    assert str(target) in summary["error"] and "mv " in summary["error"], summary["error"]
    assert target.read_bytes() == damaged                          # nothing was changed
    assert case.warehouse.read_bytes() == published_before

    code = cli.main(["run", "--inbox", str(case.inbox), "--warehouse", str(case.warehouse),
                     "--max-file-bytes", str(MAX_FILE_BYTES)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_WAREHOUSE == 3
    assert str(target) in err
    assert target.read_bytes() == damaged

    # the documented recovery: move the damaged file aside and run again
    target.rename(target.with_name(target.name + ".damaged"))
    assert run_pipeline(settings)["status"] == "success"
    c = counts(case.warehouse)
    if which == "work":   # rebuilt from the snapshot: base + NEW_DOC
        assert c["documents"] == base.counts["documents"] + 1
    else:                 # rebuilt from the inbox
        assert c["documents"] == base.counts["documents"] + 1


@pytest.mark.parametrize("kind", ["random", "truncated", "zero"])
def test_sql_on_a_damaged_snapshot_exits_3_naming_the_file(kind, base, tmp_path, capsys):
    case = make_case(base, tmp_path, new_doc=False)
    _damage(kind, case.warehouse)
    code = cli.main(["sql", "SELECT count(*) FROM documents", "--warehouse", str(case.warehouse)])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_WAREHOUSE, (out, err)
    assert str(case.warehouse) in err


def _cut(path: Path, cut: str) -> bytes:
    """Cut ``path`` short: by one byte, by one block, or to the headers only; returns what is left."""
    data = path.read_bytes()
    keep = {"1 byte": len(data) - 1, "1 block": len(data) - 256 * 1024, "all blocks": 3 * 4096}[cut]
    path.write_bytes(data[:keep])
    return data[:keep]


@pytest.mark.parametrize("which", ["published", "work", "seed"])
@pytest.mark.parametrize("cut", ["1 byte", "1 block", "all blocks"])
def test_a_file_cut_short_by_any_amount_is_refused_before_use(cut, which, base, tmp_path):
    """However little is missing, the file is refused when it is opened, not halfway through a run."""
    from warehouse.store import open_published, open_work

    case = make_case(base, tmp_path, new_doc=False)
    work = case.settings().work_path
    target = work if which == "work" else case.warehouse
    if which == "work":
        shutil.copyfile(case.warehouse, work)
    left = _cut(target, cut)
    with pytest.raises(WarehouseError) as info:
        if which == "published":
            open_published(case.warehouse)
        else:                       # "seed": no working file yet, it would be copied from the snapshot
            open_work(case.warehouse, work)
    message = str(info.value)
    assert str(target) in message and "mv " in message, message
    assert target.read_bytes() == left
    if which == "seed":
        assert not work.exists()    # the damaged snapshot was not copied


def _block_counts(path: Path) -> tuple[int, int]:
    """(blocks the header counts, whole blocks in the file)."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        block_size, total = con.execute("SELECT block_size, total_blocks FROM pragma_database_size()").fetchone()
    finally:
        con.close()
    return total, (path.stat().st_size - 3 * 4096) // block_size


def _shrunk_file(path: Path) -> None:
    """A healthy file whose header counts more blocks than the file has: a checkpoint freed the
    last blocks and cut them off the file, but the header it wrote still counts them."""
    import duckdb

    for sql in ["CREATE TABLE a AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(300000)",
                "CREATE TABLE b AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(300000)",
                "DROP TABLE b",                       # the checkpoint on close cuts b's blocks off
                "DELETE FROM a WHERE i % 2 = 0"]:     # rewritten: free blocks inside, data block last
        con = duckdb.connect(str(path))
        con.execute(sql)
        con.close()                                   # checkpoints
    total, in_file = _block_counts(path)
    assert total > in_file, (total, in_file)


def test_healthy_files_pass_the_size_check_in_every_state(tmp_path):
    """Fresh, grown, checkpointed, shrunk by a checkpoint, with free blocks inside, after a WAL
    replay: a healthy file is never mistaken for a truncated one."""
    import duckdb

    from warehouse.store import open_published, open_work

    path = tmp_path / "z.duckdb"
    work = tmp_path / "z.duckdb.work"

    def reopen():
        open_published(path).close()
        shutil.copyfile(path, work)
        open_work(path, work).close()
        work.unlink()

    duckdb.connect(str(path)).close()
    reopen()
    _shrunk_file(path)
    reopen()
    for sql in ["CREATE TABLE c AS SELECT range AS i FROM range(300000)",
                "CHECKPOINT",
                "DROP TABLE c"]:
        con = duckdb.connect(str(path))
        con.execute(sql)
        con.close()
        reopen()
    # a WAL left by a process that never closed: replayed on open, then checked
    subprocess.run([sys.executable, "-c",
                    "import duckdb, os, sys\n"
                    "con = duckdb.connect(sys.argv[1])\n"
                    "con.execute(\"SET checkpoint_threshold = '1TB'\")\n"
                    "con.execute('CREATE TABLE d AS SELECT range AS i FROM range(500000)')\n"
                    "os._exit(0)\n", str(path)], check=True)
    assert path.with_name(path.name + ".wal").exists()
    con = open_published(path)
    assert con.execute("SELECT count(*) FROM d").fetchone() == (500000,)
    con.close()
    con = open_work(tmp_path / "none.duckdb", path)
    assert con.execute("SELECT count(*) FROM d").fetchone() == (500000,)
    con.close()
    reopen()


@pytest.mark.parametrize("cut", ["1 byte", "1 block"])
def test_a_shrunk_file_cut_short_is_still_refused(cut, tmp_path):
    """When the header counts more blocks than the file has, the blocks in use decide."""
    from warehouse.store import open_published

    path = tmp_path / "z.duckdb"
    _shrunk_file(path)
    _cut(path, cut)
    with pytest.raises(WarehouseError, match="truncated"):
        open_published(path)
