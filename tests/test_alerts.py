"""flows.alerts against real servers on 127.0.0.1: HTTP (http.server) and SMTP (socketserver)."""
from __future__ import annotations

import base64
import json
import logging
import socket
import socketserver
import time
from contextlib import contextmanager

import duckdb

from expectations.record import already_alerted, record_results
from expectations.results import ExpectationResult, fingerprint
from flows.alerts import redact_url, send_alerts
from flows.settings import AlertSettings
from servers import QuietHTTPHandler, serving
from warehouse.migrate import migrate

TOKEN = "s3cr3t-T0KEN-abcdef0123"
QUERY_SECRET = "qs-SECRET-98765"
PASSWORD = "hunter2-P4ssw0rd!"
FAST = {"base_delay": 0.01}


def _failure(name="yoy_pct_range_gdp", severity="error", keys=("k1",), suite="observations") -> ExpectationResult:
    return ExpectationResult(
        suite=suite, expectation=name, severity=severity, success=False, unexpected_count=len(keys),
        sample=[{"document": "2024-h1.txt", "evidence": f"GDP同比增长900% <{k}> & more", "detail": "900 outside [-20, 30] <!channel>"}
                for k in keys] * 2,
        fingerprint=fingerprint(suite, name, keys), keys=tuple(keys))


def _passed(name="share_pct_range") -> ExpectationResult:
    return ExpectationResult(suite="observations", expectation=name, severity="error", success=True,
                             unexpected_count=0, sample=[], fingerprint=fingerprint("observations", name, []))


RESULTS = [_failure(), _failure("diff_pp_implied_benchmark_plausible", "warning", ("k2",)), _passed()]


# --------------------------------------------------------------------------- HTTP


class _Hook:
    def __init__(self, statuses=None):
        self.statuses = list(statuses or [])
        self.requests: list[dict] = []


@contextmanager
def http_server(statuses=None):
    """A webhook receiver: answers each POST with the next scripted status (200 when none left)."""
    hook = _Hook(statuses)

    class Handler(QuietHTTPHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            status = hook.statuses.pop(0) if hook.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    with serving(Handler) as port:
        yield hook, port


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}/hooks/T0/{TOKEN}?token={QUERY_SECRET}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_webhook_receives_payload_with_slack_text_and_no_secrets(caplog):
    caplog.set_level(logging.DEBUG, logger="zonefacts.alerts")
    with http_server() as (hook, port):
        out = send_alerts(AlertSettings(webhook_url=_url(port), timeout_seconds=5, retries=2), "run-42", RESULTS,
                          "/srv/zonefacts_data_docs/index.html", set(), **FAST)
    assert out.errors == []
    assert len(hook.requests) == 1
    request = hook.requests[0]
    assert request["path"] == f"/hooks/T0/{TOKEN}?token={QUERY_SECRET}"
    assert request["headers"]["Content-Type"].startswith("application/json")
    payload = json.loads(request["body"])
    assert payload["run_id"] == "run-42"
    assert payload["counts"] == {"error": 1, "warning": 1}
    assert payload["data_docs"] == "/srv/zonefacts_data_docs/index.html"
    names = [(f["suite"], f["expectation"], f["severity"]) for f in payload["failures"]]
    assert names == [("observations", "yoy_pct_range_gdp", "error"),
                     ("observations", "diff_pp_implied_benchmark_plausible", "warning")]
    first = payload["failures"][0]
    assert first["unexpected_count"] == 1 and len(first["samples"]) <= 3
    assert first["samples"][0]["evidence"].startswith("GDP同比增长900%") and first["samples"][0]["document"]
    lines = payload["text"].splitlines()
    assert lines[0].startswith("zonefacts run run-42: 2 failed")
    assert lines[1].startswith("[error] observations/yoy_pct_range_gdp: 1 unexpected")
    assert lines[2].startswith("[warning] observations/diff_pp_implied_benchmark_plausible")
    assert "&lt;!channel&gt;" in lines[1] and "<!channel>" not in payload["text"]   # Slack control chars escaped
    assert first["samples"][0]["detail"].endswith("<!channel>")                     # structured data left as is
    raw = request["body"].decode("utf-8")
    for secret in (TOKEN, QUERY_SECRET):
        assert secret not in raw and secret not in caplog.text and secret not in json.dumps(out.sent)
    assert out.sent[0]["target"] == f"http://127.0.0.1:{port}/…"
    assert out.fingerprints == {RESULTS[0].fingerprint, RESULTS[1].fingerprint}


def test_webhook_500_twice_then_200_is_retried():
    with http_server([500, 500, 200]) as (hook, port):
        out = send_alerts(AlertSettings(webhook_url=_url(port), retries=3), "r", RESULTS, None, set(), **FAST)
    assert out.errors == [] and len(hook.requests) == 3
    assert out.sent[0]["attempts"] == 3


def test_webhook_that_keeps_failing_records_a_redacted_error(caplog):
    caplog.set_level(logging.DEBUG, logger="zonefacts.alerts")
    with http_server([500, 503]) as (hook, port):
        out = send_alerts(AlertSettings(webhook_url=_url(port), retries=1), "r", RESULTS, None, set(), **FAST)
    assert out.sent == [] and out.fingerprints == set() and len(hook.requests) == 2
    assert out.errors == [f"webhook http://127.0.0.1:{port}/…: HTTP 503 after 2 attempt(s)"]
    assert TOKEN not in caplog.text and QUERY_SECRET not in caplog.text


def test_webhook_4xx_is_not_retried():
    with http_server([404]) as (hook, port):
        out = send_alerts(AlertSettings(webhook_url=_url(port), retries=3), "r", RESULTS, None, set(), **FAST)
    assert len(hook.requests) == 1 and "HTTP 404 after 1 attempt" in out.errors[0]


def test_hanging_webhook_times_out_within_bounds():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)        # accepts connections (backlog) but never answers
    port = listener.getsockname()[1]
    try:
        started = time.monotonic()
        out = send_alerts(AlertSettings(webhook_url=_url(port), timeout_seconds=0.3, retries=1), "r", RESULTS,
                          None, set(), **FAST)
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert elapsed < 3.0
    assert len(out.errors) == 1 and "timed out after 2 attempt(s)" in out.errors[0]
    assert TOKEN not in out.errors[0] and QUERY_SECRET not in out.errors[0]


def test_refused_port_is_recorded_not_raised():
    port = _free_port()
    out = send_alerts(AlertSettings(webhook_url=_url(port), retries=1), "r", RESULTS, None, set(), **FAST)
    assert out.sent == [] and len(out.errors) == 1
    assert out.errors[0].startswith(f"webhook http://127.0.0.1:{port}/…: ConnectionRefusedError")
    assert TOKEN not in out.errors[0]


def test_nothing_to_send_makes_no_request():
    with http_server() as (hook, port):
        settings = AlertSettings(webhook_url=_url(port))
        out = send_alerts(settings, "r", [_passed()], None, set(), **FAST)
        again = send_alerts(settings, "r", RESULTS, None, {r.fingerprint for r in RESULTS}, **FAST)
    assert hook.requests == []
    assert (out.sent, out.errors, again.sent, again.errors) == ([], [], [], [])


def test_same_failure_alerts_once_through_the_alert_log(tmp_path):
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    migrate(con)
    with http_server() as (hook, port):
        settings = AlertSettings(webhook_url=_url(port))
        first = send_alerts(settings, "run-1", RESULTS, None, already_alerted(con), **FAST)
        record_results(con, "run-1", RESULTS, None, first)
        second = send_alerts(settings, "run-2", RESULTS, None, already_alerted(con), **FAST)
        record_results(con, "run-2", RESULTS, None, second)
        changed = [_failure(keys=("k1", "k3"))]           # the failure changed: new fingerprint, alerted again
        third = send_alerts(settings, "run-3", changed, None, already_alerted(con), **FAST)
    assert len(hook.requests) == 2
    assert len(first.sent) == 1 and second.sent == [] and len(third.sent) == 1
    assert con.execute("SELECT count(*), min(channel) FROM alert_log").fetchone() == (2, "webhook")
    con.close()


def test_non_http_webhook_is_refused():
    out = send_alerts(AlertSettings(webhook_url="file:///etc/passwd"), "r", RESULTS, None, set(), **FAST)
    assert out.sent == [] and out.errors == ["webhook file://?/…: webhook URL must be http(s) after 1 attempt(s)"]


def test_redact_url():
    assert redact_url("https://hooks.slack.com/services/T0/B0/xyz?token=1") == "https://hooks.slack.com/…"
    assert redact_url("http://user:pw@example.org:8080/a") == "http://example.org:8080/…"
    assert redact_url(None) == ""


# --------------------------------------------------------------------------- SMTP


class _Mailbox:
    def __init__(self, greeting: str = "220 localhost ESMTP test"):
        self.greeting = greeting
        self.messages: list[dict] = []
        self.auth: list[str] = []


@contextmanager
def smtp_server(greeting: str = "220 localhost ESMTP test"):
    """Just enough SMTP (EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) to receive one mail."""
    box = _Mailbox(greeting)

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write((line + "\r\n").encode("utf-8"))
            self.wfile.flush()

        def handle(self):
            self.reply(box.greeting)
            if not box.greeting.startswith("220"):
                return
            sender, recipients = None, []
            while True:
                raw = self.rfile.readline()
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb = line.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    self.reply("250-localhost")
                    self.reply("250-AUTH PLAIN")
                    self.reply("250 8BITMIME")
                elif verb == "HELO":
                    self.reply("250 localhost")
                elif verb == "AUTH":
                    parts = line.split(" ")
                    box.auth.append(base64.b64decode(parts[2]).decode("utf-8") if len(parts) > 2 else "")
                    self.reply("235 2.7.0 Authentication successful")
                elif verb == "MAIL":
                    sender = line.split(":", 1)[1].strip()
                    self.reply("250 OK")
                elif verb == "RCPT":
                    recipients.append(line.split(":", 1)[1].strip())
                    self.reply("250 OK")
                elif verb == "DATA":
                    self.reply("354 End data with <CR><LF>.<CR><LF>")
                    data = []
                    while True:
                        chunk = self.rfile.readline()
                        if chunk in (b".\r\n", b".\n", b""):
                            break
                        data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                    box.messages.append({"from": sender, "to": recipients, "data": b"".join(data)})
                    self.reply("250 OK queued")
                elif verb in ("RSET", "NOOP"):
                    self.reply("250 OK")
                elif verb == "QUIT":
                    self.reply("221 Bye")
                    return
                else:
                    self.reply("502 Command not implemented")

    with serving(Handler, socketserver.ThreadingTCPServer) as port:
        yield box, port


def test_smtp_receives_the_email_with_login(caplog):
    from email import message_from_bytes, policy

    caplog.set_level(logging.DEBUG)
    with smtp_server() as (box, port):
        settings = AlertSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_from="zonefacts@example.org",
                                 smtp_to=("analyst@example.org", "ops@example.org"), smtp_user="bot",
                                 smtp_password=PASSWORD, timeout_seconds=5)
        out = send_alerts(settings, "run-7", RESULTS, "/docs/index.html", set(), **FAST)
    assert out.errors == [] and out.sent[0]["channel"] == "smtp"
    assert len(box.messages) == 1
    mail = box.messages[0]
    assert mail["from"] == "<zonefacts@example.org>"
    assert mail["to"] == ["<analyst@example.org>", "<ops@example.org>"]
    message = message_from_bytes(mail["data"], policy=policy.default)
    assert message["Subject"] == "[zonefacts] 2 failed expectations in run run-7"
    body = message.get_content()
    assert "[error] observations/yoy_pct_range_gdp: 1 unexpected" in body
    assert "GDP同比增长900%" in body and "Data Docs: /docs/index.html" in body
    assert box.auth == [f"\0bot\0{PASSWORD}"]          # the password was used ...
    assert PASSWORD not in json.dumps(out.sent) and PASSWORD not in body   # ... and went nowhere else
    assert PASSWORD not in caplog.text


def test_smtp_server_that_refuses_is_recorded():
    with smtp_server(greeting="554 5.7.1 no service for you") as (box, port):
        settings = AlertSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_to=("a@example.org",),
                                 smtp_user="bot", smtp_password=PASSWORD, retries=3, timeout_seconds=5)
        out = send_alerts(settings, "r", RESULTS, None, set(), **FAST)
    assert out.sent == [] and out.fingerprints == set()
    assert len(out.errors) == 1
    assert out.errors[0].startswith(f"smtp 127.0.0.1:{port}: SMTP 554")
    assert "after 1 attempt(s)" in out.errors[0]                  # permanent: not retried
    assert PASSWORD not in out.errors[0]


def test_one_channel_failing_does_not_stop_the_others():
    with smtp_server() as (box, port):
        settings = AlertSettings(webhook_url=_url(_free_port()), smtp_host="127.0.0.1", smtp_port=port,
                                 smtp_to=("a@example.org",), retries=0, prefect_block="not-a-block-slug")
        out = send_alerts(settings, "r", RESULTS, None, set(), **FAST)
    assert [s["channel"] for s in out.sent] == ["smtp"] and len(box.messages) == 1
    assert [e.split(" ", 1)[0] for e in out.errors] == ["webhook", "prefect"]
    assert "<block-type-slug>/<block-name>" in out.errors[1]
    assert out.fingerprints == {RESULTS[0].fingerprint, RESULTS[1].fingerprint}
