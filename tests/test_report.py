"""`zonefacts report`: one offline index.html with Plotly charts, latest figures, DQ summary, evidence.

The warehouse is built directly through the schema (store.open_work + INSERT + store.publish):
fast, and it lets the test plant hostile text in a title, an entity name and an evidence.
The rendering test drives headless Chromium; it is skipped when no chromium binary is found.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, ZONEFACTS

HOSTILE = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'

# entity, year, start_month, end_month, label, indicator, measure, value, unit
FACTS = [
    ("成都高新区", 2024, 1, 3, "2024-Q1", "gdp", "yoy_pct", 5.8, "%"),
    ("成都高新区", 2024, 1, 6, "2024-H1", "gdp", "yoy_pct", 6.1, "%"),
    ("成都高新区", 2024, 1, 9, "2024-M01-M09", "gdp", "yoy_pct", 6.4, "%"),
    ("成都高新区", 2024, 1, 6, "2024-H1", "industrial_value_added_above_scale", "yoy_pct", 8.2, "%"),
    ("成都高新区", 2024, 1, 9, "2024-M01-M09", "industrial_value_added_above_scale", "yoy_pct", 7.9, "%"),
    ("成都高新区", 2024, 1, 6, "2024-H1", "fixed_asset_investment", "yoy_pct", 3.1, "%"),
    ("成都高新区", 2024, 1, 6, "2024-H1", "foreign_trade", "level", 1234.5, "亿元"),
    ("成都高新区", 2024, 1, 9, "2024-M01-M09", "foreign_trade", "level", 1890.0, "亿元"),
    ("成都高新区", 2024, 1, 9, "2024-M01-M09", "foreign_trade", "yoy_pct", 4.6, "%"),
    (f"坏区{HOSTILE}", 2024, 1, 6, "2024-H1", "gdp", "yoy_pct", 7.0, "%"),
    (f"坏区{HOSTILE}", 2024, 1, 9, "2024-M01-M09", "gdp", "yoy_pct", 7.2, "%"),
]
INDICATORS = ("gdp", "industrial_value_added_above_scale", "fixed_asset_investment", "foreign_trade")


def build_warehouse(path: Path) -> Path:
    from warehouse import store

    work = path.with_name(path.name + ".work")
    con = store.open_work(path, work)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute("""INSERT INTO documents (document_id, path, stem, sha256, size_bytes, encoding, format, title,
                                             title_source, published_at, date_source, source_url, raw_text,
                                             ingested_at, run_id)
                       VALUES ('doc1', 'a.txt', 'a', 'doc1', 100, 'utf-8', 'txt', ?, 'sidecar', DATE '2024-10-20',
                               'sidecar', 'https://example.cn/a', 'text', now()::TIMESTAMP, 'run1')""",
                    [f"标题{HOSTILE}"])
        for code in INDICATORS:
            con.execute("INSERT INTO dim_indicator VALUES ((hash(?) >> 2)::BIGINT, ?, ?, ?, 'money', 'macro')",
                        [code, code, code, code])
        for entity in {f[0] for f in FACTS}:
            con.execute("INSERT INTO dim_entity (entity_id, name, entity_type, parent, aliases, origin) "
                        "VALUES ((hash(?) >> 2)::BIGINT, ?, 'zone', NULL, [], 'vocabulary')", [entity, entity])
        for label in {(f[1], f[2], f[3], f[4]) for f in FACTS}:
            con.execute("INSERT INTO dim_period VALUES ((hash(?) >> 2)::BIGINT, ?, ?, ?, ?)", [label[3], *label])
        for n, (entity, year, sm, em, label, code, measure, value, unit) in enumerate(FACTS):
            evidence = f"{entity}{label}{code}增长{value}%。{IMG if n == 0 else ''}{HOSTILE if n == 1 else ''}"
            con.execute("""INSERT INTO fact_observation (observation_id, document_id, entity_id, period_id, indicator_id,
                               segment, measure, value, unit, qualifier, benchmark_entity_id, evidence, char_start,
                               char_end, dq_flags, extractor_version, run_id)
                           VALUES (?, 'doc1', (hash(?) >> 2)::BIGINT, (hash(?) >> 2)::BIGINT, (hash(?) >> 2)::BIGINT,
                                   NULL, ?, ?, ?, 'exact', NULL, ?, 0, 10, [], 'test', 'run1')""",
                        [f"o{n}", entity, label, code, measure, value, unit, evidence])
        # the analyst views read the fact history, which a load keeps: open one version per fact
        con.execute("UPDATE documents SET lineage_id = lineage_key(inbox, path)")
        con.execute("""INSERT INTO fact_history BY NAME
                       SELECT x.*, f.run_id AS valid_from_run, 'new document' AS cause, x.value AS extracted_value
                       FROM extracted_facts x JOIN fact_observation f USING (observation_id)""")
        con.execute("""INSERT INTO pipeline_runs (run_id, flow_run_id, started_at, finished_at, status, inbox,
                                                 documents_seen, documents_new, documents_skipped,
                                                 documents_quarantined, observations_loaded, expectations_failed,
                                                 extractor_version, summary)
                       VALUES ('run1', NULL, TIMESTAMP '2024-10-21 07:00:00',
                       TIMESTAMP '2024-10-21 07:00:30', 'success', '/inbox', 1, 1, 0, 0, 11, 1, 'test', '{}')""")
        con.execute("""INSERT INTO dq_runs VALUES ('run1', TIMESTAMP '2024-10-21 07:00:00', TIMESTAMP '2024-10-21 07:00:30',
                       ['observations'], 20, 0, 1, NULL, '[]', '[]')""")
        con.execute("""INSERT INTO dq_results VALUES ('run1', 'observations', 'yoy_pct_range_gdp', 'warning', false, 1,
                       ?, 'fp1')""", [f'[{{"evidence": "{HOSTILE}"}}]'])
        con.execute("COMMIT")
    finally:
        con.close()
    store.publish(work, path)
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("report")
    warehouse = build_warehouse(base / "wh" / "zonefacts.duckdb")
    out = base / "out"
    proc = subprocess.run([str(ZONEFACTS), "report", "--out", str(out), "--warehouse", str(warehouse)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out / "index.html"


def test_report_is_one_offline_file(report):
    assert sorted(p.name for p in report.parent.iterdir()) == ["index.html"]
    text = report.read_text(encoding="utf-8")
    assert "Plotly.newPlot" in text
    # Plotly.js is inlined; nothing is loaded from the network
    assert not re.search(r"<script[^>]+src=", text)
    # outside the inlined Plotly.js bundle (which mentions CDN URLs for map data it does not
    # need here) the page references nothing external
    page = text.split("</script></head>", 1)[1]
    assert "<link" not in text and "http://" not in page and "cdn." not in page
    for heading in ("Latest figures", "Data quality of the last run", "Evidence", "yoy_pct_range_gdp"):
        assert heading in text


def test_hostile_text_is_escaped(report):
    text = report.read_text(encoding="utf-8")
    assert HOSTILE not in text
    assert IMG not in text
    assert "alert(1)" in text  # it is there, but only as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    # chart JSON cannot close the script element either
    assert "\\u003cscript\\u003e" in text or "&lt;script&gt;" in text


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary found (apt-get install -y chromium) — cannot render the report")
    flags = [browser, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
             "--window-size=1200,2000", f"--user-data-dir={tmp_path / 'profile'}"]
    url = report.resolve().as_uri()
    dom = subprocess.run([*flags, "--virtual-time-budget=5000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # these elements only exist once Plotly.js has run and drawn the data
    assert 'class="scatterlayer' in dom.stdout
    assert 'class="js-line"' in dom.stdout or "js-line" in dom.stdout
    assert "alert(1)" in dom.stdout and "<script>alert(1)</script>" not in dom.stdout.split("<body", 1)[1]
    shot = tmp_path / "report.png"
    run = subprocess.run([*flags, "--virtual-time-budget=5000", f"--screenshot={shot}", url],
                         capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000, "screenshot looks blank"


def test_report_shows_the_last_runs_changes_and_the_corrections_in_force(tmp_path):
    """Issue 17: a run whose corrections file rejects one fact; the report names the correction
    (with the facts it matched) and lists the retraction among the recent changes."""
    from flows.pipeline import run_pipeline
    from flows.settings import Settings
    from transforms.corrections import HEADER

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "xian.txt").write_text("西安高新区前三季度经济运行\n前三季度，西安高新区实现地区生产总值1850.6亿元，"
                                    "同比增长6.4%。\n", encoding="utf-8")
    settings = Settings(warehouse=tmp_path / "wh" / "zonefacts.duckdb", inbox=inbox)
    assert run_pipeline(settings)["status"] == "success"
    corrections = settings.warehouse.with_name("zonefacts.corrections.csv")
    corrections.write_text(HEADER + "\nreject,xian,,,,,gdp,,yoy_pct,,,,,,lin,rate under review\n", encoding="utf-8")
    assert run_pipeline(settings)["status"] == "success"
    out = tmp_path / "report"
    proc = subprocess.run([str(ZONEFACTS), "report", "--out", str(out), "--warehouse", str(settings.warehouse)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = (out / "index.html").read_text(encoding="utf-8")
    changes = text.split("<h2>Recent changes</h2>")[1].split("<h2>")[0]
    in_force = text.split("<h2>Corrections in force</h2>")[1].split("<h2>")[0]
    assert "retracted" in changes and "同比增长6.4%" in changes
    assert "rate under review" in in_force and "<td>1</td>" in in_force
