"""Sending one delivery through its rule's channel: a signed webhook, an email, a Slack message.

Webhooks follow the Standard Webhooks specification (https://www.standardwebhooks.com/): headers
`webhook-id` (the delivery's id, the same on every attempt), `webhook-timestamp` (Unix seconds of
this attempt) and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with
the base64-decoded part of the rule's `whsec_` secret.

Outbound requests have a short timeout and follow no redirect. Unless FLOWSITE_NOTIFY_ALLOW_PRIVATE
is on, a host that resolves to a loopback, private, link-local or reserved address is refused, so a
project owner cannot point a rule at the machine's neighbours or the cloud metadata service and read
the answer back in the delivery's response excerpt. (The name is resolved again by the HTTP client;
a DNS answer that changes in between is not caught: a network egress policy is the stronger guard.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from .models import SIGNING_SECRET_PREFIX, Channel, is_private_address

if TYPE_CHECKING:
    from .models import Delivery

EXCERPT_CHARS = 1000
USER_AGENT = "Flowsite-Notifications/1"


@dataclass
class Outcome:
    ok: bool
    code: int | None = None
    excerpt: str = ""
    error: str = ""
    # Trying again cannot help (an address that is not allowed): give up now.
    permanent: bool = False


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature header's value for this message."""
    key = base64.b64decode(secret[len(SIGNING_SECRET_PREFIX) :])
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def send(delivery: Delivery) -> Outcome:
    rule = delivery.rule
    if rule.channel == Channel.EMAIL:
        return _send_email(delivery)
    if rule.channel == Channel.SLACK:
        body = json.dumps(slack_message(delivery.payload)).encode()
        return _post(rule.slack_url, body, {})
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    message_id = f"msg_{delivery.message_id.hex}"
    timestamp = int(time.time())
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(rule.signing_secret, message_id, timestamp, body),
    }
    return _post(rule.url, body, headers)


def describe(payload: dict[str, Any]) -> str:
    """One line a person reads: which run, what happened, why."""
    data = payload["data"]
    what = {
        "completed": "completed",
        "failed": "failed",
        "cancelled": "was cancelled",
        "dead": "died (its worker stopped answering)",
        "running_long": f"has been running for {data.get('running_minutes')} minutes",
    }.get(data["event"], data["event"])
    line = f"Run {data['run_id']} of {data['pipeline']} in project {data['project']} {what}"
    return f"{line}: {data['failure_message']}" if data.get("failure_message") else line


def slack_message(payload: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook body: `text` (the notification's fallback) and one section block with a link."""
    data = payload["data"]
    text = describe(payload)
    return {
        "text": text,
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"{_slack_escape(text)}\n<{data['url']}|Open run {data['run_id']}>"},
            }
        ],
    }


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats these three as markup; user text (a failure message) must not make links.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _send_email(delivery: Delivery) -> Outcome:
    rule = delivery.rule
    data = delivery.payload["data"]
    subject = f"[Flowsite] run {data['run_id']} of {data['pipeline']}: {data['event'].replace('_', ' ')}"
    body = f"{describe(delivery.payload)}\n\n{data['url']}\n\nSent because of the notification rule {rule.name!r}.\n"
    # Every backend takes (and all but SMTP ignore) a timeout.
    connection = get_connection(timeout=settings.FLOWSITE_NOTIFY_TIMEOUT)
    message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, list(rule.recipients), connection=connection)
    try:
        sent = message.send()
    except (OSError, ValueError) as exc:  # smtplib's errors are OSErrors; a malformed header is a ValueError
        return Outcome(ok=False, error=f"email not sent: {type(exc).__name__}: {exc}"[:EXCERPT_CHARS])
    return Outcome(ok=bool(sent), excerpt=f"sent to {len(rule.recipients)} recipient(s)")


def _post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    if not settings.FLOWSITE_NOTIFY_ALLOW_PRIVATE and (refusal := _private_host(url)):
        return Outcome(ok=False, error=refusal, permanent=True)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    timeout = settings.FLOWSITE_NOTIFY_TIMEOUT
    try:
        with requests.post(
            url, data=body, headers=headers, timeout=(timeout, timeout), allow_redirects=False, stream=True
        ) as response:
            excerpt = _excerpt(response)
    except requests.RequestException as exc:
        return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"[:EXCERPT_CHARS])
    ok = 200 <= response.status_code < 300
    return Outcome(
        ok=ok, code=response.status_code, excerpt=excerpt, error="" if ok else f"answered {response.status_code}"
    )


def _excerpt(response: requests.Response) -> str:
    """The start of the answer, as text: enough to see why a receiver refused, never a whole page."""
    raw = response.raw.read(EXCERPT_CHARS * 4, decode_content=True) or b""
    return raw.decode("utf-8", errors="replace").replace("\x00", "")[:EXCERPT_CHARS]


def _private_host(url: str) -> str:
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return ""  # perhaps for a moment: the request itself fails (and is retried), or says why
    private = sorted(a for a in addresses if is_private_address(a))
    if private:
        return f"{host!r} resolves to {private[0]}, not a public address (FLOWSITE_NOTIFY_ALLOW_PRIVATE is off)"
    return ""
