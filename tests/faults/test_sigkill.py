"""SIGKILL at each stage of a run (the fault hook's ``kill:<stage>``, run_plain in a subprocess).

The published snapshot is untouched (publish is one rename: old or new, never half), the
lock dies with the process, and the next normal run leaves exactly the rows of a clean run.
The ``reextract`` case runs on a warehouse whose documents an unknown extractor read: killed
while re-extracting them, the next run re-extracts each exactly once.
"""
from __future__ import annotations

import pytest

from faults.conftest import KILL_STAGES, assert_exactly_once, counts, leftovers, rows


@pytest.mark.slow
@pytest.mark.parametrize("stage", KILL_STAGES)
def test_sigkill_at_stage_then_next_run_is_exact(stage, kill_runs, reference):
    from flows.pipeline import run_pipeline

    run = kill_runs[stage]
    code, out, err = run.wait()
    assert code == -9, f"kill:{stage} exited {code}\nstdout: {out}\nstderr: {err[-3000:]}"
    assert "NOT KILLED" not in out
    # nothing published: not the documents, not even a pipeline_runs row
    assert counts(run.case.warehouse) == run.before

    summary = run_pipeline(run.case.settings())
    assert summary["status"] == "success", summary
    assert_exactly_once(run.case.warehouse, reference)
    assert leftovers(run.case) == []
    statuses = [r[0] for r in rows(run.case.warehouse, "SELECT status FROM pipeline_runs")]
    assert statuses.count("failed") == 0
    if stage == "quality":
        # the killed run's load never had its warehouse suite: the next run runs it
        assert rows(run.case.warehouse, "SELECT count(*) FROM dq_runs WHERE run_id = ?",
                    [summary["run_id"]]) == [(1,)]
    if stage in ("quality", "publish"):
        # the killed run had committed into the working file; the next run publishes it
        assert summary["documents_new"] == 0
    else:
        assert summary["documents_new"] == 1
    if stage == "reextract":
        stored = run.before["documents"]
        assert summary["documents_reextracted"] == stored
        # the same extractor read the same texts: re-extraction changed no fact, only NEW_DOC added some
        assert [line.split(":")[0] for line in summary["fact_changes"]] == ["new document"]
        assert rows(run.case.warehouse, "SELECT count(*), count(fingerprint), count(DISTINCT fingerprint) "
                                        "FROM documents") == [(stored + 1, stored + 1, 1)]
        assert rows(run.case.warehouse, "SELECT count(*) FROM reextraction_impact") == [(0,)]   # nothing moved
