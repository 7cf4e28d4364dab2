"""The alert edge: tell people about failed expectations, once per failure.

``send_alerts(settings, run_id, results, data_docs_path, already_sent)`` sends the failed
results whose fingerprint is not in ``already_sent`` (read it with
``expectations.record.already_alerted(con)``) to every configured channel:

* each apprise URL of ``settings.urls`` (flows/alert_channels.py): Slack, email, WeCom,
  DingTalk, Feishu/Lark, JSON webhooks … get the alert as text, ``zfhook[s]://`` the JSON payload;
* webhook — ZONEFACTS_ALERT_WEBHOOK_URL: the JSON payload (Slack-compatible ``text`` plus
  structured ``failures``), POSTed;
* SMTP    — ZONEFACTS_ALERT_SMTP_*: the text as a plain email;
* Prefect — a notification block loaded by its slug (``<block-type-slug>/<name>``).

Each attempt has a deadline for the whole of it (``settings.timeout_seconds``), however slowly
the other end answers; a channel retries with exponential backoff (``settings.retries`` more
attempts) unless the failure is permanent (3xx, 4xx, SMTP 5xx). Nothing raises: failures are
collected in ``AlertOutcome.errors``, and a failure is in ``AlertOutcome.fingerprints`` (so in
alert_log) only once a channel took it. Channels are shown by ``redact_url`` and every message
is scrubbed of the channels' secrets before it is stored or logged.
"""
from __future__ import annotations

import json
import logging
import smtplib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import quote

from expectations.results import ERROR, WARNING, ExpectationResult, counts_by_severity
from flows.alert_channels import (JSON_SCHEMES, ChannelError, deliver, load_apprise, redact_url, smtp_url,
                                  url_secrets, webhook_url)
from flows.settings import AlertSettings

__all__ = ["AlertOutcome", "build_payload", "pending_failures", "redact_url", "send_alerts"]

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


# --------------------------------------------------------------------------- secrets


def _secrets(settings: AlertSettings) -> list[str]:
    out = [settings.smtp_password or "", quote(settings.smtp_password or "", safe="")]
    for url in (settings.webhook_url, *settings.urls):
        if url:
            out += url_secrets(url)
    return sorted({s for s in out if s}, key=len, reverse=True)


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


def _text_body(payload: dict, failures: Sequence[ExpectationResult]) -> str:
    """The alert as plain text (email, chat channels): each failure with its samples."""
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


# --------------------------------------------------------------------------- attempts


def _within(deadline: float, action: Callable[[], None]) -> None:
    """Run one attempt and give up at ``deadline`` seconds: socket timeouts are per read, so a
    server that trickles its answer would hold an attempt far longer (issue 18). A daemon thread,
    not an executor: an attempt given up may still sit in a read, and must not hold the process
    at exit; whatever it does after the deadline is ignored."""
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            action()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=attempt, name="zonefacts-alert", daemon=True)
    worker.start()
    worker.join(deadline)
    if not outcome:
        raise TimeoutError(f"no answer within {deadline:g} s")
    if outcome[0] is not None:
        raise outcome[0]


def _causes(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and what caused it, outermost first (requests → urllib3 → the socket error)."""
    out: list[BaseException] = []
    while exc is not None and all(exc is not seen for seen in out):
        out.append(exc)
        reason = getattr(exc, "reason", None)
        first = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        exc = reason if isinstance(reason, BaseException) else (exc.__cause__ or exc.__context__ or first)
    return out


def _permanent(exc: BaseException) -> bool:
    """Retrying will not help: a redirect, a refusal (4xx), an SMTP 5xx, a bad setting."""
    for cause in _causes(exc):
        if isinstance(cause, ChannelError):
            return cause.permanent
        if isinstance(cause, smtplib.SMTPResponseException):
            return cause.smtp_code >= 500
        if isinstance(cause, smtplib.SMTPRecipientsRefused):
            return True
    return False


def _describe(exc: BaseException) -> str:
    causes = _causes(exc)
    for cause in causes:
        if isinstance(cause, ChannelError):
            return str(cause)
        if isinstance(cause, smtplib.SMTPResponseException):
            error = cause.smtp_error
            return f"SMTP {cause.smtp_code} {error.decode('utf-8', 'replace') if isinstance(error, bytes) else error}"
        if isinstance(cause, smtplib.SMTPRecipientsRefused):
            return "SMTP recipients refused: " + ", ".join(f"{k} ({v[0]})" for k, v in cause.recipients.items())
    if any(isinstance(cause, TimeoutError) for cause in causes):
        return "timed out"
    return f"{type(causes[-1]).__name__}: {causes[-1]}"


def _with_retries(action: Callable[[], None], attempts: int, deadline: float, base_delay: float,
                  sleep: Callable[[float], None]) -> tuple[int, BaseException | None]:
    """Run ``action`` up to ``attempts`` times, each within ``deadline``; (attempts made, last error or None)."""
    last: BaseException | None = None
    for attempt in range(1, max(attempts, 1) + 1):
        try:
            _within(deadline, action)
            return attempt, None
        except Exception as exc:  # noqa: BLE001 - an alert must never break the run
            last = exc
            if _permanent(exc):
                return attempt, exc
            if attempt < attempts:
                sleep(base_delay * (2 ** (attempt - 1)))
    return max(attempts, 1), last


# --------------------------------------------------------------------------- channels


@dataclass(frozen=True)
class _Channel:
    name: str                                     # shown: the URL's scheme, or webhook / smtp / prefect
    target: str                                   # shown: redacted
    attempt: Callable[[], None]                   # one delivery; raises why not
    prepare: Callable[[], object] | None = None   # imports, before the first attempt's deadline


def _notify_block(name: str, subject: str, body: str) -> None:
    from prefect.blocks.core import Block

    block = Block.load(name)
    if not hasattr(block, "notify"):
        raise ChannelError(f"Prefect block {name!r} is not a notification block", permanent=True)
    block.notify(body, subject=subject)


def _load_prefect_blocks(name: str) -> None:
    if "/" not in name.strip("/"):
        raise ChannelError(f"Prefect block {name!r} must be named '<block-type-slug>/<block-name>'", permanent=True)
    # an attribute read: a run defers these modules (flows/commands/prefect_env.py), and reading
    # one imports them, which registers their block types for Block.load
    from prefect.blocks.notifications import NotificationBlock  # noqa: F401
    from prefect.blocks.webhook import Webhook  # noqa: F401


def _url_channel(url: str, subject: str, text: str, payload: str, timeout: float) -> _Channel:
    scheme = url.partition("://")[0].lower()
    body = payload if scheme in JSON_SCHEMES else text
    return _Channel(scheme or "?", redact_url(url), partial(deliver, url, body, subject, timeout), load_apprise)


def _channels(settings: AlertSettings, subject: str, text: str, payload: str) -> list[_Channel]:
    """The URLs of ZONEFACTS_ALERT_URLS, then the channels of the older settings, in this order."""
    timeout = settings.timeout_seconds
    out = [_url_channel(url, subject, text, payload, timeout) for url in settings.urls]
    if settings.webhook_url:
        out.append(_Channel("webhook", redact_url(settings.webhook_url),
                            lambda: deliver(webhook_url(settings.webhook_url), payload, subject, timeout),
                            load_apprise))
    if settings.smtp_host and settings.smtp_to:
        url = smtp_url(settings.smtp_host, settings.smtp_port, settings.smtp_from, settings.smtp_to,
                       settings.smtp_starttls, settings.smtp_user, settings.smtp_password)
        out.append(_Channel("smtp", f"{settings.smtp_host}:{settings.smtp_port}",
                            partial(deliver, url, text, subject, timeout), load_apprise))
    if settings.prefect_block:
        out.append(_Channel("prefect", settings.prefect_block,
                            partial(_notify_block, settings.prefect_block, subject, text),
                            partial(_load_prefect_blocks, settings.prefect_block)))
    return out


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
        subject = f"[zonefacts] {len(failures)} failed expectations in run {run_id}"
        channels = _channels(settings, subject, _text_body(payload, failures),
                             json.dumps(payload, ensure_ascii=False))
        attempts_allowed = max(int(settings.retries), 0) + 1
        for channel in channels:
            attempts, error = 0, None
            try:
                if channel.prepare is not None:
                    channel.prepare()
            except Exception as exc:  # noqa: BLE001 - a channel that cannot start is its error
                attempts, error = 1, exc
            else:
                attempts, error = _with_retries(channel.attempt, attempts_allowed, settings.timeout_seconds,
                                                base_delay, sleep)
            if error is None:
                outcome.sent.append({"channel": channel.name, "target": channel.target, "failures": len(failures),
                                     "fingerprints": fingerprints, "attempts": attempts})
                outcome.fingerprints.update(fingerprints)
                log.info("alert sent via %s to %s (%d failures, %d attempts)", channel.name, channel.target,
                         len(failures), attempts)
            else:
                message = _scrub(f"{channel.name} {channel.target}: {_describe(error)} after {attempts} attempt(s)",
                                 secrets)
                outcome.errors.append(message)
                log.warning("alert failed: %s", message)
    except Exception as exc:  # noqa: BLE001 - never raise from the alert edge
        outcome.errors.append(_scrub(f"alerts: {type(exc).__name__}: {exc}", _secrets(settings)))
    return outcome
