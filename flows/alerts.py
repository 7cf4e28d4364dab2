"""The alert edge: tell people about failed expectations, once per failure.

``send_alerts(settings, run_id, results, data_docs_path, already_sent)`` sends the failed
results whose fingerprint is not in ``already_sent`` (read it with
``expectations.record.already_alerted(con)``) to every configured channel:

* webhook — POST JSON (Slack-compatible ``text`` plus structured ``failures``) with urllib;
* SMTP    — a plain-text email through smtplib (optional STARTTLS and login);
* Prefect — a notification block loaded by its slug (``<block-type-slug>/<name>``).

Each channel retries with exponential backoff (``settings.retries`` more attempts) and never
raises: failures are collected in ``AlertOutcome.errors``. Secrets never leave this module:
URLs are reported as ``scheme://host/…`` and every message is scrubbed of the webhook URL's
path / query and of the SMTP password before it is stored or logged.
"""
from __future__ import annotations

import json
import logging
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

from expectations.results import ERROR, WARNING, ExpectationResult, counts_by_severity
from flows.settings import AlertSettings

log = logging.getLogger("zonefacts.alerts")

BASE_DELAY_SECONDS = 0.2
MAX_SAMPLES = 3
MAX_EVIDENCE_CHARS = 300
REDACTED = "***"


@dataclass
class AlertOutcome:
    sent: list[dict] = field(default_factory=list)       # {channel, target, failures, fingerprints, attempts}
    errors: list[str] = field(default_factory=list)      # redacted messages
    fingerprints: set[str] = field(default_factory=set)  # sent on at least one channel


class _Permanent(Exception):
    """A failure that retrying will not fix (HTTP 4xx, SMTP 5xx)."""


# --------------------------------------------------------------------------- redaction


def redact_url(url: str | None) -> str:
    """``https://hooks.example.com/services/T0/B0/secret?token=x`` → ``https://hooks.example.com/…``."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme or '?'}://{host}{port}/…"


def _secrets(settings: AlertSettings) -> list[str]:
    out = []
    if settings.smtp_password:
        out.append(settings.smtp_password)
    if settings.webhook_url:
        url = settings.webhook_url
        out.append(url)
        try:
            parts = urlsplit(url)
            out += [p for p in (parts.path, parts.query, parts.fragment, parts.password, parts.username) if p]
            out += [seg for seg in parts.path.split("/")
                    if len(seg) >= 16 or (len(seg) >= 8 and any(ch.isdigit() for ch in seg))]
            out += [kv.split("=", 1)[-1] for kv in parts.query.split("&") if len(kv.split("=", 1)[-1]) >= 4]
        except ValueError:
            pass
    return sorted({s for s in out if s and s not in ("/",)}, key=len, reverse=True)


def _scrub(message: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if len(secret) >= 3:
            message = message.replace(secret, REDACTED)
    return message


# --------------------------------------------------------------------------- content


def _trim(text, limit: int = MAX_EVIDENCE_CHARS):
    if isinstance(text, str) and len(text) > limit:
        return text[:limit] + "…"
    return text


def pending_failures(results: Iterable[ExpectationResult], already_sent: Iterable[str]) -> list[ExpectationResult]:
    """Failed results not alerted before, one per fingerprint, errors first."""
    seen = set(already_sent)
    out = []
    for r in results:
        if r.success or r.fingerprint in seen:
            continue
        seen.add(r.fingerprint)
        out.append(r)
    return sorted(out, key=lambda r: (0 if r.severity == ERROR else 1, r.suite, r.expectation))


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _summary_line(r: ExpectationResult) -> str:
    line = f"[{r.severity}] {r.suite}/{r.expectation}: {r.unexpected_count} unexpected"
    if r.sample:
        first = r.sample[0]
        where = first.get("document") or first.get("document_id") or ""
        detail = first.get("detail") or first.get("evidence") or ""
        line += f" — {_trim(str(detail), 160)}" + (f" ({where})" if where else "")
    return line


def build_payload(run_id: str, failures: Sequence[ExpectationResult], data_docs_path) -> dict:
    """The webhook JSON: run, counts per severity, failures with ≤ 3 samples, Data Docs, Slack text."""
    counts = counts_by_severity(failures)
    header = (f"zonefacts run {run_id}: {len(failures)} failed expectation(s) "
              f"({counts[ERROR]} error, {counts[WARNING]} warning)")
    lines = [header] + [_summary_line(r) for r in failures]
    if data_docs_path:
        lines.append(f"Data Docs: {data_docs_path}")
    return {
        "run_id": run_id,
        "counts": counts,
        "failures": [{
            "suite": r.suite, "expectation": r.expectation, "severity": r.severity,
            "unexpected_count": r.unexpected_count, "fingerprint": r.fingerprint,
            "samples": [{k: _trim(v) for k, v in s.items()} for s in r.sample[:MAX_SAMPLES]],
        } for r in failures],
        "data_docs": None if data_docs_path is None else str(data_docs_path),
        "text": "\n".join(_slack_escape(line) for line in lines),
    }


def _email_body(payload: dict, failures: Sequence[ExpectationResult]) -> str:
    lines = [f"zonefacts run {payload['run_id']}: {len(failures)} failed expectation(s) "
             f"({payload['counts'][ERROR]} error, {payload['counts'][WARNING]} warning)", ""]
    for f in payload["failures"]:
        lines.append(f"[{f['severity']}] {f['suite']}/{f['expectation']}: {f['unexpected_count']} unexpected")
        for s in f["samples"]:
            doc = s.get("document") or s.get("document_id") or "?"
            lines.append(f"    - {doc}: {s.get('detail') or ''}")
            if s.get("evidence"):
                lines.append(f"      evidence: {s['evidence']}")
        lines.append("")
    if payload.get("data_docs"):
        lines.append(f"Data Docs: {payload['data_docs']}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- retry


def _with_retries(action: Callable[[], None], attempts: int, base_delay: float,
                  sleep: Callable[[float], None]) -> tuple[int, Exception | None]:
    """Run ``action`` up to ``attempts`` times; returns (attempts made, last error or None)."""
    last: Exception | None = None
    for attempt in range(1, max(attempts, 1) + 1):
        try:
            action()
            return attempt, None
        except _Permanent as exc:
            return attempt, exc
        except Exception as exc:  # noqa: BLE001 - an alert must never break the run
            last = exc
            if attempt < attempts:
                sleep(base_delay * (2 ** (attempt - 1)))
    return max(attempts, 1), last


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _Permanent):
        return _describe(exc.__cause__) if exc.__cause__ is not None else str(exc)
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return "timed out"
        return f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else str(reason)
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"SMTP {exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "SMTP recipients refused: " + ", ".join(
            f"{k} ({v[0]})" for k, v in exc.recipients.items())
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- channels


def _post_webhook(url: str, body: bytes, timeout: float) -> None:
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise _Permanent("webhook URL must be http(s)")
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": "zonefacts-alerts"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured URL
            response.read(65536)
    except urllib.error.HTTPError as exc:
        exc.close()
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            raise _Permanent() from exc
        raise


def _send_email(settings: AlertSettings, subject: str, body: str) -> None:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.smtp_from or "zonefacts@localhost"
    message["To"] = ", ".join(settings.smtp_to)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain="zonefacts")
    message.set_content(body)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout_seconds) as smtp:
            smtp.ehlo()
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise _Permanent() from exc
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500:
            raise _Permanent() from exc
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        raise _Permanent() from exc


def _notify_block(name: str, subject: str, body: str) -> None:
    if "/" not in name.strip("/"):
        raise _Permanent(f"Prefect block {name!r} must be named '<block-type-slug>/<block-name>'")
    import prefect.blocks.notifications  # noqa: F401 - registers the notification block types
    from prefect.blocks.core import Block

    block = Block.load(name)
    if not hasattr(block, "notify"):
        raise _Permanent(f"Prefect block {name!r} is not a notification block")
    block.notify(body, subject=subject)


# --------------------------------------------------------------------------- entry point


def send_alerts(
    settings: AlertSettings,
    run_id: str,
    results: Iterable[ExpectationResult],
    data_docs_path=None,
    already_sent: Iterable[str] = (),
    *,
    base_delay: float = BASE_DELAY_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> AlertOutcome:
    """Send failed, not-yet-alerted results to every configured channel. Never raises."""
    outcome = AlertOutcome()
    try:
        failures = pending_failures(results, already_sent)
        if not failures or not settings.any_channel:
            return outcome
        secrets = _secrets(settings)
        payload = build_payload(run_id, failures, data_docs_path)
        fingerprints = [r.fingerprint for r in failures]
        attempts_allowed = max(int(settings.retries), 0) + 1
        subject = f"[zonefacts] {len(failures)} failed expectations in run {run_id}"

        def deliver(channel: str, target: str, action: Callable[[], None]) -> None:
            attempts, error = _with_retries(action, attempts_allowed, base_delay, sleep)
            if error is None:
                outcome.sent.append({"channel": channel, "target": target, "failures": len(failures),
                                     "fingerprints": fingerprints, "attempts": attempts})
                outcome.fingerprints.update(fingerprints)
                log.info("alert sent via %s to %s (%d failures, %d attempts)", channel, target, len(failures),
                         attempts)
            else:
                message = _scrub(f"{channel} {target}: {_describe(error)} after {attempts} attempt(s)", secrets)
                outcome.errors.append(message)
                log.warning("alert failed: %s", message)

        if settings.webhook_url:
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            deliver("webhook", redact_url(settings.webhook_url),
                    lambda: _post_webhook(settings.webhook_url, body, settings.timeout_seconds))
        if settings.smtp_host and settings.smtp_to:
            text = _email_body(payload, failures)
            deliver("smtp", f"{settings.smtp_host}:{settings.smtp_port}",
                    lambda: _send_email(settings, subject, text))
        if settings.prefect_block:
            text = _email_body(payload, failures)
            deliver("prefect", settings.prefect_block, lambda: _notify_block(settings.prefect_block, subject, text))
    except Exception as exc:  # noqa: BLE001 - never raise from the alert edge
        outcome.errors.append(_scrub(f"alerts: {type(exc).__name__}: {exc}", _secrets(settings)))
    return outcome
