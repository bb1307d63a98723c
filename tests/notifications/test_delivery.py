"""Deliveries for runs that end, sent to a real local receiver: signed, retried until accepted, once per event."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from notifications.dispatch import check_running_long, delivery_loop, send_due
from notifications.models import Delivery, DeliveryStatus, NotificationRule
from runs.finishing import fail
from runs.models import FailureReason, Run, RunStatus
from tests.runs.helpers import execute

from .conftest import webhook_rule
from .receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def trigger(project: Any, pipeline: str = "greeting", **params: Any) -> Run:
    return Run.objects.trigger(project=project, pipeline=pipeline, params=params)


def test_a_failed_run_sends_one_signed_webhook_a_standard_verifier_accepts(ready, receiver):
    rule = webhook_rule(ready, receiver.url, events=["failed"])
    run = execute(trigger(ready, "exploding"))
    assert run.status == RunStatus.FAILED
    delivery = Delivery.objects.get()
    assert (delivery.rule, delivery.run, delivery.event, delivery.status) == (rule, run, "failed", "pending")

    send_due()

    assert receiver.count() == 1
    request = receiver.requests[0]
    body = Webhook(rule.signing_secret).verify(request.body, request.headers)
    assert body["type"] == "run.failed"
    assert body["data"]["run_id"] == run.pk and body["data"]["status"] == "failed"
    assert body["data"]["failure_reason"] == FailureReason.STEP_FAILED and body["data"]["pipeline"] == "exploding"
    assert request.headers["webhook-id"] == f"msg_{delivery.message_id.hex}"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (DeliveryStatus.DELIVERED, 1, 200)
    assert '"status": 200' in delivery.response_excerpt


def test_a_signature_made_with_another_secret_is_refused_by_the_verifier(ready, receiver):
    rule = webhook_rule(ready, receiver.url, events=["completed"])
    execute(trigger(ready))
    send_due()
    request = receiver.requests[0]
    other = NotificationRule(secrets={"signing_secret": "whsec_" + "A" * 43 + "="}).signing_secret
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(other).verify(request.body, request.headers)
    tampered = request.body.replace(b'"completed"', b'"failed"', 1)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(rule.signing_secret).verify(tampered, request.headers)


def test_events_a_rule_does_not_name_send_nothing_and_a_disabled_rule_is_silent(ready, receiver):
    webhook_rule(ready, receiver.url, events=["failed"], name="failures")
    webhook_rule(ready, receiver.url, events=["completed"], name="off", enabled=False)
    execute(trigger(ready))
    assert not Delivery.objects.exists()


def test_a_receiver_answering_500_is_retried_with_backoff_until_it_accepts(ready):
    receiver = Receiver(answer=lambda request, n: 500 if n <= 3 else 204)
    try:
        webhook_rule(ready, receiver.url, events=["completed"])
        execute(trigger(ready))
        attempts = delivery_loop(max_seconds=30)
    finally:
        receiver.close()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (DeliveryStatus.DELIVERED, 4, 204)
    assert attempts == 4 and receiver.count() == 4
    # Every attempt is the same message (a receiver can drop repeats by webhook-id), each signed afresh.
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1


def test_a_receiver_that_never_accepts_is_given_up_after_the_bounded_attempts(ready, settings):
    settings.FLOWSITE_NOTIFY_MAX_ATTEMPTS = 3
    receiver = Receiver(answer=lambda request, n: 503)
    try:
        webhook_rule(ready, receiver.url, events=["completed"])
        execute(trigger(ready))
        delivery_loop(max_seconds=30)
    finally:
        receiver.close()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (DeliveryStatus.FAILED, 3, 503)
    assert delivery.next_attempt_at is None and delivery.error == "answered 503"
    assert receiver.count() == 3


def test_an_unreachable_receiver_is_recorded_and_a_resend_delivers_once_it_is_back(ready, settings):
    settings.FLOWSITE_NOTIFY_MAX_ATTEMPTS = 1
    receiver = Receiver()
    url = receiver.url
    receiver.close()  # nothing listens there now
    webhook_rule(ready, url, events=["completed"])
    execute(trigger(ready))
    send_due()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED and "ConnectionError" in delivery.error

    assert delivery.resend()
    assert not delivery.resend()  # already waiting for its first attempt
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)


def test_a_run_ending_twice_over_creates_one_delivery(ready, receiver):
    webhook_rule(ready, receiver.url, events=["failed"])
    run = trigger(ready)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=timezone.now())
    assert fail(run, FailureReason.INTERNAL_ERROR, "first")
    assert not fail(run, FailureReason.INTERNAL_ERROR, "second")  # lost: the run had ended
    assert Delivery.objects.count() == 1


def test_slack_gets_a_text_and_a_block_linking_the_run(ready, receiver):
    rule = NotificationRule.objects.create(
        project=ready, name="slack", channel="slack", events=["cancelled"], secrets={"slack_url": receiver.url}
    )
    run = trigger(ready)
    run.cancel()
    send_due()
    body = receiver.requests[0].json()
    assert set(body) == {"text", "blocks"}
    assert body["text"] == f"Run {run.pk} of greeting in project ml was cancelled: Cancelled before it started"
    block = body["blocks"][0]
    assert block["type"] == "section" and block["text"]["type"] == "mrkdwn"
    assert f"/runs/{run.pk}/|Open run {run.pk}>" in block["text"]["text"]
    assert "webhook-signature" not in receiver.requests[0].headers
    assert Delivery.objects.get(rule=rule).status == DeliveryStatus.DELIVERED


def test_slack_text_from_a_failure_message_cannot_make_links(ready, receiver):
    NotificationRule.objects.create(
        project=ready, name="slack", channel="slack", events=["failed"], secrets={"slack_url": receiver.url}
    )
    run = trigger(ready)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    fail(run, FailureReason.INTERNAL_ERROR, "see <https://evil.example|here> & more")
    send_due()
    text = receiver.requests[0].json()["blocks"][0]["text"]["text"]
    assert "&lt;https://evil.example|here&gt; &amp; more" in text


def test_email_goes_to_the_recipients_through_djangos_mail_backend(ready):
    NotificationRule.objects.create(
        project=ready, name="mail", channel="email", events=["dead"], recipients=["ops@example.com", "ml@example.com"]
    )
    run = trigger(ready)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=timezone.now())
    assert run.transition((RunStatus.RUNNING,), RunStatus.DEAD, reason="no heartbeat", failure_message="no heartbeat")
    send_due()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ops@example.com", "ml@example.com"]
    assert message.subject == f"[Flowsite] run {run.pk} of greeting: dead"
    assert f"/runs/{run.pk}/" in message.body and "no heartbeat" in message.body
    assert Delivery.objects.get().status == DeliveryStatus.DELIVERED


def test_a_run_running_longer_than_the_rule_says_is_reported_once(ready, receiver):
    rule = webhook_rule(ready, receiver.url, events=["running_long"], running_minutes=30)
    slow, quick = trigger(ready), trigger(ready)
    Run.objects.filter(pk=slow.pk).update(status=RunStatus.RUNNING, started_at=timezone.now() - timedelta(minutes=31))
    Run.objects.filter(pk=quick.pk).update(status=RunStatus.RUNNING, started_at=timezone.now() - timedelta(minutes=29))

    assert check_running_long() == 1
    assert check_running_long() == 0
    send_due()
    body = Webhook(rule.signing_secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert body["type"] == "run.running_long" and body["data"]["run_id"] == slow.pk
    assert body["data"]["running_minutes"] >= 31
    assert receiver.count() == 1


def test_private_addresses_are_refused_at_send_time_unless_allowed(ready, receiver, settings):
    settings.FLOWSITE_NOTIFY_ALLOW_PRIVATE = False
    webhook_rule(ready, receiver.url, events=["completed"])
    execute(trigger(ready))
    send_due()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert "'127.0.0.1' resolves to 127.0.0.1, not a public address" in delivery.error
    assert receiver.count() == 0
