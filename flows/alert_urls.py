"""Alert channel URLs: what a channel is called, which parts of its URL are secret, and the legacy
settings as URLs. Standard library only: the plugins (flows/alert_plugins.py) and the channels
(flows/alert_channels.py) both read it, and neither is imported by it.

``redact_url`` is the one way a channel URL is shown (alert results, alert errors, logs) and
``url_secrets`` what is scrubbed from any message about it.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

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
