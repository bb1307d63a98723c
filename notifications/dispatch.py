"""When deliveries are created, and the loop that sends them.

Creating is part of the event: `record_run_end` runs inside the run's final transition (the one
explicit call in runs.models.Run.transition), so a run that ended has its deliveries, and a
transition that lost has none. Sending is not: after the transition commits, a django-q2 task
runs `delivery_loop`, which sends due deliveries side by side with short timeouts and sleeps
until the next retry is due. A receiver that is slow or down never holds up a run.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import Min
from django.utils import timezone

from runs.models import ACTIVE_RUN_STATES, Lease, Run

from .channels import Outcome, send
from .models import Delivery, DeliveryStatus, Event, NotificationRule

logger = logging.getLogger(__name__)

LOOP_LEASE = "notification-delivery-loop"
# The loop waits for a retry due within this long; a later one is left to the next loop (the
# minute schedule, or the next run that ends), so the loop holds a worker only while work is near.
LOOP_HORIZON_SECONDS = 30.0
LOOP_MAX_SECONDS = 300.0
BATCH = 200
SUMMARY = (
    "id",
    "uid",
    "project_id",
    "pipeline_id",
    "status",
    "failure_reason",
    "failure_message",
    "created_at",
    "started_at",
    "finished_at",
)


def record_run_end(run_id: int, project_id: int, status: str) -> None:
    """Create the deliveries for a run that just reached a final state; call inside its transition's transaction."""
    rules = [
        rule for rule in NotificationRule.objects.filter(project_id=project_id, enabled=True) if status in rule.events
    ]
    if not rules:
        return
    # As the transition left it (this transaction sees its own update).
    run = (
        Run.objects.select_related("project", "pipeline")
        .only(*SUMMARY, "project__slug", "pipeline__name")
        .get(pk=run_id)
    )
    Delivery.objects.bulk_create([_delivery(rule, run, status) for rule in rules], ignore_conflicts=True)
    transaction.on_commit(start_delivery_loop, robust=True)


def check_running_long() -> int:
    """Create a running_long delivery for each active run past a rule's minutes; once per (rule, run)."""
    now = timezone.now()
    created = 0
    for rule in NotificationRule.objects.filter(enabled=True, running_minutes__isnull=False).select_related("project"):
        if Event.RUNNING_LONG not in rule.events:
            continue
        cutoff = now - timedelta(minutes=rule.running_minutes)
        told = Delivery.objects.filter(rule=rule, event=Event.RUNNING_LONG).values("run_id")
        runs = (
            Run.objects.filter(project_id=rule.project_id, status__in=ACTIVE_RUN_STATES, started_at__lt=cutoff)
            .exclude(pk__in=told)
            .select_related("project", "pipeline")
        )
        fresh = [_delivery(rule, run, Event.RUNNING_LONG) for run in runs]
        # Two checkers at once create each delivery once: the unique constraint decides.
        created += len(Delivery.objects.bulk_create(fresh, ignore_conflicts=True)) if fresh else 0
    return created


def _delivery(rule: NotificationRule, run: Run, event: str) -> Delivery:
    now = timezone.now()
    return Delivery(
        rule=rule, project_id=rule.project_id, run=run, event=event, payload=payload(rule, run, event),
        created_at=now, queued_at=now, next_attempt_at=now,
    )  # fmt: skip


def payload(rule: NotificationRule, run: Run, event: str) -> dict[str, Any]:
    """The message's JSON, in the Standard Webhooks shape: a type, a timestamp and the data."""
    running = None
    if event == Event.RUNNING_LONG and run.started_at:
        running = round((timezone.now() - run.started_at).total_seconds() / 60, 1)
    return {
        "type": f"run.{event}",
        "timestamp": timezone.now().isoformat(),
        "data": {
            "rule": rule.name,
            "event": event,
            "project": run.project.slug,
            "pipeline": run.pipeline.name,
            "run_id": run.pk,
            "run_uid": run.uid.hex,
            "status": run.status,
            "failure_reason": run.failure_reason,
            "failure_message": run.failure_message[:1000],
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "running_minutes": running,
            "url": f"{settings.FLOWSITE_PUBLIC_URL}/runs/{run.pk}/",
        },
    }


def start_delivery_loop() -> None:
    from django_q.tasks import async_task

    async_task("notifications.tasks.deliver_notifications", task_name="deliver-notifications")


def resume_delivery_loop(run_id: int) -> None:
    """Start the delivery loop if the run has deliveries waiting. The process that ended the run starts it after
    its commit, but its supervisor may kill it in between, once it sees the run over; the loop's lease makes a
    second start harmless."""
    if Delivery.objects.filter(run_id=run_id, status=DeliveryStatus.PENDING).exists():
        start_delivery_loop()


def send_one(delivery: Delivery) -> bool:
    """One attempt at one delivery, if this sender wins the claim; True if it was sent and accepted."""
    if not delivery.claim():
        return False
    try:
        outcome = send(delivery)
    except Exception as exc:
        # One odd address must not stop every other delivery; the error is recorded as what it is.
        logger.exception("delivery %s could not be sent", delivery.pk)
        outcome = Outcome(ok=False, error=f"could not send: {type(exc).__name__}: {exc}"[:1000])
    delivery.record(outcome.ok, outcome.code, outcome.excerpt, outcome.error, outcome.permanent)
    if not outcome.ok:
        logger.info("delivery %s attempt %s: %s", delivery.pk, delivery.attempts, outcome.error or outcome.code)
    return outcome.ok


def _send_in_thread(delivery: Delivery) -> bool:
    try:
        return send_one(delivery)
    except DatabaseError:
        # The claim pushed the delivery's next attempt out (or never happened): it is sent again later,
        # not lost, and the other deliveries of this batch go on.
        logger.warning("delivery %s: the database refused; it will be tried again", delivery.pk, exc_info=True)
        return False
    finally:
        connection.close()  # this thread's own connection


def send_batch(threads: int | None = None) -> int:
    """Attempt up to BATCH deliveries due now, several at a time; returns how many were attempted."""
    threads = threads or settings.FLOWSITE_NOTIFY_THREADS
    due = list(Delivery.objects.due().select_related("rule", "run").order_by("next_attempt_at", "id")[:BATCH])
    if threads == 1 or len(due) == 1:
        for delivery in due:
            send_one(delivery)
    elif due:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(_send_in_thread, due))
    return len(due)


def send_due(threads: int | None = None) -> int:
    """Attempt every delivery due now; returns how many attempts were made."""
    attempted = 0
    while sent := send_batch(threads):
        attempted += sent
    return attempted


def next_due_in() -> float | None:
    """Seconds until the earliest pending delivery is due (0 if one is due now), or None if none is pending."""
    first = Delivery.objects.filter(status=DeliveryStatus.PENDING).aggregate(at=Min("next_attempt_at"))["at"]
    if first is None:
        return None
    return max(0.0, (first - timezone.now()).total_seconds())


def delivery_loop(max_seconds: float = LOOP_MAX_SECONDS) -> int:
    """Send what is due, then wait for retries due soon; one loop at a time (a lease). Returns attempts made."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{time.monotonic_ns()}"
    deadline = time.monotonic() + max_seconds
    attempted = 0
    # Long enough for a batch whose every receiver makes the sender wait its whole timeout (twice:
    # connecting, then reading); renewed before each batch.
    rounds = math.ceil(BATCH / settings.FLOWSITE_NOTIFY_THREADS)
    lease_seconds = rounds * settings.FLOWSITE_NOTIFY_TIMEOUT * 2 + LOOP_HORIZON_SECONDS + 30
    while time.monotonic() < deadline:
        if not Lease.acquire(LOOP_LEASE, holder, seconds=lease_seconds):
            return attempted
        sent = send_batch()
        attempted += sent
        close_old_connections()
        if sent:
            continue  # more may be due already
        wait = next_due_in()
        if wait is None or wait > LOOP_HORIZON_SECONDS:
            Lease.release(LOOP_LEASE, holder)
            # A delivery created while this loop was deciding to stop found the lease held and left its
            # sending to this loop: look once more now that the lease is free.
            again = next_due_in()
            if again is None or again > 0:
                return attempted
            continue
        time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
    Lease.release(LOOP_LEASE, holder)
    return attempted
