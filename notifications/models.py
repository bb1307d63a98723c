"""Notification rules (what to say, to whom) and deliveries (each message, its attempts and answers).

A delivery row is created once per (rule, run, event), in the same transaction as the run's final
transition (runs.models.Run.transition calls notifications.dispatch.record_run_end) or by the
running-too-long check; sending happens later, outside the run's path, and may repeat until the
receiver accepts: exactly once to create, at least once to send.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Project
from runs.models import Run
from stacks.encryption import EncryptedSecretsField

MAX_URL_CHARS = 2000
MAX_RECIPIENTS = 20
MAX_RUNNING_MINUTES = 7 * 24 * 60
SIGNING_SECRET_PREFIX = "whsec_"


class Event(models.TextChoices):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD = "dead"
    RUNNING_LONG = "running_long", "running longer than N minutes"


class Channel(models.TextChoices):
    WEBHOOK = "webhook"
    EMAIL = "email"
    SLACK = "slack", "Slack incoming webhook"


class NotificationRule(models.Model):
    """On these events of a project's runs, tell this channel. Owners manage rules; the project reads them."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="notification_rules")
    name = models.CharField(max_length=200)
    events = models.JSONField(default=list, help_text="Any of: " + ", ".join(Event.values))
    running_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="With the running_long event: how many minutes of running count as too long."
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    # The webhook's address is configuration, shown back; a Slack URL is itself the credential, so it is a secret.
    url = models.CharField(max_length=MAX_URL_CHARS, blank=True, help_text="Webhook channel: where to POST.")
    recipients = models.JSONField(default=list, blank=True, help_text="Email channel: addresses.")
    # {"signing_secret": "whsec_...", "slack_url": "https://hooks.slack.com/..."}: write-only, encrypted at rest.
    secrets = EncryptedSecretsField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "name", "id"]
        indexes = [models.Index(fields=["project", "enabled"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.channel}) in {self.project}"

    @property
    def signing_secret(self) -> str:
        return self.secrets.get("signing_secret", "")

    @property
    def slack_url(self) -> str:
        return self.secrets.get("slack_url", "")

    def secret_names(self) -> list[str]:
        return sorted(name for name, value in self.secrets.items() if value)

    def problems(self) -> dict[str, str]:
        """What is wrong with this rule, by field (empty when it can be saved): the API and the admin both ask."""
        errors: dict[str, str] = {}
        events = self.events if isinstance(self.events, list) else None
        if not events:
            errors["events"] = f"choose one or more of: {', '.join(Event.values)}"
        elif unknown := [e for e in events if e not in Event.values]:
            errors["events"] = f"unknown event {unknown[0]!r}; known events: {', '.join(Event.values)}"
        elif len(set(events)) != len(events):
            errors["events"] = "an event is listed twice"
        wants_long = bool(events) and Event.RUNNING_LONG in events
        if wants_long and not self.running_minutes:
            errors["running_minutes"] = "the running_long event needs a number of minutes (1 or more)"
        elif self.running_minutes is not None and self.running_minutes > MAX_RUNNING_MINUTES:
            errors["running_minutes"] = f"at most {MAX_RUNNING_MINUTES} (a week)"
        elif self.running_minutes and not wants_long:
            errors["running_minutes"] = "only the running_long event uses minutes; add it or leave this empty"
        if self.channel == Channel.WEBHOOK:
            if problem := url_problem(self.url):
                errors["url"] = problem
            if problem := signing_secret_problem(self.signing_secret):
                errors["signing_secret"] = problem
        elif self.channel == Channel.SLACK:
            if problem := url_problem(self.slack_url):
                errors["slack_url"] = problem
        elif self.channel == Channel.EMAIL:
            recipients = self.recipients if isinstance(self.recipients, list) else None
            if not recipients:
                errors["recipients"] = "one or more email addresses"
            elif len(recipients) > MAX_RECIPIENTS:
                errors["recipients"] = f"at most {MAX_RECIPIENTS} addresses"
            else:
                for address in recipients:
                    try:
                        validate_email(address)
                    except (ValidationError, TypeError):
                        errors["recipients"] = f"{str(address)[:100]!r} is not an email address"
                        break
        else:
            errors["channel"] = f"choose one of: {', '.join(Channel.values)}"
        return errors

    def wants(self, event: str) -> bool:
        return self.enabled and event in self.events


def url_problem(url: str) -> str:
    """Why this outbound address is refused at input, or "" (a reachable-address check happens at send time)."""
    if not url:
        return "required"
    if len(url) > MAX_URL_CHARS:
        return f"at most {MAX_URL_CHARS} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if not parts.hostname:
        return "must name a host"
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "must not contain spaces or control characters"
    return ""


def signing_secret_problem(secret: str) -> str:
    """Standard Webhooks secrets: "whsec_" and the base64 of 24 to 64 random bytes."""
    if not secret:
        return (
            f"required: {SIGNING_SECRET_PREFIX} followed by the base64 of 24 to 64 random bytes, e.g. from "
            "python -c \"import base64, secrets; print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\""
        )
    if not secret.startswith(SIGNING_SECRET_PREFIX):
        return f"must start with {SIGNING_SECRET_PREFIX} (Standard Webhooks format)"
    try:
        key = base64.b64decode(secret[len(SIGNING_SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return f"after {SIGNING_SECRET_PREFIX} must come base64"
    if not 24 <= len(key) <= 64:
        return f"must encode 24 to 64 bytes, not {len(key)}"
    return ""


def is_private_address(address: str) -> bool:
    """Loopback, private, link-local (the cloud metadata service), reserved: not somewhere on the internet."""
    return not ipaddress.ip_address(address.split("%")[0]).is_global


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed", "failed (gave up)"


class DeliveryQuerySet(models.QuerySet["Delivery"]):
    def visible_to(self, user: Any) -> DeliveryQuerySet:
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(project__memberships__user=user)

    def due(self, now: Any = None) -> DeliveryQuerySet:
        return self.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now or timezone.now())


class Delivery(models.Model):
    """One message for one (rule, run, event), with its sending history in place."""

    rule = models.ForeignKey(NotificationRule, on_delete=models.CASCADE, related_name="deliveries")
    # The rule's project, kept here so a project's deliveries list without a join.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="notification_deliveries")
    event = models.CharField(max_length=16, choices=Event.choices)
    # What is sent, fixed when the event happened, so a resend says the same thing.
    payload = models.JSONField()
    # The Standard Webhooks webhook-id: the same on every attempt, so a receiver can drop duplicates.
    message_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the current series of attempts began (creation, or the last resend): bounds how long it retries.
    queued_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["rule", "run", "event"], name="one_delivery_per_rule_run_event")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["project", "-created_at", "-id"], name="delivery_project_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.event} of run {self.run_id} via {self.rule_id} ({self.status})"

    def resend(self) -> bool:
        """Send again from the first attempt (whatever happened before); False if it is already waiting to be sent."""
        now = timezone.now()
        changed = Delivery.objects.filter(pk=self.pk).exclude(
            status=DeliveryStatus.PENDING, attempts=0
        ).update(
            status=DeliveryStatus.PENDING, attempts=0, queued_at=now, next_attempt_at=now, delivered_at=None,
        )  # fmt: skip
        if changed:
            self.refresh_from_db()
        return bool(changed)

    def claim(self) -> bool:
        """Take this due delivery for one attempt; False if another sender took it or it is not due.

        The claim pushes the next attempt past the send's timeout: a sender that dies mid-send leaves
        the delivery due again, so a message is never lost, only possibly sent twice.
        """
        now = timezone.now()
        hold = timedelta(seconds=settings.FLOWSITE_NOTIFY_TIMEOUT * 2 + 30)
        won = (
            Delivery.objects.due(now)
            .filter(pk=self.pk, attempts=self.attempts)
            .update(attempts=F("attempts") + 1, last_attempt_at=now, next_attempt_at=now + hold)
        )
        if won:
            self.attempts += 1
            self.last_attempt_at = now
        return bool(won)

    def record(self, ok: bool, code: int | None, excerpt: str, error: str, permanent: bool = False) -> bool:
        """The answer to the attempt this sender claimed; False if the delivery moved on meanwhile (a resend)."""
        now = timezone.now()
        fields: dict[str, Any] = {"response_code": code, "response_excerpt": excerpt, "error": error}
        if ok:
            fields.update(status=DeliveryStatus.DELIVERED, delivered_at=now, next_attempt_at=None)
        elif (
            permanent
            or self.attempts >= settings.FLOWSITE_NOTIFY_MAX_ATTEMPTS
            or (now - self.queued_at).total_seconds() >= settings.FLOWSITE_NOTIFY_MAX_AGE
        ):
            fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
        else:
            fields.update(next_attempt_at=now + timedelta(seconds=backoff(self.attempts)))
        claimed = Q(
            pk=self.pk, status=DeliveryStatus.PENDING, attempts=self.attempts, last_attempt_at=self.last_attempt_at
        )
        return bool(Delivery.objects.filter(claimed).update(**fields))


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: doubling from the base, capped."""
    return min(settings.FLOWSITE_NOTIFY_RETRY_BASE * 2 ** (attempts - 1), settings.FLOWSITE_NOTIFY_RETRY_CAP)
