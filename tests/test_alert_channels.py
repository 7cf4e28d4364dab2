"""Alert channels as apprise URLs, against real servers on 127.0.0.1: a WeCom- and a
DingTalk-style bot reached from a real run, redirects that must fail (issue 18.4), servers
that trickle their answer past any per-read timeout (issue 18.5), and redaction."""
from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from conftest import ROOT, ZONEFACTS, query
from expectations.record import already_alerted, record_results
from flows import cli
from flows.alert_channels import load_apprise
from flows.alerts import redact_url, send_alerts
from flows.pipeline import run_pipeline
from flows.settings import AlertSettings, Settings
from servers import QuietHTTPHandler, serving
from test_alerts import FAST, RESULTS
from warehouse.migrate import migrate

WECOM_KEY = "wk-7f3a9c21-5be0-4d1e-9a77-0c4b2e8d6f15"
DING_TOKEN = "dt-4b8e0f6a2c9d71e35f0a8b6c4d2e9f17"
HOOK_TOKEN = "hk-T0KEN-62c1e9a0"
OK = (200, {"Content-Type": "application/json"}, b'{"errcode":0,"errmsg":"ok"}')
# written for this test: a growth rate far outside any plausible range fails a check
FAILING_ARTICLE = "重庆高新区2024年上半年经济简报\n2024年上半年，重庆高新区地区生产总值同比增长900%。\n"


@contextmanager
def http_server(answer=lambda request: OK):
    """Records every request; ``answer(request)`` gives (status, headers, body)."""
    seen: list[dict] = []

    class Handler(QuietHTTPHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length", 0))
            request = {"method": self.command, "path": self.path, "headers": dict(self.headers),
                       "body": self.rfile.read(length) if length else b""}
            seen.append(request)
            status, headers, body = answer(request)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET = _answer

    with serving(Handler) as port:
        yield seen, port


def _bot(shape_ok):
    """A bot's answer: errcode 0 for a message of the shape it takes, else its refusal (HTTP 200)."""
    def answer(request):
        try:
            ok = request["method"] == "POST" and shape_ok(json.loads(request["body"]))
        except (ValueError, KeyError, TypeError):
            ok = False
        return OK if ok else (200, {}, b'{"errcode":40008,"errmsg":"invalid message type"}')
    return answer


def wecom_shape(message) -> bool:
    kind = message["msgtype"]
    return kind in ("markdown", "text") and isinstance(message[kind]["content"], str) and message[kind]["content"]


def dingtalk_shape(message) -> bool:
    kind = message["msgtype"]
    if kind == "markdown":
        return isinstance(message["markdown"]["title"], str) and bool(message["markdown"]["text"])
    return kind == "text" and bool(message["text"]["content"])


def _wecom_url(port: int) -> str:
    return f"wecomhook://127.0.0.1:{port}/cgi-bin/webhook/send?key={WECOM_KEY}"


def _dingtalk_url(port: int) -> str:
    return f"dingtalkhook://127.0.0.1:{port}/robot/send?access_token={DING_TOKEN}"


def _failing_inbox(root: Path) -> Path:
    inbox = root / "inbox"
    inbox.mkdir()
    (inbox / "briefing.txt").write_text(FAILING_ARTICLE, encoding="utf-8")
    return inbox


def _no_secrets(places: dict[str, str], *secrets: str) -> None:
    for where, text in places.items():
        for secret in secrets:
            assert secret not in text, f"{secret} leaked into {where}"


# --------------------------------------------------------------------------- acceptance: a real run


def test_an_alert_from_a_run_reaches_wecom_and_dingtalk_bots_with_their_keys_redacted(tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    warehouse = tmp_path / "zonefacts.duckdb"
    with http_server(_bot(wecom_shape)) as (wecom, wecom_port), \
            http_server(_bot(dingtalk_shape)) as (ding, ding_port):
        alerts = AlertSettings(urls=(_wecom_url(wecom_port), _dingtalk_url(ding_port)), timeout_seconds=5, retries=1)
        summary = run_pipeline(Settings(warehouse=warehouse, inbox=_failing_inbox(tmp_path), alerts=alerts))
    assert summary["status"] == "success" and summary["expectations_failed"] >= 1
    assert summary["alerts_sent"] == 2 and summary["alert_errors"] == [], summary["alert_errors"]

    [to_wecom], [to_ding] = wecom, ding
    assert to_wecom["path"] == f"/cgi-bin/webhook/send?key={WECOM_KEY}"
    assert to_ding["path"] == f"/robot/send?access_token={DING_TOKEN}"
    assert to_wecom["headers"]["Content-Type"].startswith("application/json")
    wecom_message, ding_message = json.loads(to_wecom["body"]), json.loads(to_ding["body"])
    assert wecom_message["msgtype"] == "markdown" and ding_message["msgtype"] == "markdown"
    content = wecom_message["markdown"]["content"]
    assert f"zonefacts run {summary['run_id']}" in content and "[error] observations/" in content
    assert "900" in content and "Data Docs:" in content
    assert ding_message["markdown"]["title"].startswith("[zonefacts]")
    assert f"zonefacts run {summary['run_id']}" in ding_message["markdown"]["text"]

    assert cli.main(["status", "--warehouse", str(warehouse)]) == 0
    status = capsys.readouterr().out
    assert summary["run_id"][:12] in status
    docs = [p for p in Path(summary["data_docs"]).parent.rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in docs)
    places = {
        "zonefacts status": status,
        "run summary": json.dumps(summary, default=str, ensure_ascii=False),
        "data docs": "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in docs),
        "dq_runs": json.dumps(query(warehouse, "SELECT * FROM dq_runs"), default=str, ensure_ascii=False),
        "alert_log": json.dumps(query(warehouse, "SELECT * FROM alert_log"), default=str),
        "logs": caplog.text,
    }
    _no_secrets(places, WECOM_KEY, DING_TOKEN)
    # what is shown instead: scheme, host and port
    assert f"wecomhook://127.0.0.1:{wecom_port}/…" in places["dq_runs"]
    assert f"dingtalkhook://127.0.0.1:{ding_port}/…" in places["dq_runs"]
    assert query(warehouse, "SELECT DISTINCT channel FROM alert_log") == [("dingtalkhook,wecomhook",)]


@pytest.mark.slow
def test_zonefacts_run_reads_alert_urls_from_the_environment(cli_env, tmp_path):
    """The CLI edge: ZONEFACTS_ALERT_URLS (several, space-separated) reaches the validation process."""
    warehouse = tmp_path / "zonefacts.duckdb"
    with http_server(_bot(wecom_shape)) as (wecom, wecom_port), \
            http_server(_bot(dingtalk_shape)) as (ding, ding_port):
        env = dict(cli_env, ZONEFACTS_ALERT_URLS=f"  {_wecom_url(wecom_port)}\n {_dingtalk_url(ding_port)} ",
                   ZONEFACTS_ALERT_TIMEOUT_SECONDS="5")
        proc = subprocess.run([str(ZONEFACTS), "run", "--inbox", str(_failing_inbox(tmp_path)),
                               "--warehouse", str(warehouse)],
                              env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert len(wecom) == 1 and len(ding) == 1
    assert wecom_shape(json.loads(wecom[0]["body"])) and dingtalk_shape(json.loads(ding[0]["body"]))
    _no_secrets({"stdout": proc.stdout, "stderr": proc.stderr}, WECOM_KEY, DING_TOKEN)
    assert query(warehouse, "SELECT count(*) > 0 FROM alert_log") == [(True,)]


def test_a_bot_that_refuses_the_message_is_a_failure_not_a_sent_alert():
    refuse = lambda request: (200, {}, b'{"errcode":310000,"errmsg":"keywords not in content"}')  # noqa: E731
    with http_server(refuse) as (seen, port):
        out = send_alerts(AlertSettings(urls=(_dingtalk_url(port),), retries=0), "r", RESULTS, None, set(), **FAST)
    assert len(seen) == 1 and out.sent == [] and out.fingerprints == set()
    assert out.errors == [f"dingtalkhook dingtalkhook://127.0.0.1:{port}/…: errcode 310000: keywords not in content "
                          f"after 1 attempt(s)"]


# --------------------------------------------------------------------------- issue 18.4: redirects


def _redirecting(state):
    def answer(request):
        if state["redirect"] and request["method"] == "POST":
            return 302, {"Location": "/landing"}, b""
        return 200, {}, b"ok"
    return answer


@pytest.mark.parametrize("kind", ["webhook setting", "json://", "wecomhook://"])
def test_a_redirect_is_a_failure_and_the_alert_goes_out_on_the_next_run(kind, tmp_path):
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    migrate(con)
    state = {"redirect": True}
    with http_server(_redirecting(state)) as (seen, port):
        settings = {
            "webhook setting": AlertSettings(webhook_url=f"http://127.0.0.1:{port}/hooks/{HOOK_TOKEN}", retries=2),
            "json://": AlertSettings(urls=(f"json://127.0.0.1:{port}/hooks/{HOOK_TOKEN}",), retries=2),
            "wecomhook://": AlertSettings(urls=(f"wecomhook://127.0.0.1:{port}/send?key={HOOK_TOKEN}",), retries=2),
        }[kind]
        first = send_alerts(settings, "run-1", RESULTS, None, already_alerted(con), **FAST)
        record_results(con, "run-1", RESULTS, None, first)
        assert first.sent == [] and first.fingerprints == set() and len(first.errors) == 1
        assert "302" in first.errors[0] and HOOK_TOKEN not in first.errors[0]
        assert {r["method"] for r in seen} == {"POST"}            # never followed as a GET
        assert con.execute("SELECT count(*) FROM alert_log").fetchone() == (0,)

        state["redirect"] = False                                  # fixed: the next run sends it
        posted = len(seen)
        second = send_alerts(settings, "run-2", RESULTS, None, already_alerted(con), **FAST)
        record_results(con, "run-2", RESULTS, None, second)
    assert second.errors == [] and len(second.sent) == 1 and len(seen) == posted + 1
    assert con.execute("SELECT count(*) FROM alert_log").fetchone() == (2,)
    con.close()


def test_the_webhook_redirect_is_permanent_and_named():
    state = {"redirect": True}
    with http_server(_redirecting(state)) as (seen, port):
        out = send_alerts(AlertSettings(webhook_url=f"http://127.0.0.1:{port}/hooks/{HOOK_TOKEN}", retries=3),
                          "r", RESULTS, None, set(), **FAST)
    assert len(seen) == 1
    assert out.errors == [f"webhook http://127.0.0.1:{port}/…: HTTP 302 (redirects are not followed) after 1 attempt(s)"]


# --------------------------------------------------------------------------- issue 18.5: a whole-attempt deadline


@contextmanager
def trickling_server(interval: float):
    """Answers every POST one byte each ``interval`` seconds: each read gets a byte well before
    any per-read timeout, so only a deadline on the whole attempt ends it."""
    stop = threading.Event()
    posts: list[float] = []

    class Handler(QuietHTTPHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            posts.append(time.monotonic())
            for byte in b'HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\n{"errcode":0,"errmsg":"ok"}':
                if stop.wait(interval):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()

    with serving(Handler) as port:
        try:
            yield posts, port
        finally:
            stop.set()                    # ends the trickles before the server shuts down


@pytest.mark.parametrize("kind", ["webhook setting", "json://", "wecomhook://"])
@pytest.mark.parametrize("retries", [0, 1])
def test_a_trickling_server_cannot_hold_an_attempt_past_its_deadline(kind, retries):
    deadline, interval = 1.0, 0.25        # the answer would take 70 × 0.25 s = 17 s
    with trickling_server(interval) as (posts, port):
        settings = {
            "webhook setting": AlertSettings(webhook_url=f"http://127.0.0.1:{port}/hooks/{HOOK_TOKEN}",
                                             timeout_seconds=deadline, retries=retries),
            "json://": AlertSettings(urls=(f"json://127.0.0.1:{port}/hooks/{HOOK_TOKEN}",),
                                     timeout_seconds=deadline, retries=retries),
            "wecomhook://": AlertSettings(urls=(_wecom_url(port),), timeout_seconds=deadline, retries=retries),
        }[kind]
        load_apprise()                    # its first import (~1 s) is before the deadline, not timed here
        started = time.monotonic()
        out = send_alerts(settings, "r", RESULTS, None, set(), **FAST)
        elapsed = time.monotonic() - started
    attempts = retries + 1
    assert len(posts) == attempts
    assert elapsed < attempts * deadline + 0.5, elapsed
    assert out.sent == [] and len(out.errors) == 1
    assert out.errors[0].endswith(f"timed out after {attempts} attempt(s)"), out.errors[0]
    assert HOOK_TOKEN not in out.errors[0] and WECOM_KEY not in out.errors[0]


# --------------------------------------------------------------------------- how channels are shown


def test_redact_url_shows_hosts_but_never_tokens():
    assert redact_url(f"wecombot://{WECOM_KEY}") == "wecombot://…"
    assert redact_url("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ") == "slack://…"
    assert redact_url(f"dingtalk://{DING_TOKEN}/?secret=SEC123") == "dingtalk://…"
    assert redact_url(f"feishu://{WECOM_KEY}") == "feishu://…"
    assert redact_url(_wecom_url(8080)) == "wecomhook://127.0.0.1:8080/…"
    assert redact_url("mailtos://bot:pa55word@smtp.example.org:465?to=ops@example.org") == \
        "mailtos://smtp.example.org:465/…"
    assert redact_url(f"jsons://hooks.example.org/in/{HOOK_TOKEN}") == "jsons://hooks.example.org/…"


def test_an_unusable_url_is_reported_without_its_secrets():
    out = send_alerts(AlertSettings(urls=(f"nosuchservice://{HOOK_TOKEN}@example.org/x",), retries=3),
                      "r", RESULTS, None, set(), **FAST)
    assert out.sent == [] and len(out.errors) == 1
    assert out.errors[0].startswith("nosuchservice nosuchservice://…: not a usable alert URL")
    assert out.errors[0].endswith("after 1 attempt(s)") and HOOK_TOKEN not in out.errors[0]



def test_debug_logs_of_failing_sends_carry_no_secret(caplog):
    """apprise and urllib3 log request URLs at DEBUG; none of it may reach the logs."""
    caplog.set_level(logging.DEBUG)
    with http_server(lambda request: (503, {}, b"busy")) as (seen, port):
        out = send_alerts(AlertSettings(urls=(f"json://127.0.0.1:{port}/in/{HOOK_TOKEN}", _wecom_url(port)),
                                        webhook_url=f"http://127.0.0.1:{port}/hooks/{HOOK_TOKEN}?token={DING_TOKEN}",
                                        retries=1), "r", RESULTS, None, set(), **FAST)
    assert len(seen) == 6 and out.sent == [] and len(out.errors) == 3
    assert f"webhook http://127.0.0.1:{port}/…: HTTP 503 after 2 attempt(s)" in out.errors
    assert "alert failed" in caplog.text
    _no_secrets({"logs": caplog.text, "errors": "\n".join(out.errors)}, HOOK_TOKEN, WECOM_KEY, DING_TOKEN)
