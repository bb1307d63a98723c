"""Firing schedules that are due: each fire time at most once, whatever the number of schedulers.

A scheduler wins a fire time with a conditional UPDATE of the schedule's `next_fire_at` (from the due
time it read to the one after), and records the fire in the same transaction; the unique
(schedule, fire_at) of `ScheduleFire` turns any second attempt into an IntegrityError that undoes it.
On PostgreSQL the loser's UPDATE waits for the winner's row lock and then matches nothing; SQLite
runs the two transactions one after the other.

A fire time more than FLOWSITE_SCHEDULE_MISFIRE_GRACE seconds old is *missed* (no scheduler was
running): catch-up "skip" records the miss once and goes on from the present, "once" starts one
run for all of them.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta

from django.conf import settings
from django.db import Error, IntegrityError, transaction
from django.db.models import Min
from django.utils import timezone

from runs.triggering import TriggerError, trigger_run

from . import cron
from .models import CatchUp, FireOutcome, Overlap, Schedule, ScheduleFire

logger = logging.getLogger(__name__)

# Bounded, so that a pass after a long outage ends soon and the next takes the rest.
BATCH = 200


def scheduler_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def fire_due() -> list[ScheduleFire]:
    """Fire every schedule that is due, then start the queued fires whose previous run has ended."""
    now = timezone.now()
    fired = []
    due = Schedule.objects.filter(paused=False, next_fire_at__lte=now).select_related("project", "stack")
    for schedule in due.order_by("next_fire_at")[:BATCH]:
        try:
            fire = fire_one(schedule)
        except Error:
            raise  # the database is away: the loop reconnects
        except Exception:
            # A fault of one schedule must not stop the others firing; it stays due and is tried again.
            logger.exception("schedule %s could not be fired", schedule.pk)
            continue
        if fire is not None:
            fired.append(fire)
    return fired + start_waiting()


def fire_one(schedule: Schedule) -> ScheduleFire | None:
    """Fire the due time `schedule` was read with; None if another scheduler fired it, or it was edited since."""
    due = schedule.next_fire_at
    if due is None:
        return None
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.FLOWSITE_SCHEDULE_MISFIRE_GRACE)
    missed = due < cutoff
    if missed:
        # One fire stands for every missed time: the latest of them, so that its time says when it was due.
        fire_at = max(due, cron.previous_before(schedule.cron, schedule.timezone, cutoff))
        span = f"{_iso(due, schedule)} to {_iso(fire_at, schedule)}" if fire_at != due else _iso(due, schedule)
        note = f"fire times from {span} passed while no scheduler was running"
    else:
        fire_at, note = due, ""
    following = cron.next_after(schedule.cron, schedule.timezone, fire_at)
    with transaction.atomic():
        won = Schedule.objects.filter(pk=schedule.pk, paused=False, next_fire_at=due).update(next_fire_at=following)
        if not won:
            return None
        try:
            with transaction.atomic():
                fire = ScheduleFire.objects.create(
                    schedule=schedule, fire_at=fire_at, fired_at=timezone.now(), fired_by=scheduler_name(),
                    outcome=FireOutcome.WAITING, note=note,
                )  # fmt: skip
        except IntegrityError:
            # This time was fired already (an edit set the same due time again): the first fire stands,
            # and the schedule moves on to the following time rather than trying this one forever.
            return None
        if missed and schedule.catch_up == CatchUp.SKIP:
            _record(fire, FireOutcome.MISSED, f"{note}; catch-up is skip, so none ran")
        else:
            if missed:
                fire.note = f"{note}; catch-up is once: this run stands for them all"
            _start_or_hold(schedule, fire)
    schedule.next_fire_at = following
    return fire


def _start_or_hold(schedule: Schedule, fire: ScheduleFire) -> None:
    """Start the fire's run, unless the overlap policy makes it skip or wait."""
    active = schedule.active_run()
    earlier_waiting = ScheduleFire.objects.filter(
        schedule=schedule, outcome=FireOutcome.WAITING, fire_at__lt=fire.fire_at
    ).exists()
    if active is None and not earlier_waiting:
        _start(schedule, fire)
    elif schedule.overlap == Overlap.SKIP:
        busy = f"run {active.pk} is still {active.status}" if active else "an earlier fire is waiting"
        _record(fire, FireOutcome.SKIPPED, _join(fire.note, f"{busy}; overlap is skip"))
    else:
        busy = f"run {active.pk} ({active.status})" if active else "an earlier fire"
        _record(fire, FireOutcome.WAITING, _join(fire.note, f"waits for {busy} to end; overlap is queue"))


def start_waiting() -> list[ScheduleFire]:
    """Start the oldest waiting fire of each schedule whose previous run has ended."""
    started = []
    schedule_ids = set(ScheduleFire.objects.filter(outcome=FireOutcome.WAITING).values_list("schedule", flat=True))
    for schedule_id in sorted(schedule_ids):
        with transaction.atomic():
            # Locked while its runs are checked and one is started, as firing it locks it by its update:
            # two schedulers never both find it idle and start two fires at once.
            locked = Schedule.objects.select_for_update(of=("self",)).select_related("project", "stack")
            schedule = locked.filter(pk=schedule_id).first()
            if schedule is None or schedule.active_run() is not None:
                continue
            fire = schedule.fires.filter(outcome=FireOutcome.WAITING).order_by("fire_at").first()
            if fire is None:
                continue
            _start(schedule, fire)
        started.append(fire)
    return started


def _start(schedule: Schedule, fire: ScheduleFire) -> None:
    """Trigger the run in the caller's transaction: it is enqueued only once the fire is committed with it."""
    try:
        run = trigger_run(
            project=schedule.project, pipeline=schedule.pipeline, stack=schedule.stack, params=schedule.params
        )
    except TriggerError as exc:
        logger.warning("schedule %s: the run for %s was refused: %s", schedule.pk, fire.fire_at, exc)
        _record(fire, FireOutcome.REFUSED, _join(fire.note, f"the run was refused: {exc}"))
        return
    fire.run = run
    fire.outcome = FireOutcome.STARTED
    fire.save(update_fields=["run", "outcome", "note"])


def _record(fire: ScheduleFire, outcome: str, note: str) -> None:
    fire.outcome = outcome
    fire.note = note
    fire.save(update_fields=["outcome", "note"])


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def _iso(at: datetime, schedule: Schedule) -> str:
    return at.astimezone(cron.zone(schedule.timezone)).isoformat()


def seconds_until_due() -> float | None:
    """Seconds until the earliest due time of any schedule (0 if one is due); None if none is planned."""
    earliest = Schedule.objects.filter(paused=False).aggregate(at=Min("next_fire_at"))["at"]
    if earliest is None:
        return None
    return max(0.0, (earliest - timezone.now()).total_seconds())
