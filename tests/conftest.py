"""Shared fixtures: one Prefect test server per session, sample inboxes, warehouse counts.

Prefect is quieted and pointed at a PREFECT_HOME shared by the whole session (and kept
in .pytest_cache between sessions) *before* it is imported, so that subprocess runs on
the temporary server do not re-create its database each time.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFECT_HOME = ROOT / ".pytest_cache" / "zonefacts-prefect-home"
PREFECT_HOME.mkdir(parents=True, exist_ok=True)

os.environ["PREFECT_HOME"] = str(PREFECT_HOME)
os.environ.pop("PREFECT_API_URL", None)
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
for name in list(os.environ):
    if name.startswith("ZONEFACTS_"):
        del os.environ[name]

import duckdb  # noqa: E402
import pytest  # noqa: E402

ZONEFACTS = ROOT / ".venv" / "bin" / "zonefacts"

COUNTED_TABLES = ("documents", "quarantine", "fact_observation", "dim_entity", "dim_period",
                  "dim_indicator", "source_defects", "unmapped_mentions", "pipeline_runs")

# --------------------------------------------------------------------------- Prefect


@pytest.fixture(scope="session")
def prefect_api_url() -> str:
    """A Prefect test server for the whole session; its API URL also serves subprocesses."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture
def cli_env(prefect_api_url) -> dict[str, str]:
    """Environment for a `zonefacts` subprocess that talks to the session's Prefect server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZONEFACTS_")}
    env["PREFECT_API_URL"] = prefect_api_url
    return env


# --------------------------------------------------------------------------- inbox

GOOD_TXT = (
    "重庆高新区2024年上半年经济运行情况\n"
    "2024年上半年，重庆高新区实现地区生产总值（GDP）1,234.5亿元，同比增长6.1%。\n"
    "规模以上工业增加值同比增长8.2%，高于全市平均水平。\n"
)
GBK_TXT = (
    "西部科学城重庆高新区一季度经济数据\n"
    "一季度，全区社会消费品零售总额达到120亿元，同比增长5.5%。\n"
)
MARKDOWN = (
    "---\n"
    "title: 高新区前三季度固定资产投资\n"
    "published_at: 2024-10-25\n"
    "source_url: https://example.cn/news/q3\n"
    "---\n"
    "# 高新区前三季度固定资产投资\n\n"
    "前三季度，重庆高新区固定资产投资同比增长**12.3%**。\n"
)
HTML = (
    "<!doctype html><html><head><title>高新区全年经济</title>"
    "<meta name=\"publishdate\" content=\"2025-01-20\"></head>"
    "<body><h1>高新区2024年全年经济运行</h1>"
    "<p>2024年，重庆高新区地区生产总值同比增长7.0%。</p>"
    "<script>var x = 1;</script></body></html>"
)

GOOD_FILES = ("2024-h1.txt", "gbk/2024-q1.txt", "2024-q3.md", "2024-fy.html")
EXPECTED_QUARANTINE = {
    "empty.txt": "empty",
    "nul.txt": "binary",
    "big.txt": "oversized",
    "badmeta.txt": "bad_sidecar",
}
MAX_FILE_BYTES = 1000


def write_inbox(root: Path) -> Path:
    """Good files of each format plus one bad file per quarantine reason we test."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "gbk").mkdir(exist_ok=True)
    (root / "2024-h1.txt").write_text(GOOD_TXT, encoding="utf-8")
    (root / "2024-h1.meta.json").write_text(json.dumps(
        {"title": "上半年经济运行", "published_at": "2024-07-20",
         "source_url": "https://example.cn/news/h1"}, ensure_ascii=False), encoding="utf-8")
    (root / "gbk" / "2024-q1.txt").write_bytes(GBK_TXT.encode("gbk"))
    (root / "2024-q3.md").write_text(MARKDOWN, encoding="utf-8")
    (root / "2024-fy.html").write_text(HTML, encoding="utf-8")
    # bad ones
    (root / "empty.txt").write_bytes(b"")
    (root / "nul.txt").write_bytes("数据\x00\x00\x00\x01\x02".encode("utf-8") * 20)
    (root / "big.txt").write_text("重庆高新区地区生产总值增长。" * 200, encoding="utf-8")  # > 1000 bytes
    (root / "badmeta.txt").write_text("重庆高新区一般公共预算收入增长3%。", encoding="utf-8")
    (root / "badmeta.meta.json").write_text("{not json", encoding="utf-8")
    # never discovered
    (root / ".hidden.txt").write_text("hidden", encoding="utf-8")
    (root / ".cache").mkdir(exist_ok=True)
    (root / ".cache" / "x.txt").write_text("hidden dir", encoding="utf-8")
    return root


@pytest.fixture
def inbox(tmp_path) -> Path:
    return write_inbox(tmp_path / "inbox")


@pytest.fixture
def warehouse(tmp_path) -> Path:
    return tmp_path / "wh" / "zonefacts.duckdb"


# --------------------------------------------------------------------------- warehouse helpers


def table_counts(path: Path, tables=COUNTED_TABLES) -> dict[str, int]:
    """Row counts of the (published) warehouse, read-only."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        con.close()


def query(path: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
