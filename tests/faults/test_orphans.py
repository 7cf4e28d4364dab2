"""`kill -9` of `zonefacts run` leaves no process of the run behind (issue 18 item 8).

The run starts children: Prefect's temporary server (uvicorn, ~220 MB), the validation process,
and the reaper of its lifeline (flows/lifeline.py). Killed while the server is still starting,
and again in the middle of the flow run (batches staged), the run takes all of them along.
"""
from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.request

import pytest

from conftest import ROOT, ZONEFACTS, write_inbox
from faults.processes import alive, children, cmdline, descendants, wait_until

CITIES = ("重庆", "成都", "西安", "武汉", "长沙", "合肥")


def _corpus(inbox):
    """The standard test inbox and 240 short bulletins: several batches, a run of some seconds."""
    write_inbox(inbox)
    for i in range(240):
        city = CITIES[i % len(CITIES)]
        (inbox / f"bulletin-{i:03d}.txt").write_text(
            f"{city}高新区2024年第{i}期经济简报\n"
            f"2024年1-{i % 11 + 2}月，{city}高新区地区生产总值同比增长{4 + i % 5}.{i % 10}%，"
            f"规模以上工业增加值同比增长{6 + i % 4}.{(i * 7) % 10}%，高于全市{i % 3 + 1}.{i % 9}个百分点。\n",
            encoding="utf-8")
    return inbox


def _healthy(port: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("when", ["server starting", "batches staged"])
def test_a_killed_run_leaves_no_process_behind(when, tmp_path):
    inbox = _corpus(tmp_path / "inbox")
    warehouse = tmp_path / "wh" / "zonefacts.duckdb"
    staging = warehouse.with_name(warehouse.name + ".staging")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZONEFACTS_") and k != "PREFECT_API_URL"}
    with open(tmp_path / "stderr", "wb") as err:
        # not pipes: the children hold them open until they die, and this test waits for that
        run = subprocess.Popen([str(ZONEFACTS), "run", "--inbox", str(inbox), "--warehouse", str(warehouse),
                                "--batch-documents", "40"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 240   # the other fault cases' runs may share the machine meanwhile

    def waited(what: str, condition, step: float = 0.1):
        found = wait_until(condition, deadline - time.monotonic(), step)
        assert found, (f"{what} within {time.monotonic() - started:.0f} s; run exit status {run.poll()}, "
                       f"its processes {[cmdline(p)[:80] for p in descendants(run.pid)]}, stderr: "
                       f"{(tmp_path / 'stderr').read_text(errors='replace')[-2000:]}")
        return found

    started = time.monotonic()
    try:
        server = waited("no temporary server started",
                        lambda: next((p for p in children(run.pid) if "uvicorn" in cmdline(p)), None))
        if when == "batches staged":
            port = re.search(r"--port (\d+)", cmdline(server)).group(1)
            waited("the temporary server never answered", lambda: _healthy(port))
            waited("the flow never staged a batch", lambda: staging.is_dir() and any(staging.iterdir()), 0.02)
        left = {pid: cmdline(pid) for pid in descendants(run.pid)}
        assert run.poll() is None, "the run ended before it could be killed"
        run.kill()
        run.wait(10)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(10)
    assert run.returncode == -9
    assert any("uvicorn" in c for c in left.values()), left
    assert any("flows.validation_process" in c for c in left.values()), left
    assert any("flows/lifeline.py" in c for c in left.values()), left

    wait_until(lambda: not any(alive(pid) for pid in left), 5)
    assert {pid: c for pid, c in left.items() if alive(pid)} == {}
