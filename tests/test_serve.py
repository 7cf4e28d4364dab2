"""`zonefacts serve`: a scheduled deployment on a supervised local Prefect server, and overlap.

The serve test starts `zonefacts serve --interval 5` without PREFECT_API_URL, so serve starts its
own `prefect server start` (PREFECT_HOME under the warehouse's folder) with the scheduler loop
lowered to 2 s, waits for two successful scheduled runs in the published snapshot, then stops
serve with SIGTERM and checks that the server it started is gone.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from conftest import ROOT, ZONEFACTS

ARTICLE = "成都高新区上半年经济运行\n上半年，成都高新区实现地区生产总值同比增长6.1%。\n"


def _inbox(base: Path) -> Path:
    inbox = base / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "h1.txt").write_text(ARTICLE, encoding="utf-8")
    (inbox / "h1.meta.json").write_text(json.dumps({"published_at": "2024-07-10"}), encoding="utf-8")
    return inbox


def _successful_runs(warehouse: Path) -> int:
    if not warehouse.exists():
        return 0
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:   # being replaced / locked: try again later
        return 0
    try:
        return con.execute("SELECT count(*) FROM pipeline_runs WHERE status = 'success'").fetchall()[0][0]
    except duckdb.Error:
        return 0
    finally:
        con.close()


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _processes_with(needle: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmd:
            found.append(int(proc.name))
    return found


@pytest.mark.slow
def test_serve_runs_on_schedule_and_stops_its_server(tmp_path):
    inbox = _inbox(tmp_path)
    warehouse = tmp_path / "wh" / "zonefacts.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZONEFACTS_", "PREFECT_"))}
    env.update(PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2", PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_RUNNER_POLL_FREQUENCY="2", PREFECT_LOGGING_LEVEL="WARNING")
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen([str(ZONEFACTS), "serve", "--interval", "5", "--inbox", str(inbox),
                                  "--warehouse", str(warehouse)], cwd=ROOT, env=env, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    port = None
    try:
        deadline = time.monotonic() + 170
        runs = 0
        while time.monotonic() < deadline:
            assert serve.poll() is None, log.read_text(errors="replace")
            if port is None:
                m = re.search(r"Prefect server on port (\d+)", log.read_text(errors="replace"))
                port = int(m.group(1)) if m else None
            runs = _successful_runs(warehouse)
            if runs >= 2:
                break
            time.sleep(2)
        assert runs >= 2, f"{runs} successful runs; serve output:\n{log.read_text(errors='replace')}"
        assert port is not None
        assert (warehouse.parent / ".prefect").is_dir()   # the server's PREFECT_HOME
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(45)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
                serve.wait(10)
    # the server serve started is gone with it
    assert port is not None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (_port_open(port) or _processes_with(f"--port {port}")):
        time.sleep(0.5)
    assert not _port_open(port)
    assert _processes_with(f"--port {port}") == []


@pytest.mark.slow
def test_a_killed_serve_takes_its_server_along(tmp_path):
    """`kill -9` of serve: its lifeline (flows/lifeline.py) kills the supervised server's processes."""
    from faults.processes import alive, descendants, wait_until

    inbox = _inbox(tmp_path)
    warehouse = tmp_path / "wh" / "zonefacts.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZONEFACTS_", "PREFECT_"))}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="WARNING")
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen([str(ZONEFACTS), "serve", "--interval", "3600", "--inbox", str(inbox),
                                  "--warehouse", str(warehouse)], cwd=ROOT, env=env, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    try:
        port = wait_until(lambda: re.search(r"Prefect server on port (\d+)", log.read_text(errors="replace")), 170,
                          step=0.5)
        assert port, f"serve output:\n{log.read_text(errors='replace')}"
        port = int(port.group(1))
        server = _processes_with(f"--port {port}")
        assert server and _port_open(port)
        left = set(server) | set(descendants(serve.pid))
        serve.kill()
        serve.wait(10)
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait(10)
    assert serve.returncode == -9
    wait_until(lambda: not any(alive(pid) for pid in left), 5)
    assert [pid for pid in left if alive(pid)] == []
    assert not _port_open(port)


def _hold_lock(warehouse: Path):
    lock = warehouse.with_name(warehouse.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_run_is_skipped_while_another_holds_the_lock(tmp_path):
    """The overlap guard every scheduled run goes through: the flow's fcntl lock."""
    from flows.pipeline import run_pipeline, run_plain
    from flows.settings import Settings

    inbox = _inbox(tmp_path)
    warehouse = tmp_path / "wh" / "zonefacts.duckdb"
    fd = _hold_lock(warehouse)
    try:
        summary = run_pipeline(Settings(warehouse=warehouse, inbox=inbox), run_plain)
        assert summary["status"] == "skipped"
        assert "another zonefacts run holds" in summary["message"]
        assert not warehouse.exists()            # nothing was done

        env = {k: v for k, v in os.environ.items() if not k.startswith("ZONEFACTS_")}
        proc = subprocess.run([str(ZONEFACTS), "run", "--inbox", str(inbox), "--warehouse", str(warehouse)],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
        assert proc.returncode == 75, proc.stderr
        assert "another zonefacts run holds" in proc.stderr
    finally:
        os.close(fd)


def test_serve_usage_errors(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZONEFACTS_")}
    both = subprocess.run([str(ZONEFACTS), "serve", "--cron", "* * * * *", "--interval", "5",
                           "--inbox", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert both.returncode == 2 and "not both" in both.stderr
    missing = subprocess.run([str(ZONEFACTS), "serve", "--inbox", str(tmp_path / "nope")],
                             capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert missing.returncode == 2 and "not a directory" in missing.stderr


def test_progress_only_on_a_terminal():
    import io

    from flows.progress import progress

    quiet = io.StringIO()
    with progress(10000, 20, stream=quiet) as bar:
        bar.update(3, 1500)
    assert quiet.getvalue() == ""            # StringIO is not a TTY: nothing printed

    shown = io.StringIO()
    with progress(10000, 20, stream=shown, enabled=True) as bar:
        bar.update(3, 1500, force=True)
    assert shown.getvalue() == "\r[batch 3/20] 1500/10000 documents\n"
