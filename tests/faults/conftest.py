"""Shared pieces of the fault-injection tests (issue 7).

One warm warehouse is built per session (an in-process run over the standard test inbox);
every fault case works on its own copy of it, adds NEW_DOC to the inbox, injects its fault,
and then proves that the next normal run leaves the warehouse exactly like a clean run over
the same inbox (``reference``): same row counts, and each document's facts exactly once.

The SIGKILL cases run ``run_pipeline`` with ``run_plain`` in ``python -c`` subprocesses
(no Prefect server), with the fault hook (``faults/hook``) killing each at its stage. They are
started together, once per session (``kill_runs``), so their import and GX warm-up costs
overlap; each test only waits for its own process.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from conftest import COUNTED_TABLES, MAX_FILE_BYTES, ROOT, query, table_counts, write_inbox
from faults.hook import fault_hook

PYTHON = ROOT / ".venv" / "bin" / "python"
# One new document with facts, one of them an error-severity failure (GDP +900%).
NEW_DOC_NAME = "2025-h1.txt"
NEW_DOC = ("重庆高新区2025年上半年经济运行情况\n"
           "2025年上半年，重庆高新区地区生产总值同比增长5.9%，规模以上工业增加值同比增长7.1%。\n"
           "一般公共预算收入同比增长900%。\n"
           "2025年上半年，重庆高新区GDP同比增长900%。\n")
DATA_TABLES = tuple(t for t in COUNTED_TABLES if t != "pipeline_runs")
KILL_STAGES = ("discover", "read", "extract", "reextract", "validate", "load", "quality", "publish")

KILL_SCRIPT = """
import sys
from pathlib import Path
from flows.pipeline import run_pipeline
from flows.settings import Settings
warehouse, inbox, max_bytes = sys.argv[1:4]
run_pipeline(Settings(warehouse=Path(warehouse), inbox=Path(inbox), max_file_bytes=int(max_bytes)))
print("NOT KILLED", flush=True)
"""


counts = table_counts   # the names the fault tests use
rows = query


FACTS_SQL = """
SELECT d.sha256, d.path, i.code, f.measure, f.value, f.qualifier, f.segment, f.evidence, f.char_start, f.char_end
FROM fact_observation f JOIN documents d USING (document_id) JOIN dim_indicator i USING (indicator_id)
ORDER BY ALL
"""


def facts(path: Path) -> list[tuple]:
    """Every fact with its document's content hash: a multiset, duplicates kept."""
    return rows(path, FACTS_SQL)


@dataclass(frozen=True)
class Case:
    root: Path
    inbox: Path
    warehouse: Path

    def settings(self, **kw):
        from flows.settings import Settings
        kw.setdefault("max_file_bytes", MAX_FILE_BYTES)
        return Settings(warehouse=self.warehouse, inbox=self.inbox, **kw)


@dataclass(frozen=True)
class Base:
    inbox: Path              # the standard inbox (no NEW_DOC)
    warehouse: Path          # published after one run over it
    counts: dict
    facts: list


@dataclass(frozen=True)
class Reference:
    counts: dict             # data tables after a clean run over base inbox + NEW_DOC
    facts: list
    files: int               # distinct documents expected


@pytest.fixture(scope="session")
def base(tmp_path_factory) -> Base:
    from flows.pipeline import run_pipeline
    from flows.settings import Settings

    root = tmp_path_factory.mktemp("fault-base")
    inbox = write_inbox(root / "inbox")
    warehouse = root / "wh" / "zonefacts.duckdb"
    summary = run_pipeline(Settings(warehouse=warehouse, inbox=inbox, max_file_bytes=MAX_FILE_BYTES))
    assert summary["status"] == "success"
    return Base(inbox, warehouse, counts(warehouse), facts(warehouse))


def make_case(base: Base, root: Path, *, new_doc: bool = True) -> Case:
    """A copy of the base inbox (plus NEW_DOC) and of the published base warehouse only."""
    root.mkdir(parents=True, exist_ok=True)
    inbox = root / "inbox"
    shutil.copytree(base.inbox, inbox, symlinks=True)
    if new_doc:
        (inbox / NEW_DOC_NAME).write_text(NEW_DOC, encoding="utf-8")
    warehouse = root / "wh" / "zonefacts.duckdb"
    warehouse.parent.mkdir(parents=True)
    shutil.copyfile(base.warehouse, warehouse)
    return Case(root, inbox, warehouse)


@pytest.fixture(scope="session")
def reference(base, tmp_path_factory) -> Reference:
    """A clean run into an empty warehouse over base inbox + NEW_DOC: what every recovery must equal."""
    from flows.pipeline import run_pipeline
    from flows.settings import Settings

    root = tmp_path_factory.mktemp("fault-reference")
    inbox = root / "inbox"
    shutil.copytree(base.inbox, inbox, symlinks=True)
    (inbox / NEW_DOC_NAME).write_text(NEW_DOC, encoding="utf-8")
    warehouse = root / "ref.duckdb"
    summary = run_pipeline(Settings(warehouse=warehouse, inbox=inbox, max_file_bytes=MAX_FILE_BYTES))
    assert summary["status"] == "success"
    ref = Reference(counts(warehouse, DATA_TABLES), facts(warehouse), summary["documents_new"])
    assert ref.counts["fact_observation"] > base.counts["fact_observation"], "NEW_DOC must add facts"
    assert ref.counts["documents"] == base.counts["documents"] + 1
    return ref


def assert_exactly_once(warehouse: Path, ref: Reference) -> None:
    """Same rows as a clean run: no fact lost or duplicated, one row per distinct document."""
    assert counts(warehouse, DATA_TABLES) == ref.counts
    got = facts(warehouse)
    assert got == ref.facts
    assert len(got) == len(set(got)), "duplicate facts"
    docs = rows(warehouse, "SELECT count(*), count(DISTINCT sha256), count(DISTINCT path) FROM documents")[0]
    assert docs == (ref.files, ref.files, ref.files)
    assert rows(warehouse, "SELECT count(*) - count(DISTINCT observation_id) FROM fact_observation") == [(0,)]


def make_stale(warehouse: Path) -> int:
    """Mark every stored document of ``warehouse`` as read by no known extractor (as migration 010
    leaves them): the next run re-extracts them all. Returns how many there are."""
    con = duckdb.connect(str(warehouse))
    try:
        return con.execute("UPDATE documents SET fingerprint = NULL").fetchall()[0][0]
    finally:
        con.close()


def leftovers(case: Case) -> list[str]:
    """Staging dirs and publish temp files that a run left behind."""
    wh = case.warehouse
    found = [p.name for p in wh.parent.glob(f".{wh.name}.publish-*")]
    staging = wh.with_name(wh.name + ".staging")
    if staging.exists():
        found += [f"staging/{p.name}" for p in staging.iterdir()]
    return found


def subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZONEFACTS_")}
    env.pop("PREFECT_API_URL", None)
    return env


@dataclass
class KillRun:
    stage: str
    case: Case
    before: dict
    proc: subprocess.Popen

    def wait(self, timeout: float = 240) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


@pytest.fixture(scope="session", autouse=True)
def kill_runs(base, tmp_path_factory) -> dict[str, KillRun]:
    """Start one subprocess per stage with the fault ``kill:<stage>`` installed, all at once, when the
    first fault test starts (autouse), so they run while the in-process cases do; test_sigkill.py
    waits on each."""
    root = tmp_path_factory.mktemp("fault-kill")
    runs: dict[str, KillRun] = {}
    for stage in KILL_STAGES:
        case = make_case(base, root / stage)
        if stage == "reextract":
            make_stale(case.warehouse)      # so that the run has stored documents to re-extract
        before = counts(case.warehouse)
        proc = subprocess.Popen(
            [str(PYTHON), "-c", KILL_SCRIPT, str(case.warehouse), str(case.inbox), str(MAX_FILE_BYTES)],
            cwd=ROOT, env=fault_hook.environment(f"kill:{stage}", subprocess_env()),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        runs[stage] = KillRun(stage, case, before, proc)
    yield runs
    for run in runs.values():
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
