"""Hostile paths in the inbox (issue 18, items 1-3): symlink loops, trees deeper than any
inbox needs, FIFOs and sockets named like documents or sidecars, and symlinks out of the inbox.

Each reproduction is a whole run beside a copy of samples/: the samples load exactly as they
load alone, the run exits 0 and ends within a timeout, and the hostile entry is named with its
reason: a skip warning from discovery and a quarantine row ``refused_path`` (path and reason, no
payload; issue 17 leftover), or an ``unreadable`` row for a document whose sidecar is refused.
Nothing of a file outside the inbox reaches the warehouse, and a permanent refused entry does
not keep an unchanged inbox from being up to date.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import uuid
from pathlib import Path

import duckdb
import pytest

from conftest import ROOT, ZONEFACTS, query, table_counts
from flows.inbox import MAX_DEPTH, discover_entries
from flows.inbox_read import SIDECAR_MAX_BYTES, read_raw_files
from flows.pipeline import run_pipeline
from flows.settings import Settings

MARKER = f"zfoutside{uuid.uuid4().hex[:10]}"
RUN_TIMEOUT = 240          # seconds; a run that blocks on a FIFO never ends
DEEP = 1100                # levels: past Python's recursion limit
NO_FACTS = "本文件只有说明文字，没有任何统计数据：第{}层。\n"


def _samples(inbox: Path) -> Path:
    inbox.mkdir(parents=True)
    for sample in (ROOT / "samples").iterdir():
        shutil.copy(sample, inbox / sample.name)
    return inbox


def _loaded(warehouse: Path) -> dict[str, int]:
    counts = table_counts(warehouse, ("documents", "fact_observation", "quarantine"))
    return {"documents": counts["documents"], "observations": counts["fact_observation"],
            "quarantine": counts["quarantine"]}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> dict[str, int]:
    """What samples/ loads on its own."""
    root = tmp_path_factory.mktemp("baseline")
    inbox = _samples(root / "in")
    summary = run_pipeline(Settings(warehouse=root / "wh" / "zf.duckdb", inbox=inbox))
    assert summary["status"] == "success"
    loaded = _loaded(root / "wh" / "zf.duckdb")
    files = sum(1 for p in inbox.iterdir() if not p.name.endswith(".meta.json"))
    assert loaded["documents"] == files == 6 and loaded["observations"] > 0 and loaded["quarantine"] == 0
    return dict(loaded, files=files)


def _cli_run(inbox: Path, warehouse: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(ZONEFACTS), "run", "--inbox", str(inbox), "--warehouse", str(warehouse)],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)


def _documents_line(baseline: dict, seen: int, quarantined: str = "0") -> str:
    return f"seen {seen}, new {baseline['documents']}, skipped 0, quarantined {quarantined}"


def _refused(warehouse: Path) -> list[tuple]:
    """The quarantine rows of the entries discovery refused."""
    return query(warehouse, "SELECT path, stage, detail, payload FROM quarantine WHERE reason = 'refused_path' "
                            "ORDER BY path")


# --------------------------------------------------------------------------- 1. loops and depth


def test_a_symlink_loop_beside_the_samples_is_skipped_and_they_load(baseline, cli_env, tmp_path):
    inbox = _samples(tmp_path / "in")
    (inbox / "loopa").symlink_to("loopb")
    (inbox / "loopb").symlink_to("loopa")
    (inbox / "sub").mkdir()
    (inbox / "sub" / "up").symlink_to("..", target_is_directory=True)     # a cycle through a directory
    warehouse = tmp_path / "wh" / "zf.duckdb"

    done = _cli_run(inbox, warehouse, cli_env)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    # each refused entry is one quarantine row (before refused entries were staged: "quarantined 0")
    assert _documents_line(baseline, baseline["files"], "3 (refused_path: 3)") in done.stdout
    assert "'loopa' is a symlink loop" in output and "'loopb' is a symlink loop" in output
    assert "'sub/up' is a directory searched already under another path" in output
    assert "RuntimeError" not in output
    assert _loaded(warehouse) == {"documents": baseline["documents"], "observations": baseline["observations"],
                                  "quarantine": baseline["quarantine"] + 3}
    assert _refused(warehouse) == [
        ("loopa", "discover", "is a symlink loop", None), ("loopb", "discover", "is a symlink loop", None),
        ("sub/up", "discover", "is a directory searched already under another path", None)]
    # the loops stay, refused for good: the unchanged inbox is up to date, and no row is added twice
    again = _cli_run(inbox, warehouse, cli_env)
    assert again.returncode == 0 and "up to date, nothing to do" in again.stdout, again.stdout + again.stderr
    assert len(_refused(warehouse)) == 3


def _chain(base: Path, levels: int) -> list[Path]:
    """base/d, base/d/d, … made one mkdir at a time (os.makedirs recurses once per level)."""
    made, path = [], base
    for _ in range(levels):
        path = path / "d"
        path.mkdir()
        made.append(path)
    return made


def test_a_tree_1100_levels_deep_is_cut_at_the_depth_limit(baseline, tmp_path, caplog):
    inbox = _samples(tmp_path / "in")
    levels = _chain(inbox, DEEP)
    try:
        for level in (10, MAX_DEPTH, MAX_DEPTH + 1, DEEP):
            (levels[level - 1] / f"level{level}.txt").write_text(NO_FACTS.format(level), encoding="utf-8")
        warehouse = tmp_path / "wh" / "zf.duckdb"
        summary = run_pipeline(Settings(warehouse=warehouse, inbox=inbox))
    finally:
        for path in reversed(levels):            # shutil.rmtree recurses once per level too
            for child in path.iterdir():
                if child.is_file():
                    child.unlink()
            path.rmdir()

    assert summary["status"] == "success"
    assert summary["documents_seen"] == baseline["files"] + 2          # levels 10 and 64, not 65 or 1100
    assert summary["documents_new"] == baseline["documents"] + 2
    paths = {p for (p,) in query(warehouse, "SELECT path FROM documents")}
    assert "/".join(["d"] * MAX_DEPTH) + f"/level{MAX_DEPTH}.txt" in paths
    assert not any(p.endswith((f"level{MAX_DEPTH + 1}.txt", f"level{DEEP}.txt")) for p in paths)
    loaded = _loaded(warehouse)
    assert loaded["documents"] == baseline["documents"] + 2
    assert loaded["observations"] == baseline["observations"]          # the deep files state no facts
    cut = "/".join(["d"] * (MAX_DEPTH + 1))
    assert f"'{cut}' is a directory more than {MAX_DEPTH} levels below the inbox: not searched" in caplog.text
    assert _refused(warehouse) == [
        (cut, "discover", f"is a directory more than {MAX_DEPTH} levels below the inbox: not searched", None)]
    assert summary["quarantine_reasons"] == {"refused_path": 1}


# --------------------------------------------------------------------------- 2. FIFOs


def test_a_fifo_sidecar_is_refused_without_hanging_and_the_samples_load(baseline, cli_env, tmp_path):
    inbox = _samples(tmp_path / "in")
    (inbox / "a.txt").write_text(NO_FACTS.format("a"), encoding="utf-8")
    os.mkfifo(inbox / "a.meta.json")
    os.mkfifo(inbox / "pipe.txt")
    warehouse = tmp_path / "wh" / "zf.duckdb"

    done = _cli_run(inbox, warehouse, cli_env)     # raises TimeoutExpired if a FIFO is opened blocking
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    # before refused entries were staged: "quarantined 1 (unreadable: 1)", pipe.txt only logged
    assert _documents_line(baseline, baseline["files"] + 1, "2 (refused_path: 1, unreadable: 1)") in done.stdout
    assert "'pipe.txt' is a FIFO, not a regular file" in output
    assert query(warehouse, "SELECT path, reason, detail, payload FROM quarantine WHERE reason <> 'refused_path'") == [
        ("a.txt", "unreadable", "sidecar a.meta.json is a FIFO, not a regular file", None)]
    assert _refused(warehouse) == [("pipe.txt", "discover", "is a FIFO, not a regular file", None)]
    assert _loaded(warehouse) == {"documents": baseline["documents"], "observations": baseline["observations"],
                                  "quarantine": 2}


# --------------------------------------------------------------------------- 3. outside the inbox


def _text_columns(con) -> list[tuple[str, str]]:
    return con.execute("""
        SELECT c.table_name, c.column_name FROM information_schema.columns c
        JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
        WHERE t.table_type = 'BASE TABLE'
          AND (c.data_type IN ('VARCHAR', 'BLOB', 'JSON') OR c.data_type LIKE 'VARCHAR[]%'
               OR c.data_type LIKE 'STRUCT%' OR c.data_type LIKE 'MAP%')""").fetchall()


def test_symlinks_out_of_the_inbox_leave_nothing_of_their_target_in_the_warehouse(baseline, cli_env, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "passwd").write_text(f"root:x:0:0:{MARKER}:/root:/bin/bash\n", encoding="utf-8")
    (outside / "meta.json").write_text(json.dumps({"title": MARKER, "source_url": f"https://{MARKER}.cn/"}),
                                       encoding="utf-8")
    (outside / "notes.txt").write_text(f"2024年，重庆高新区地区生产总值同比增长6.1%。{MARKER}\n", encoding="utf-8")
    inbox = _samples(tmp_path / "in")
    for stem in ("x", "y"):
        (inbox / f"{stem}.txt").write_text(NO_FACTS.format(stem), encoding="utf-8")
    (inbox / "x.meta.json").symlink_to(outside / "passwd")           # not JSON: would be quoted in detail
    (inbox / "y.meta.json").symlink_to(outside / "meta.json")        # valid JSON: would become the title
    (inbox / "leak.txt").symlink_to(outside / "notes.txt")
    (inbox / "away").symlink_to(outside, target_is_directory=True)
    warehouse = tmp_path / "wh" / "zf.duckdb"

    done = _cli_run(inbox, warehouse, cli_env)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    # before refused entries were staged: "quarantined 2 (unreadable: 2)", leak.txt and away only logged
    assert _documents_line(baseline, baseline["files"] + 2, "4 (refused_path: 2, unreadable: 2)") in done.stdout
    assert "'leak.txt' is a symlink outside the inbox" in output
    assert "'away' is a symlink outside the inbox" in output
    assert sorted(query(warehouse, "SELECT path, reason, detail, payload FROM quarantine "
                                   "WHERE reason <> 'refused_path'")) == [
        ("x.txt", "unreadable", "sidecar x.meta.json is a symlink outside the inbox", None),
        ("y.txt", "unreadable", "sidecar y.meta.json is a symlink outside the inbox", None)]
    assert _refused(warehouse) == [("away", "discover", "is a symlink outside the inbox", None),
                                   ("leak.txt", "discover", "is a symlink outside the inbox", None)]
    assert _loaded(warehouse) == {"documents": baseline["documents"], "observations": baseline["observations"],
                                  "quarantine": 4}

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        columns = _text_columns(con)
        assert ("quarantine", "detail") in columns and ("documents", "title") in columns
        leaks = {(t, c) for t, c in columns if con.execute(
            f'SELECT count(*) FROM "{t}" WHERE strpos(CAST("{c}" AS VARCHAR), ?) > 0', [MARKER]).fetchone()[0]}
    finally:
        con.close()
    assert leaks == set()
    assert MARKER not in output
    for path in warehouse.parent.rglob("*"):     # snapshot, working file, Data Docs
        if path.is_file():
            assert MARKER.encode() not in path.read_bytes(), path


# --------------------------------------------------------------------------- the parts on their own


def test_discovery_names_every_refused_entry_and_lists_regular_files(tmp_path, monkeypatch):
    inbox = tmp_path / "in"
    inbox.mkdir()
    (tmp_path / "out.txt").write_text("outside", encoding="utf-8")
    (inbox / "ok.txt").write_text("ok", encoding="utf-8")
    (inbox / "alias.txt").symlink_to("ok.txt")                        # inside the inbox: listed
    (inbox / "dangling.txt").symlink_to("missing.txt")
    (inbox / "out.txt").symlink_to(tmp_path / "out.txt")
    (inbox / "self.txt").symlink_to("self.txt")
    os.mkfifo(inbox / "pipe.txt")
    os.mkfifo(inbox / "ok.meta.json")                                 # a sidecar: judged when ok.txt is read
    (inbox / "to_pipe.txt").symlink_to("pipe.txt")
    monkeypatch.chdir(inbox)                                          # AF_UNIX paths are short
    sock = socket.socket(socket.AF_UNIX)
    sock.bind("sock.txt")
    (inbox / "real").mkdir()
    (inbox / "real" / "r.txt").write_text("r", encoding="utf-8")
    (inbox / "again").symlink_to("real", target_is_directory=True)    # searched as real/, not twice
    try:
        found = discover_entries(inbox)
    finally:
        sock.close()
    assert found.paths == ["alias.txt", "ok.txt", "real/r.txt"]
    assert found.skipped == [
        ("again", "is a directory searched already under another path"),
        ("dangling.txt", "is a dangling symlink"),
        ("out.txt", "is a symlink outside the inbox"),
        ("pipe.txt", "is a FIFO, not a regular file"),
        ("self.txt", "is a symlink loop"),
        ("sock.txt", "is a socket, not a regular file"),
        ("to_pipe.txt", "is a symlink to a FIFO, not a regular file"),
    ]


def _read_within(seconds: float, *args, **kwargs):
    """read_raw_files in a daemon thread: a reader that blocks fails the test instead of hanging it."""
    result = []
    worker = threading.Thread(target=lambda: result.append(read_raw_files(*args, **kwargs)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert result, f"read_raw_files did not return within {seconds} s"
    return {row["path"]: row for row in result[0].to_dicts()}


def test_the_reader_refuses_entries_swapped_in_after_discovery(tmp_path):
    """Paths handed straight to the reader, as if replaced between discovery and reading."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text(MARKER, encoding="utf-8")
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "ok.txt").write_text("正文", encoding="utf-8")
    (inbox / "alias.txt").symlink_to("ok.txt")
    os.mkfifo(inbox / "pipe.txt")
    (inbox / "out.txt").symlink_to(outside / "secret.txt")
    (inbox / "loop.txt").symlink_to("loop.txt")
    (inbox / "away").symlink_to(outside, target_is_directory=True)
    names = ["ok.txt", "alias.txt", "pipe.txt", "out.txt", "loop.txt", "away/secret.txt",
             str(outside / "secret.txt")]
    rows = _read_within(20, inbox, names, max_bytes=1000)
    assert rows["ok.txt"]["content"] == rows["alias.txt"]["content"] == "正文".encode()
    assert {p: rows[p]["read_error"] for p in names[2:]} == {
        "pipe.txt": "file is a FIFO, not a regular file",
        "out.txt": "file is a symlink outside the inbox",
        "loop.txt": "file is a symlink loop",
        "away/secret.txt": "file is outside the inbox",
        str(outside / "secret.txt"): "file is outside the inbox",
    }
    assert all(rows[p]["content"] is None and rows[p]["sha256"] is None for p in names[2:])


def test_a_sidecar_over_1_mib_is_refused_by_size_not_as_broken_json(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    for stem, size in (("big", SIDECAR_MAX_BYTES + 1), ("edge", SIDECAR_MAX_BYTES)):
        (inbox / f"{stem}.txt").write_text(f"{stem}正文", encoding="utf-8")
        title = json.dumps({"title": ""})
        (inbox / f"{stem}.meta.json").write_text(title[:-2] + "x" * (size - len(title)) + '"}', encoding="ascii")
        assert (inbox / f"{stem}.meta.json").stat().st_size == size
    rows = _read_within(20, inbox, ["big.txt", "edge.txt"], max_bytes=1000)
    assert rows["big.txt"]["read_error"] == (
        f"sidecar big.meta.json is over 1 MiB ({SIDECAR_MAX_BYTES + 1} bytes): not read")
    assert rows["big.txt"]["sidecar"] is None and rows["big.txt"]["content"] is None
    assert rows["edge.txt"]["read_error"] is None
    assert len(rows["edge.txt"]["sidecar"]) == SIDECAR_MAX_BYTES
    assert json.loads(rows["edge.txt"]["sidecar"])["title"] == "x" * (SIDECAR_MAX_BYTES - len('{"title": ""}'))
