"""Analyst views (005_analyst_views.sql) over a real warehouse built by two real runs, plus the
things that read the published snapshot: a reader held open across a run, export, shell.

One module-scoped scenario (run_pipeline with run_plain, no Prefect):
  run 1: a.txt, published 2024-07-10: 成都高新区 GDP +6.1%  → published; a reader opens it
  run 2: b.txt, published 2024-07-20: 成都高新区 GDP +6.3%  → published while the reader is open
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from conftest import ROOT, ZONEFACTS, query

A_TEXT = "成都高新区上半年经济运行\n上半年，成都高新区实现地区生产总值同比增长6.1%。\n"
B_TEXT = "成都高新区上半年经济运行情况通报\n上半年，成都高新区实现地区生产总值同比增长6.3%。\n"


def _article(inbox: Path, stem: str, text: str, published_at: str) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / f"{stem}.txt").write_text(text, encoding="utf-8")
    (inbox / f"{stem}.meta.json").write_text(json.dumps(
        {"title": text.splitlines()[0], "published_at": published_at}, ensure_ascii=False), encoding="utf-8")


@pytest.fixture(scope="module")
def revised(tmp_path_factory):
    from flows.pipeline import run_pipeline, run_plain
    from flows.settings import Settings

    base = tmp_path_factory.mktemp("revisions")
    inbox, warehouse = base / "inbox", base / "wh" / "zonefacts.duckdb"
    _article(inbox, "a", A_TEXT, "2024-07-10")
    settings = Settings(warehouse=warehouse, inbox=inbox)
    first = run_pipeline(settings, run_plain)
    assert first["status"] == "success", first

    # an analyst's ad-hoc session on the published snapshot stays open during run 2
    reader = duckdb.connect(str(warehouse), read_only=True)
    before = reader.execute("SELECT count(*) FROM documents").fetchall()[0][0]
    _article(inbox, "b", B_TEXT, "2024-07-20")
    second = run_pipeline(settings, run_plain)
    seen_by_open_reader = (reader.execute("SELECT count(*) FROM documents").fetchall()[0][0],
                           reader.execute("SELECT list(value ORDER BY value) FROM observations "
                                          "WHERE indicator = 'gdp'").fetchall()[0][0])
    reader.close()
    return {"warehouse": warehouse, "first": first, "second": second, "before": before,
            "seen_by_open_reader": seen_by_open_reader}


def test_open_reader_never_blocks_a_run(revised):
    assert revised["second"]["status"] == "success", revised["second"]
    assert revised["second"]["documents_new"] == 1
    # the reader opened before run 2 still sees the old snapshot …
    assert revised["before"] == 1
    assert revised["seen_by_open_reader"] == (1, [6.1])
    # … and a new connection sees the new facts
    assert query(revised["warehouse"], "SELECT count(*) FROM documents") == [(2,)]
    assert query(revised["warehouse"], "SELECT list(value ORDER BY value) FROM observations "
                                       "WHERE indicator = 'gdp'") == [([6.1, 6.3],)]


def test_latest_observations_takes_the_later_publication(revised):
    rows = query(revised["warehouse"], """
        SELECT value, document, published_at::VARCHAR, documents_reporting, evidence
        FROM latest_observations
        WHERE entity = '成都高新区' AND indicator = 'gdp' AND measure = 'yoy_pct'
          AND year = 2024 AND start_month = 1 AND end_month = 6""")
    assert len(rows) == 1
    value, document, published, reporting, evidence = rows[0]
    assert (value, document, published, reporting) == (6.3, "b", "2024-07-20", 2)
    assert "6.3%" in evidence
    # one row per fact key over the whole view
    dupes = query(revised["warehouse"], """
        SELECT count(*) FROM (SELECT entity, year, start_month, end_month, indicator, measure, segment,
                                     benchmark, count(*) n FROM latest_observations GROUP BY ALL HAVING n > 1)""")
    assert dupes == [(0,)]


def test_latest_observations_exposes_the_fact_model_columns(revised):
    con = duckdb.connect(str(revised["warehouse"]), read_only=True)
    try:
        cols = [r[0] for r in con.execute("DESCRIBE latest_observations").fetchall()]
        obs_cols = [r[0] for r in con.execute("DESCRIBE observations").fetchall()]
    finally:
        con.close()
    assert set(obs_cols) <= set(cols)
    assert "published_at" in cols and "document" in cols


def test_conflicts_lists_both_revisions(revised):
    rows = query(revised["warehouse"], """
        SELECT value_a, value_b, document_a, document_b, published_at_a::VARCHAR, published_at_b::VARCHAR,
               evidence_a, evidence_b
        FROM conflicts WHERE entity = '成都高新区' AND indicator = 'gdp' AND measure = 'yoy_pct'""")
    assert len(rows) == 1
    va, vb, da, db, pa, pb, ea, eb = rows[0]
    assert (va, vb, da, db, pa, pb) == (6.1, 6.3, "a", "b", "2024-07-10", "2024-07-20")
    assert "6.1%" in ea and "6.3%" in eb


def test_growth_panel_has_one_row_per_entity_period(revised):
    rows = query(revised["warehouse"], """
        SELECT entity, year, start_month, end_month, gdp, industrial_value_added_above_scale,
               fixed_asset_investment, retail_sales, foreign_trade, exports, imports
        FROM growth_panel WHERE entity = '成都高新区'""")
    assert rows == [("成都高新区", 2024, 1, 6, 6.3, None, None, None, None, None, None)]


# --------------------------------------------------------------------------- export


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_writes_every_view_and_table(revised, tmp_path, fmt):
    out = tmp_path / "it's an export"   # a quote in the path must be escaped, not break COPY
    proc = subprocess.run([str(ZONEFACTS), "export", "--format", fmt, str(out),
                           "--warehouse", str(revised["warehouse"])],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    names = {p.name for p in out.iterdir()}
    for rel in ("observations", "latest_observations", "growth_panel", "conflicts", "dq_failures",
                "source_defects", "unmapped_mentions", "fact_observation", "dim_entity", "dim_period",
                "dim_indicator", "documents", "pipeline_runs"):
        assert f"{rel}.{fmt}" in names
    assert not [n for n in names if n.startswith(".")], "temporary files left behind"
    if fmt == "parquet":
        got = duckdb.sql(f"SELECT value_a, value_b FROM read_parquet('{str(out / 'conflicts.parquet').replace(chr(39), chr(39) * 2)}')").fetchall()
        assert got == [(6.1, 6.3)]
    else:
        with open(out / "latest_observations.csv", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert any(r["indicator"] == "gdp" and r["value"] == "6.3" for r in rows)


def test_export_refuses_nul_in_path(revised):
    from flows.export import export_warehouse, sql_string_literal

    assert sql_string_literal("/tmp/a'b") == "'/tmp/a''b'"
    with pytest.raises(ValueError, match="NUL"):
        export_warehouse(revised["warehouse"], Path("/tmp/bad\x00dir"), "csv")


# --------------------------------------------------------------------------- shell


def _shell(warehouse: Path, stdin: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZONEFACTS_")}
    return subprocess.run([str(ZONEFACTS), "shell", "--warehouse", str(warehouse)], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


def test_shell_reads_statements_until_semicolon(revised):
    proc = _shell(revised["warehouse"],
                  "SELECT entity, value\n  FROM latest_observations\n WHERE indicator = 'gdp';\n"
                  "SELECT count(*) AS docs FROM documents; SELECT 42 AS answer;\n")
    assert proc.returncode == 0, proc.stderr
    assert "成都高新区" in proc.stdout and "6.3" in proc.stdout
    assert "docs" in proc.stdout and "42" in proc.stdout


def test_shell_refuses_writes_and_file_access_then_continues(revised):
    proc = _shell(revised["warehouse"],
                  "DELETE FROM documents;\n"
                  "SELECT * FROM read_csv('/etc/passwd');\n"
                  "SELECT count(*) AS still_there FROM documents;\n"
                  ".quit\nSELECT 'never run' AS x;\n")
    assert proc.returncode == 2
    assert "refused DELETE" in proc.stderr
    assert "refused" in proc.stderr.split("refused DELETE", 1)[1]
    assert "still_there" in proc.stdout and "never run" not in proc.stdout
    assert query(revised["warehouse"], "SELECT count(*) FROM documents") == [(2,)]


def test_shell_exits_on_eof_with_unfinished_statement(revised):
    proc = _shell(revised["warehouse"], "SELECT 1 AS one;\nSELECT 2")
    assert proc.returncode == 2
    assert "one" in proc.stdout
    assert "missing ';'" in proc.stderr
