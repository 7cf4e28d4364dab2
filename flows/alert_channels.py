"""Alert channels as apprise URLs: how a channel is shown, which parts of it are secret, one attempt.

Every channel is an apprise URL (``ZONEFACTS_ALERT_URLS``): apprise's own plugins for
``slack://``, ``mailto://`` / ``mailtos://``, ``wecombot://``, ``dingtalk://``, ``feishu://``,
``lark://``, ``json://`` …, and ours for any host (flows/alert_plugins.py: ``wecomhook://``,
``dingtalkhook://``, ``zfhook://``). The legacy settings are URLs too: ZONEFACTS_ALERT_WEBHOOK_URL
a ``zfhook[s]://`` one (``webhook_url``), the ZONEFACTS_ALERT_SMTP_* ones a ``mailto[s]://`` one
(``smtp_url``).

How a URL is shown and what of it is secret is flows/alert_urls.py. apprise is imported for the
first delivery only: with requests and its plugins it takes about a second.
"""
from __future__ import annotations

import logging
import sys
import threading

from flows.alert_urls import JSON_SCHEMES, ChannelError, redact_url, smtp_url, url_secrets, webhook_url

__all__ = ["ChannelError", "JSON_SCHEMES", "deliver", "load_apprise", "redact_url", "smtp_url", "url_secrets",
           "webhook_url"]

# --------------------------------------------------------------------------- one attempt


class _AttemptLog(logging.Filter):
    """Takes the log records of a thread that is delivering an alert and keeps them out of every
    log: apprise's plugins (and urllib3 under them) log request URLs, tokens included. Apprise
    catches a send's error and logs it, with the exception or from within the ``except`` block:
    the attempt's error is read from these records (the exception: the record's or ``sys.exc_info``)."""

    local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        seen = getattr(self.local, "seen", None)
        if seen is None:
            return True
        seen.append((record.levelno, record.getMessage(), record.exc_info[1] if record.exc_info else sys.exc_info()[1]))
        return False


# A logger's filter sees only the records logged on that very logger, so each one is named:
# apprise logs on one; urllib3 (under requests) logs request paths and queries from these.
_ATTEMPT_LOGGERS = ("apprise", "urllib3.connectionpool", "urllib3.connection", "urllib3.poolmanager",
                    "urllib3.util.retry", "urllib3.response")
for _name in _ATTEMPT_LOGGERS:
    logging.getLogger(_name).addFilter(_AttemptLog())
if logging.getLogger("apprise").level == logging.NOTSET:
    logging.getLogger("apprise").setLevel(logging.WARNING)   # a send's error is a WARNING record: always made


def load_apprise():
    """apprise, its plugins loaded and ours registered: about a second the first time, so
    called before an attempt's deadline starts."""
    import apprise

    import flows.alert_plugins  # noqa: F401 - registers wecomhook://, dingtalkhook://, zfhook://

    return apprise


def deliver(url: str, body: str, title: str, timeout: float) -> None:
    """One attempt through apprise: returns when the channel took the alert, raises why not.
    ``timeout`` is every socket's; the caller sets the attempt's deadline."""
    apprise = load_apprise()
    # no redirects (a 3xx is a failure, issue 18) and no retries of apprise's own (the caller's)
    notifier = apprise.Apprise(asset=apprise.AppriseAsset(http_redirects=False, default_service_retry=0,
                                                          async_mode=False))
    seen: list[tuple[int, str, BaseException | None]] = []
    _AttemptLog.local.seen = seen
    try:
        if not notifier.add(url):
            raise ChannelError("not a usable alert URL (unknown scheme or bad parameters)", permanent=True)
        for server in notifier:
            server.socket_connect_timeout = server.socket_read_timeout = timeout
        if notifier.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT):
            return
    finally:
        _AttemptLog.local.seen = None
    errors = [exc for _, _, exc in seen if exc is not None]
    if errors:
        raise errors[-1]
    warnings = [message for level, message, _ in seen if level >= logging.WARNING]
    raise ChannelError(warnings[-1] if warnings else "not delivered")
