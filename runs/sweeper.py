"""Queued runs that no task will start are handed to the task broker again.

A queued run is left without a live task in two ways: the broker refused it when it was triggered
(the run has no task id), or the broker lost it (Redis keeps nothing across a restart, and a
cluster that is killed loses the tasks it had fetched). The task itself cannot be looked up, so the
sweeper goes by the run: queued for over FLOWSITE_REQUEUE_SECONDS since it was last offered to the
broker, and either never handed over or waiting while the broker's queue is empty. Handing a run
over twice is harmless: a worker claims a run only once (`runs.execution`).
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Lease, Run, RunEvent, RunStatus
from .triggering import BROKER_ERRORS, enqueue

logger = logging.getLogger(__name__)

LEASE = "queued-run-sweeper"
LEASE_SECONDS = 300.0
# Bounded so that a sweep ends well within its lease after a long outage; the next one takes the rest.
BATCH = 1000


def sweep() -> list[int]:
    """Hand queued runs that have no live task to the broker again; returns their ids."""
    cutoff = timezone.now() - timedelta(seconds=settings.FLOWSITE_REQUEUE_SECONDS)
    # The trigger, a refusal and every hand-over write a queued -> queued event: the latest one is
    # when the run was last offered to the broker.
    last_offered = (
        RunEvent.objects.filter(run=OuterRef("pk"), step=None, new_status=RunStatus.QUEUED).order_by("-at").values("at")
    )
    waiting = (
        Run.objects.filter(status=RunStatus.QUEUED)
        .annotate(offered_at=Coalesce(Subquery(last_offered[:1]), "created_at"))
        .filter(offered_at__lt=cutoff)
    )
    if not waiting.exists():
        return []
    holder = f"{socket.gethostname()}:{os.getpid()}"
    if not Lease.acquire(LEASE, holder, LEASE_SECONDS):
        return []  # another sweeper is at it
    try:
        return _hand_over(waiting)
    finally:
        Lease.release(LEASE, holder)


def _hand_over(waiting: QuerySet[Run]) -> list[int]:
    from django_q.brokers import get_broker

    try:
        broker = get_broker()
        queue_empty = broker.queue_size() == 0
    except BROKER_ERRORS as exc:
        logger.warning("queued runs wait: the task broker is unavailable (%s: %s)", type(exc).__name__, exc)
        return []
    # While the queue holds tasks, a run's task may be among them; an empty queue proves it is not.
    stranded = waiting if queue_empty else waiting.filter(task_id="")
    handed = []
    for run in stranded.order_by("created_at", "pk")[:BATCH]:
        why = "the broker's queue is empty but the run has not started" if run.task_id else "it was never handed over"
        if not enqueue(run, broker):
            break  # the broker went away mid-sweep; enqueue told the run's history
        RunEvent.objects.create(
            run_id=run.pk,
            old_status=RunStatus.QUEUED,
            new_status=RunStatus.QUEUED,
            reason=f"handed to the task broker again: {why}",
        )
        handed.append(run.pk)
    if handed:
        logger.info("handed %d queued run(s) to the task broker again: %s", len(handed), handed)
    return handed
