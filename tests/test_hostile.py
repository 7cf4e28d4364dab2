"""Hostile inputs (issue 7): markup that must never execute, inputs built to exhaust time or
memory, metacharacters that must stay data, write queries, and secrets that must not leak.

One module-scoped run over a hostile inbox (with alert channels that accept, and carry secrets)
feeds most checks; the size/time cases call the parse/extract stages directly.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import polars as pl
import pytest

from conftest import ROOT, query, table_counts
from flows import cli
from flows.inbox_read import read_raw_files
from flows.pipeline import KnownDocuments, extract_stage, read_parse_stage, run_pipeline
from flows.settings import DEFAULT_MAX_FILE_BYTES, AlertSettings, Settings
from transforms.documents import parse_documents
from transforms.vocabulary import load_vocabulary

MARKER = f"zfpwned{uuid.uuid4().hex[:8]}"
SCRIPT = f"<script>document.title='{MARKER}';document.body.insertAdjacentHTML('beforeend','<p id=\"{MARKER}\">x</p>')</script>"
IMG = f"<img src=x onerror=\"document.title='{MARKER}'\">"
HOSTILE_NAME = f"<img src=x onerror={MARKER}()>.txt"          # '/' cannot be in a file name
SQL_TITLE = "'; DROP TABLE documents; --"
OUTSIDE = Path("/tmp") / f"{MARKER}-outside"
SHELL_URL = f"https://example.cn/$(touch {OUTSIDE})`touch {OUTSIDE}`;rm -rf / | cat /etc/passwd"
TRAVERSAL = "../../etc/passwd"
TOKEN = "wh-T0KEN-" + uuid.uuid4().hex[:10]
PASSWORD = "smtp-Pw-" + uuid.uuid4().hex[:10]
HOSTILE_TEXTS = (SCRIPT, IMG, "<script>", "onerror=")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, caplog_module):
    from test_alerts import http_server, smtp_server

    root = tmp_path_factory.mktemp("hostile")
    inbox = root / "inbox"
    inbox.mkdir()
    (inbox / "article.txt").write_text(
        f"重庆高新区2024年经济运行{SCRIPT}\n{IMG}2024年，重庆高新区GDP同比增长900%。{SCRIPT}\n"
        f"2024年，重庆高新区地区生产总值同比增长6.1%。\n", encoding="utf-8")
    (inbox / "article.meta.json").write_text(json.dumps(
        {"title": SQL_TITLE + SCRIPT, "source_url": SHELL_URL, "published_at": "2024-07-01"}), encoding="utf-8")
    (inbox / HOSTILE_NAME).write_text(f"{SCRIPT}2024年上半年，重庆高新区GDP同比增长800%。\n", encoding="utf-8")
    (inbox / "traversal.txt").write_text("2024年，重庆高新区规模以上工业增加值同比增长8.0%。\n", encoding="utf-8")
    (inbox / "traversal.meta.json").write_text(json.dumps(
        {"title": TRAVERSAL, "source_url": TRAVERSAL}), encoding="utf-8")
    (inbox / "page.html").write_text(
        f"<html><head><title>{SQL_TITLE}</title><script>document.title='{MARKER}'</script></head>"
        f"<body onload=\"document.title='{MARKER}'\"><h1>高新区</h1><p>2024年，重庆高新区地区生产总值同比增长5.5%。</p>"
        f"<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>{IMG}</body></html>", encoding="utf-8")
    tmp_before = {p.name for p in Path("/tmp").iterdir()}
    with http_server() as (hook, http_port), smtp_server() as (box, smtp_port):
        alerts = AlertSettings(webhook_url=f"http://127.0.0.1:{http_port}/hooks/{TOKEN}?token={TOKEN}",
                               smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_from="zf@example.cn",
                               smtp_to=("ops@example.cn",), smtp_user="zf", smtp_password=PASSWORD,
                               timeout_seconds=5, retries=1)
        settings = Settings(warehouse=root / "wh" / "zonefacts.duckdb", inbox=inbox, alerts=alerts)
        summary = run_pipeline(settings)
    new_in_tmp = {p.name for p in Path("/tmp").iterdir()} - tmp_before
    return dict(root=root, settings=settings, summary=summary, hook=hook, box=box, new_in_tmp=new_in_tmp,
                log=caplog_module.text)


@pytest.fixture(scope="module")
def caplog_module():
    """Module-wide log capture (pytest's caplog is function-scoped)."""
    records: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record):
            try:
                records.append(self.format(record))
            except Exception:  # noqa: BLE001
                records.append(str(record.msg))

    handler = Grab(logging.DEBUG)
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)

    class View:
        @property
        def text(self):
            return "\n".join(records)

    yield View()
    root.removeHandler(handler)
    root.setLevel(old)


def _docs_files(summary) -> list[Path]:
    index = Path(summary["data_docs"])
    site = index.parent
    return [p for p in site.rglob("*") if p.is_file() and p.suffix in (".html", ".json", ".js")]


# --------------------------------------------------------------------------- markup never executes


def test_hostile_run_succeeds_and_alerts_went_out(hostile_run):
    s = hostile_run["summary"]
    assert s["status"] == "success", s
    assert s["documents_new"] == 4 and s["expectations_failed"] >= 1
    assert s["alerts_sent"] == 2 and s["alert_errors"] == []


def test_data_docs_of_the_hostile_run_contain_no_raw_markup(hostile_run):
    files = _docs_files(hostile_run["summary"])
    html = [p for p in files if p.suffix == ".html"]
    assert html
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in html)
    for raw in (SCRIPT, IMG, f"<img src=x onerror={MARKER}", f"<script>document.title='{MARKER}'"):
        assert raw not in text


def test_data_docs_escape_markup_in_evidence(tmp_path):
    """Markup that reaches a failing result's sample (evidence, detail) is escaped, not rendered.
    (In a real run the extractor's tidy step already strips tags from article text.)"""
    from expectations import suites
    from transforms.extract import ENTITY_SCHEMA, OBSERVATION_SCHEMA

    row = {"document_id": "b" * 64, "entity": "重庆高新区", "entity_type": "zone", "year": 2024, "start_month": 1,
           "end_month": 6, "period_label": "2024-H1", "indicator": "gdp", "segment": None, "measure": "yoy_pct",
           "value": 900.0, "unit": "percent", "qualifier": "exact", "benchmark": None,
           "evidence": f"GDP同比增长900%{SCRIPT}{IMG}", "char_start": 0, "char_end": 10, "extractor_version": "1.0.0"}
    checked = suites.validate_observations(pl.DataFrame([row], schema=OBSERVATION_SCHEMA), load_vocabulary(),
                                           pl.DataFrame(schema=ENTITY_SCHEMA))
    assert any(not r.success for r in checked.results)
    index = suites.build_data_docs({"observations": checked.results}, tmp_path / "docs", run_id=f"run-{SCRIPT}")
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace")
                     for p in index.parent.rglob("*.html"))
    assert MARKER in text                         # the evidence is shown ...
    assert "&lt;script&gt;" in text or "&amp;lt;script&amp;gt;" in text
    for raw in (SCRIPT, IMG, "<script>document.title", "<img src=x"):
        assert raw not in text                    # ... as text, never as markup


def test_report_output_does_not_run_injected_script(hostile_run, tmp_path):
    """`zonefacts report` (flows/report.py, being written): its HTML opened in headless Chromium."""
    if not (ROOT / "flows" / "report.py").exists():
        pytest.skip("flows/report.py does not exist yet")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not chromium:
        pytest.skip("no chromium binary")
    out = tmp_path / "report"
    code = cli.main(["report", "--warehouse", str(hostile_run["settings"].warehouse), "--out", str(out)])
    assert code == 0
    pages = [out] if out.is_file() else sorted(out.rglob("*.html"))
    assert pages
    for page in pages:
        dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                              page.as_uri()], capture_output=True, text=True, timeout=60).stdout
        assert MARKER in dom                                   # the hostile text is shown ...
        assert f'<p id="{MARKER}">' not in dom                 # ... but its script did not run
        assert f"<title>{MARKER}</title>" not in dom
        assert f"<img src=\"x\" onerror=" not in dom


# --------------------------------------------------------------------------- metacharacters stay data


def test_sql_shell_and_traversal_metacharacters_are_stored_verbatim(hostile_run):
    wh = hostile_run["settings"].warehouse
    stored = dict(query(wh, "SELECT path, source_url FROM documents"))
    assert stored["article.txt"] == SHELL_URL
    assert stored["traversal.txt"] == TRAVERSAL
    titles = dict(query(wh, "SELECT path, title FROM documents"))
    assert titles["article.txt"] == SQL_TITLE + SCRIPT
    assert titles["traversal.txt"] == TRAVERSAL
    assert HOSTILE_NAME in stored
    counts = table_counts(wh)
    assert counts["documents"] == 4 and counts["fact_observation"] >= 3    # tables intact
    assert not OUTSIDE.exists()
    # nothing new in /tmp except pytest's own dirs and the run's DuckDB/GX scratch (none expected)
    assert not any(MARKER in n for n in hostile_run["new_in_tmp"])
    assert not list(hostile_run["root"].parent.glob("etc"))


# --------------------------------------------------------------------------- secrets


def test_secrets_never_leave_the_alert_edge(hostile_run):
    s, hook, box = hostile_run["summary"], hostile_run["hook"], hostile_run["box"]
    wh = hostile_run["settings"].warehouse
    assert len(hook.requests) == 1 and len(box.messages) == 1
    places = {
        "summary": json.dumps(s, default=str, ensure_ascii=False),
        "webhook payload": hook.requests[0]["body"].decode("utf-8"),
        "email": json.dumps(box.messages, default=str, ensure_ascii=False),
        "logs": hostile_run["log"],
        "dq_runs": json.dumps(query(wh, "SELECT * FROM dq_runs"), default=str, ensure_ascii=False),
        "dq_results": json.dumps(query(wh, "SELECT * FROM dq_results"), default=str, ensure_ascii=False),
        "pipeline_runs": json.dumps(query(wh, "SELECT * FROM pipeline_runs"), default=str, ensure_ascii=False),
        "data docs": "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in _docs_files(s)),
    }
    for where, text in places.items():
        assert TOKEN not in text, f"webhook token leaked into {where}"
        assert PASSWORD not in text, f"SMTP password leaked into {where}"
    assert "127.0.0.1" in places["dq_runs"]    # the redacted target is there


# --------------------------------------------------------------------------- zonefacts sql


@pytest.mark.parametrize("statement", [
    "DROP TABLE documents",
    "INSERT INTO documents (document_id) VALUES ('x')",
    "ATTACH '{tmp}/evil.duckdb' AS evil",
    "COPY documents TO '{tmp}/leak.csv'",
    "COPY (SELECT * FROM documents) TO '{tmp}/leak.parquet' (FORMAT parquet)",
    "SELECT 1; DROP TABLE documents",
    "DELETE FROM documents",
])
def test_sql_refuses_writes_and_the_snapshot_is_unchanged(statement, hostile_run, tmp_path, capsys):
    wh = hostile_run["settings"].warehouse
    before = hashlib.sha256(wh.read_bytes()).hexdigest()
    code = cli.main(["sql", statement.format(tmp=tmp_path), "--warehouse", str(wh)])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_USAGE == 2
    assert "refused" in err and "zonefacts sql" in err
    assert hashlib.sha256(wh.read_bytes()).hexdigest() == before
    assert list(tmp_path.iterdir()) == []
    assert table_counts(wh)["documents"] == 4


# --------------------------------------------------------------------------- size, depth, encoding


def _bounded(fn, seconds: float, mb: float):
    rss0, t0 = _peak_rss_mb(), time.monotonic()
    result = fn()
    elapsed, grew = time.monotonic() - t0, _peak_rss_mb() - rss0
    assert elapsed < seconds, f"took {elapsed:.1f} s (limit {seconds} s)"
    assert grew < mb, f"peak RSS grew {grew:.0f} MB (limit {mb} MB)"
    return result


def _stages(inbox: Path, name: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES):
    parsed = read_parse_stage(str(inbox), [name], max_bytes, KnownDocuments())
    extracted = extract_stage(parsed.documents, load_vocabulary())
    return parsed, extracted


@pytest.mark.slow
def test_1gb_single_line_sparse_file_is_quarantined_oversized(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "huge.txt"
    with open(path, "wb") as fh:
        fh.write("重庆高新区地区生产总值同比增长6.1%".encode() * 100)
        fh.truncate(1 << 30)                              # sparse: ~no disk used
    assert path.stat().st_size == 1 << 30
    parsed, extracted = _bounded(lambda: _stages(inbox, "huge.txt"), seconds=30, mb=200)
    assert parsed.documents.height == 0
    row = parsed.quarantine.to_dicts()[0]
    assert row["reason"] == "oversized" and "1024.0 MB" in row["detail"]
    assert len(row["payload"] or b"") <= 1024 * 1024     # only the head is kept


def test_100k_nested_divs_are_bounded(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "deep.html").write_text(
        "<html><body>" + "<div>" * 100_000 + "2024年，重庆高新区地区生产总值同比增长6.1%。" + "</div>" * 100_000
        + "</body></html>", encoding="utf-8")
    parsed, extracted = _bounded(lambda: _stages(inbox, "deep.html"), seconds=30, mb=500)
    if parsed.documents.height:
        assert "地区生产总值同比增长6.1%" in parsed.documents["text"][0]
    else:
        assert parsed.quarantine["reason"][0] in ("unparseable", "oversized")


@pytest.mark.slow
@pytest.mark.parametrize("char", ["长", "9", "%", "\n"])
def test_bomb_sized_file_of_one_repeated_char_just_under_the_limit(char, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    limit = 4 * 1024 * 1024
    unit = char.encode("utf-8")
    data = unit * ((limit - 1) // len(unit))
    (inbox / "bomb.txt").write_bytes(data)
    assert len(data) < limit
    parsed, extracted = _bounded(lambda: _stages(inbox, "bomb.txt", max_bytes=limit), seconds=60, mb=1500)
    assert parsed.documents.height + parsed.quarantine.height == 1
    if parsed.quarantine.height:
        assert parsed.quarantine["reason"][0] in ("empty", "undecodable", "unparseable")
    assert extracted.extraction.observations.height == 0


@pytest.mark.parametrize("payload", [
    "重庆高新区\x01\x02\x07\x1b[31m地区生产总值\u202e同比增长6.1%\x7f。".encode("utf-8"),
    "重庆高新区地区生产总值".encode("utf-8") + b"\xed\xa0\x80" + "同比增长6.1%。".encode("utf-8"),
    b"\xed\xa0\x80\xed\xb0\x80" * 50 + "重庆高新区地区生产总值同比增长6.1%。".encode("utf-8"),
    "\ufeff\u200b\u200d重庆高新区\ufffd地区生产总值同比增长6.1%。\r\r\n".encode("utf-8"),
])
def test_control_characters_and_surrogates_are_quarantined_or_parsed_safely(payload, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "odd.txt").write_bytes(payload)
    parsed, extracted = _bounded(lambda: _stages(inbox, "odd.txt"), seconds=20, mb=300)
    if parsed.quarantine.height:
        assert parsed.quarantine["reason"][0] in ("undecodable", "binary", "unparseable")
        assert parsed.quarantine["detail"][0]
    else:
        text = parsed.documents["text"][0]
        text.encode("utf-8")                                  # no lone surrogates left in stored text
        for ev in extracted.extraction.observations["evidence"].to_list():
            ev.encode("utf-8")


def test_surrogates_and_controls_load_into_the_warehouse(tmp_path):
    """The same inputs through a whole run: DuckDB accepts what the parser keeps."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.txt").write_bytes("重庆高新区地区生产总值".encode() + b"\xed\xa0\x80" + "同比增长6.1%。".encode())
    (inbox / "b.txt").write_bytes("重庆高新区\x01\x1b[0m地区生产总值同比增长7.1%。".encode())
    summary = run_pipeline(Settings(warehouse=tmp_path / "w.duckdb", inbox=inbox))
    assert summary["status"] == "success"
    assert summary["documents_new"] + summary["documents_quarantined"] == 2
