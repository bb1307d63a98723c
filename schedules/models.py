"""Schedules: a pipeline run on a cron expression in a time zone, and one row per fire time.

`Schedule.next_fire_at` is the due time a scheduler fires next; a scheduler wins a fire time by a
conditional UPDATE of it (compare and set), and records it as a `ScheduleFire` whose (schedule,
fire_at) is unique, in the same transaction that creates the run. So a fire time starts at most one
run, whatever the number of schedulers and workers (`schedules.firing`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.timezone import now

from accounts.models import Project
from runs.models import Run

from . import cron

NEXT_TIMES_SHOWN = 5


class Overlap(models.TextChoices):
    SKIP = "skip", "skip the fire while the previous run is active"
    QUEUE = "queue", "queue: start once the previous run has ended"


class CatchUp(models.TextChoices):
    SKIP = "skip", "skip fire times missed during downtime"
    ONCE = "once", "run once for all fire times missed"


class ScheduleQuerySet(models.QuerySet["Schedule"]):
    def visible_to(self, user: Any) -> ScheduleQuerySet:
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(project__memberships__user=user)


class Schedule(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="schedules")
    # By name: each fire runs the pipeline's latest recorded code version, as a trigger does.
    pipeline = models.CharField(max_length=200)
    stack = models.ForeignKey("stacks.Stack", on_delete=models.PROTECT, related_name="schedules")
    # As given, not resolved: defaults are applied at each fire, from the code version it runs.
    params = models.JSONField(default=dict, blank=True)
    cron = models.CharField(max_length=cron.MAX_CRON_CHARS)
    timezone = models.CharField(max_length=64, default="UTC")
    paused = models.BooleanField(default=False)
    overlap = models.CharField(max_length=8, choices=Overlap.choices, default=Overlap.SKIP)
    catch_up = models.CharField(max_length=8, choices=CatchUp.choices, default=CatchUp.SKIP)
    # The fire time due next; None while paused.
    next_fire_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # `now`, not `timezone.now`: the field above shadows the module in this class body.
    created_at = models.DateTimeField(default=now, editable=False)

    objects = ScheduleQuerySet.as_manager()

    class Meta:
        ordering = ["project", "pipeline", "id"]
        indexes = [models.Index(fields=["next_fire_at"], condition=Q(paused=False), name="schedule_due")]

    def __str__(self) -> str:
        return f"schedule {self.pk}: {self.pipeline} at {self.cron!r} ({self.timezone})"

    def next_fire_times(self, count: int = NEXT_TIMES_SHOWN) -> list[datetime]:
        """The next `count` fire times from now, in the schedule's zone; none while paused."""
        if self.paused:
            return []
        return cron.fire_times(self.cron, self.timezone, timezone.now(), count)

    def plan(self) -> None:
        """Set the next due time from now, for a new, edited or resumed schedule (missed times are not run)."""
        self.next_fire_at = None if self.paused else cron.next_after(self.cron, self.timezone, timezone.now())

    def pause(self) -> bool:
        """Stop firing; True if this call paused it. A run already started goes on."""
        changed = Schedule.objects.filter(pk=self.pk, paused=False).update(paused=True, next_fire_at=None)
        self.refresh_from_db(fields=["paused", "next_fire_at"])
        return bool(changed)

    def resume(self) -> bool:
        """Fire again from the next fire time after now; True if this call resumed it."""
        next_at = cron.next_after(self.cron, self.timezone, timezone.now())
        changed = Schedule.objects.filter(pk=self.pk, paused=True).update(paused=False, next_fire_at=next_at)
        self.refresh_from_db(fields=["paused", "next_fire_at"])
        return bool(changed)

    def active_run(self) -> Run | None:
        """The latest run this schedule started that has not ended."""
        from runs.models import FINAL_RUN_STATES

        runs = Run.objects.filter(schedule_fire__schedule=self).exclude(status__in=FINAL_RUN_STATES)
        return runs.order_by("-created_at", "-id").first()


class FireOutcome(models.TextChoices):
    STARTED = "started"
    # Overlap "queue": the previous run is still active; the run starts once it has ended.
    WAITING = "waiting"
    # Overlap "skip": the previous run was still active.
    SKIPPED = "skipped"
    # Catch-up "skip": fire times passed while no scheduler ran; recorded once for all of them.
    MISSED = "missed"
    # The trigger was refused (stack no longer granted, pipeline gone, parameters no longer valid).
    REFUSED = "refused"


class ScheduleFire(models.Model):
    """What became of one fire time. Unique per schedule and time: the second scheduler to try loses."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="fires")
    fire_at = models.DateTimeField()
    # When a scheduler acted on it: the lateness is fired_at - fire_at.
    fired_at = models.DateTimeField(default=timezone.now)
    fired_by = models.CharField(max_length=200, blank=True, help_text="The scheduler's host and pid.")
    outcome = models.CharField(max_length=8, choices=FireOutcome.choices)
    run = models.OneToOneField(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="schedule_fire")
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-fire_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["schedule", "fire_at"], name="one_fire_per_schedule_time")]
        indexes = [models.Index(fields=["outcome"], condition=Q(outcome="waiting"), name="schedule_fire_waiting")]

    def __str__(self) -> str:
        return f"{self.schedule_id} at {self.fire_at:%Y-%m-%d %H:%M:%S%z}: {self.outcome}"
