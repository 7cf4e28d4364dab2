"""Apprise plugins that take any host: WeCom and DingTalk group bots, and the zonefacts JSON webhook.

Apprise's own ``wecombot://`` and ``dingtalk://`` post to the services' fixed public hosts
(qyapi.weixin.qq.com, oapi.dingtalk.com), so a bot behind a gateway or proxy, or a test
server on 127.0.0.1, cannot be reached with them; nor does apprise post a JSON document of
our own. These three take the URL's host, port, path and query as written (``s`` after the
name means https):

    wecomhook[s]://host[:port]/path?key=…             {"msgtype": "markdown", "markdown": {"content"}}
    dingtalkhook[s]://host[:port]/path?access_token=… {"msgtype": "markdown", "markdown": {"title", "text"}}
    zfhook[s]://host[:port]/path?…                    the body as is: the zonefacts JSON payload

They never follow a redirect (a 302 would turn the POST into a GET with an empty body,
issue 18) and raise ``ChannelError`` rather than return False, so that the alert edge can
tell a permanent failure from one worth retrying. Registered with apprise on import.
"""
from __future__ import annotations

import json

import requests
from apprise.common import NotifyFormat, OverflowMode
from apprise.manager_plugins import NotificationManager
from apprise.plugins.base import NotifyBase

from flows.alert_urls import ChannelError, redact_url


class _HostedWebhook(NotifyBase):
    """POST one JSON document to the URL's own host, port, path and query (all kept as written)."""

    templates = ("{schema}://{host}/{fullpath}", "{schema}://{host}:{port}/{fullpath}")
    url_identifier = False           # no persistent storage
    title_maxlen = 250               # > 0: apprise passes the title apart, not in front of the body
    bot = True                       # the bots answer HTTP 200 with errcode ≠ 0 when they refuse a message

    def __init__(self, endpoint: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint

    @classmethod
    def parse_url(cls, url: str):
        results = NotifyBase.parse_url(url, verify_host=False)
        if results:
            scheme, _, rest = url.partition("://")
            results["endpoint"] = ("https" if scheme.lower() == cls.secure_protocol else "http") + "://" + rest
        return results

    def url(self, privacy: bool = False, *args, **kwargs) -> str:
        scheme = self.secure_protocol if self.endpoint.startswith("https:") else self.protocol
        full = scheme + self.endpoint[self.endpoint.index(":"):]
        return redact_url(full) if privacy else full

    def payload(self, body: str, title: str) -> dict | str:
        raise NotImplementedError

    def send(self, body: str, title: str = "", notify_type=None, **kwargs) -> bool:
        payload = self.payload(body, title)
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        response = requests.post(
            self.endpoint, data=data.encode("utf-8"), timeout=self.request_timeout, allow_redirects=False,
            verify=self.verify_certificate,
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "zonefacts-alerts"})
        code = response.status_code
        if 300 <= code < 400:
            raise ChannelError(f"HTTP {code} (redirects are not followed)", permanent=True)
        if not 200 <= code < 300:
            raise ChannelError(f"HTTP {code}", permanent=400 <= code < 500 and code not in (408, 429))
        if self.bot:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if isinstance(answer, dict) and answer.get("errcode", 0) != 0:
                raise ChannelError(f"errcode {answer.get('errcode')}: {str(answer.get('errmsg', ''))[:200]}")
        return True


class _ZonefactsWebhook(_HostedWebhook):
    service_name = "zonefacts JSON webhook"
    protocol, secure_protocol = "zfhook", "zfhooks"
    bot = False                      # any 2xx is success for a generic receiver

    def payload(self, body: str, title: str) -> str:
        return body                  # already the JSON payload (flows.alerts.build_payload)


class _WeComWebhook(_HostedWebhook):
    service_name = "WeCom group bot (any host)"
    protocol, secure_protocol = "wecomhook", "wecomhooks"
    notify_format, overflow_mode = NotifyFormat.MARKDOWN, OverflowMode.TRUNCATE
    body_maxlen = 1300               # WeCom takes 4096 bytes of markdown: 3 bytes a CJK character

    def payload(self, body: str, title: str) -> dict:
        return {"msgtype": "markdown", "markdown": {"content": f"**{title}**\n{body}" if title else body}}


class _DingTalkWebhook(_HostedWebhook):
    service_name = "DingTalk robot (any host)"
    protocol, secure_protocol = "dingtalkhook", "dingtalkhooks"
    notify_format, overflow_mode = NotifyFormat.MARKDOWN, OverflowMode.TRUNCATE
    body_maxlen = 6000               # DingTalk takes 20000 bytes

    def payload(self, body: str, title: str) -> dict:
        return {"msgtype": "markdown", "markdown": {"title": title or "zonefacts", "text": body}}


_PLUGINS = NotificationManager()          # apprise's registry of schemes (a singleton)
for _plugin in (_ZonefactsWebhook, _WeComWebhook, _DingTalkWebhook):
    if _plugin.protocol not in _PLUGINS:
        _PLUGINS.add(_plugin)
