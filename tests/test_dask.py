"""Scale-out: the flow on a Dask LocalCluster (prefect-dask) loads what the default runner loads."""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import dask_task_runner, zonefacts_run

ROOT = Path(__file__).resolve().parents[1]


def _inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    shutil.copytree(ROOT / "samples", inbox)
    # the same content again under a later path: read in a later batch while earlier
    # batches are still being extracted, it must still be skipped as a duplicate
    first = sorted(p for p in inbox.glob("*.txt"))[0]
    shutil.copy(first, inbox / "zz_copy_of_first.txt")
    return inbox


def _rows(warehouse: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            "observations": con.execute(
                "SELECT * FROM observations ORDER BY ALL").fetchall(),
            "documents": con.execute("SELECT stem, document_id FROM documents ORDER BY ALL").fetchall(),
            "quarantine": con.execute("SELECT path, reason FROM quarantine ORDER BY ALL").fetchall(),
        }
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_dask_local_cluster_loads_the_same_rows_as_the_default_runner(prefect_api_url, tmp_path):
    inbox = _inbox(tmp_path)
    params = {"inbox": str(inbox), "batch_documents": 2}   # several extract batches in flight

    default = zonefacts_run(warehouse=str(tmp_path / "default.duckdb"), **params)
    on_dask = zonefacts_run.with_options(task_runner=dask_task_runner(n_workers=2))(
        warehouse=str(tmp_path / "dask.duckdb"), task_runner="dask", **params)

    assert default["status"] == on_dask["status"] == "success"
    assert on_dask["batches"] == default["batches"] >= 4
    for key in ("documents_new", "documents_skipped", "documents_quarantined", "observations_loaded"):
        assert on_dask[key] == default[key], key
    expected, got = _rows(tmp_path / "default.duckdb"), _rows(tmp_path / "dask.duckdb")
    assert expected["observations"], "the samples give observations"
    assert got == expected


def test_extraction_threads_load_the_same_rows_as_a_sequential_run(tmp_path):
    """The default runner extracts batches on a thread pool; the warehouse is what one thread loads."""
    from flows.pipeline import run_pipeline, run_plain, thread_submitter
    from flows.settings import Settings

    inbox = _inbox(tmp_path)

    def settings(name: str) -> Settings:
        return Settings(warehouse=tmp_path / name, inbox=inbox, batch_documents=1)

    sequential = run_pipeline(settings("sequential.duckdb"), run_plain)
    with thread_submitter(3) as submit:
        threaded = run_pipeline(settings("threaded.duckdb"), run_plain, submit=submit)
    assert threaded["batches"] == sequential["batches"] >= 7
    for key in ("documents_new", "documents_skipped", "documents_quarantined", "observations_loaded"):
        assert threaded[key] == sequential[key], key
    expected = _rows(tmp_path / "sequential.duckdb")
    assert expected["observations"] and _rows(tmp_path / "threaded.duckdb") == expected


def test_unknown_task_runner_is_refused(prefect_api_url, tmp_path):
    from flows.pipeline import TASK_RUNNERS

    assert TASK_RUNNERS == ("default", "dask")
    with pytest.raises(ValueError, match="unknown task runner"):
        zonefacts_run(inbox=str(ROOT / "samples"), warehouse=str(tmp_path / "w.duckdb"), task_runner="ray")


def test_cli_offers_the_dask_options():
    from flows.cli import build_parser

    args = build_parser().parse_args(["run", "--task-runner", "dask", "--dask-address", "tcp://10.0.0.5:8786"])
    assert (args.task_runner, args.dask_address) == ("dask", "tcp://10.0.0.5:8786")
    assert build_parser().parse_args(["run"]).task_runner == "default"
