"""Alert channels as apprise URLs: how a channel is shown, which parts of it are secret, one attempt.

Every channel is an apprise URL (``ZONEFACTS_ALERT_URLS``): apprise's own plugins for
``slack://``, ``mailto://`` / ``mailtos://``, ``wecombot://``, ``dingtalk://``, ``feishu://``,
``lark://``, ``json://`` …, and ours for any host (flows/alert_plugins.py: ``wecomhook://``,
``dingtalkhook://``, ``zfhook://``). The legacy settings are URLs too: ZONEFACTS_ALERT_WEBHOOK_URL
a ``zfhook[s]://`` one (``webhook_url``), the ZONEFACTS_ALERT_SMTP_* ones a ``mailto[s]://`` one
(``smtp_url``).

``redact_url`` is the one way a channel URL is shown (alert results, alert errors, logs) and
``url_secrets`` what is scrubbed from any message about it. apprise is imported for the
first delivery only: with requests and its plugins it takes about a second.
"""
from __future__ import annotations

import logging
import sys
import threading
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

__all__ = ["ChannelError", "JSON_SCHEMES", "deliver", "load_apprise", "redact_url", "smtp_url", "url_secrets",
           "webhook_url"]

JSON_SCHEMES = frozenset({"zfhook", "zfhooks"})      # channels that take the JSON payload, not text

# Schemes whose host part is a host name; in the others (slack://, wecombot://, …) it is a token.
_HOST_SCHEMES = frozenset({"http", "https", "json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos",
                           "zfhook", "zfhooks", "wecomhook", "wecomhooks", "dingtalkhook", "dingtalkhooks"})
_MAIL_SCHEMES = frozenset({"mailto", "mailtos"})     # only the password is secret: hosts and addresses are shown
_MAIL_SECRET_KEYS = frozenset({"pass", "password"})


class ChannelError(Exception):
    """A channel did not take the alert; ``permanent`` when retrying cannot help (3xx, 4xx)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


# --------------------------------------------------------------------------- shown and secret parts


def redact_url(url: str | None) -> str:
    """How a channel is shown anywhere: scheme and host only.

    ``https://hooks.example.com/services/T0/B0/secret?token=x`` → ``https://hooks.example.com/…``;
    ``wecombot://<key>`` → ``wecombot://…`` (its host part is the key)."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    scheme = parts.scheme.lower() or "?"
    if host and scheme not in _HOST_SCHEMES:
        return f"{scheme}://…"
    return f"{scheme}://{host or '?'}{port}/…"


def url_secrets(url: str) -> list[str]:
    """The parts of a channel URL that must not appear in any message: credentials, tokens in
    its path or query, the host where it is a token; as written and unquoted."""
    out = [url]
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        segments = [seg for seg in parts.path.split("/") if seg]
        query = parse_qsl(parts.query)
        if scheme in _MAIL_SCHEMES:
            out += [parts.password or ""] + [value for key, value in query if key.lower() in _MAIL_SECRET_KEYS]
        elif scheme in _HOST_SCHEMES:
            out += [parts.path, parts.query, parts.fragment, parts.username or "", parts.password or ""]
            out += [seg for seg in segments if len(seg) >= 16 or (len(seg) >= 8 and any(ch.isdigit() for ch in seg))]
            out += [value for _, value in query if len(value) >= 4]
        else:
            out += [parts.netloc, parts.netloc.rpartition("@")[2].split(":")[0], parts.path, parts.query, *segments]
            out += [value for _, value in query if len(value) >= 4]
    except ValueError:
        pass
    return [variant for s in out if s and s != "/" for variant in {s, unquote(s)}]


# --------------------------------------------------------------------------- the legacy settings as URLs


def webhook_url(url: str) -> str:
    """ZONEFACTS_ALERT_WEBHOOK_URL (http or https) as the ``zfhook[s]://`` URL that posts the payload."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise ChannelError("webhook URL must be http(s)", permanent=True)
    return ("zfhooks" if scheme.lower() == "https" else "zfhook") + "://" + rest


def smtp_url(host: str, port: int, sender: str | None, to: tuple[str, ...], starttls: bool,
             user: str | None, password: str | None) -> str:
    """The ZONEFACTS_ALERT_SMTP_* settings as one ``mailto[s]://`` URL: plain text, one message to
    every recipient (apprise mails each ``to`` on its own, so the others are Cc)."""
    auth = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user else ""
    params = {"smtp": host, "from": sender or "zonefacts@localhost", "to": to[0], "format": "text"}
    if to[1:]:
        params["cc"] = ",".join(to[1:])
    if starttls:
        params["mode"] = "starttls"
    return f"{'mailtos' if starttls else 'mailto'}://{auth}{host}:{port}/?{urlencode(params)}"


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
