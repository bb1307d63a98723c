"""Firing schedules on the real database: one run per fire time, the overlap and catch-up policies, refusals.

Downtime is simulated as the brief of issue 11 says: by a due time in the past. The process test
(test_scheduler_processes.py) fires through real schedulers and workers.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest
from django.utils import timezone

from runs.models import Run, RunStatus
from schedules import cron
from schedules.firing import fire_due, fire_one, start_waiting
from schedules.models import FireOutcome, Schedule, ScheduleFire

from .conftest import make_due

pytestmark = pytest.mark.django_db


def outcomes(schedule: Schedule) -> list[tuple[str, int | None]]:
    return list(schedule.fires.order_by("fire_at").values_list("outcome", "run"))


def test_a_due_schedule_starts_one_run_and_plans_its_next_fire_time(make_schedule):
    schedule = make_due(make_schedule(params={"name": "cron"}))
    due = schedule.next_fire_at
    [fire] = fire_due()
    run = Run.objects.get()
    assert (fire.fire_at, fire.outcome, fire.run, run.params["name"], run.status) == (
        due, FireOutcome.STARTED, run, "cron", RunStatus.QUEUED
    )  # fmt: skip
    assert run.schedule_fire.schedule == schedule
    schedule.refresh_from_db()
    assert schedule.next_fire_at == cron.next_after("* * * * *", "UTC", due) > timezone.now()
    assert fire_due() == []  # nothing due any more


def test_a_scheduler_that_read_the_same_due_time_loses_and_does_nothing(make_schedule):
    schedule = make_due(make_schedule())
    stale = Schedule.objects.get(pk=schedule.pk)  # a second scheduler's read of the same due time
    assert fire_one(schedule) is not None
    assert fire_one(stale) is None
    assert (Run.objects.count(), ScheduleFire.objects.count()) == (1, 1)


def test_a_fire_time_fired_already_is_never_fired_again(make_schedule):
    schedule = make_due(make_schedule())
    due = schedule.next_fire_at
    fire_one(schedule)
    # An edit that sets the same due time again: the unique fire row refuses it, and no run starts.
    make_due(schedule, due)
    assert fire_one(schedule) is None
    assert (Run.objects.count(), ScheduleFire.objects.count()) == (1, 1)
    schedule.refresh_from_db()
    assert schedule.next_fire_at == cron.next_after("* * * * *", "UTC", due)  # moved on, not stuck on it


def test_a_paused_schedule_does_not_fire(make_schedule):
    schedule = make_due(make_schedule())
    schedule.pause()
    make_due(schedule)  # even with a due time left behind
    Schedule.objects.filter(pk=schedule.pk).update(paused=True)
    assert fire_due() == []
    assert not Run.objects.exists()


def test_overlap_skip_skips_while_the_previous_run_is_active(make_schedule):
    schedule = make_due(make_schedule(overlap="skip"))
    fire_due()
    first = Run.objects.get()
    make_due(schedule)
    [skipped] = fire_due()
    assert skipped.outcome == FireOutcome.SKIPPED and skipped.run is None
    assert f"run {first.pk} is still queued; overlap is skip" in skipped.note
    Run.objects.filter(pk=first.pk).update(status=RunStatus.COMPLETED, finished_at=timezone.now())
    make_due(schedule)
    [started] = fire_due()
    assert started.outcome == FireOutcome.STARTED and started.run != first
    assert [o for o, _ in outcomes(schedule)] == ["started", "skipped", "started"]


def test_overlap_queue_starts_each_waiting_fire_once_the_previous_run_has_ended(make_schedule):
    schedule = make_due(make_schedule(overlap="queue"))
    fire_due()
    first = Run.objects.get()
    make_due(schedule)
    [waiting] = fire_due()
    make_due(schedule)
    [also_waiting] = fire_due()
    assert (waiting.outcome, also_waiting.outcome) == (FireOutcome.WAITING, FireOutcome.WAITING)
    assert f"waits for run {first.pk} (queued) to end" in waiting.note
    assert f"waits for run {first.pk} (queued) to end" in also_waiting.note
    assert start_waiting() == []  # the first run is still active
    Run.objects.filter(pk=first.pk).update(status=RunStatus.FAILED, finished_at=timezone.now())
    [started] = start_waiting()
    assert started.pk == waiting.pk and Run.objects.count() == 2
    assert start_waiting() == []  # the second waits for the run just started
    Run.objects.filter(pk=started.run_id).update(status=RunStatus.COMPLETED, finished_at=timezone.now())
    assert [f.pk for f in start_waiting()] == [also_waiting.pk]
    assert [o for o, _ in outcomes(schedule)] == ["started"] * 3
    assert len({run for _, run in outcomes(schedule)}) == 3


def daily_two_hours_ago(make_schedule, **fields) -> tuple[Schedule, timedelta]:
    """A daily schedule whose fire time was two hours ago, last fired three days ago: three days missed."""
    at = timezone.now().astimezone(cron.zone("UTC")) - timedelta(hours=2)
    schedule = make_schedule(cron=f"{at.minute} {at.hour} * * *", **fields)
    last_due = at.replace(second=0, microsecond=0)
    make_due(schedule, last_due - timedelta(days=2))
    return schedule, last_due


def test_catch_up_skip_records_the_missed_times_once_and_runs_none(make_schedule):
    schedule, last_due = daily_two_hours_ago(make_schedule, catch_up="skip")
    [fire] = fire_due()
    assert (fire.outcome, fire.fire_at, fire.run) == (FireOutcome.MISSED, last_due, None)
    assert "passed while no scheduler was running; catch-up is skip, so none ran" in fire.note
    assert not Run.objects.exists()
    schedule.refresh_from_db()
    assert schedule.next_fire_at == last_due + timedelta(days=1)
    assert fire_due() == []


def test_catch_up_once_runs_once_for_all_the_missed_times(make_schedule):
    schedule, last_due = daily_two_hours_ago(make_schedule, catch_up="once")
    [fire] = fire_due()
    run = Run.objects.get()
    assert (fire.outcome, fire.fire_at, fire.run) == (FireOutcome.STARTED, last_due, run)
    assert "catch-up is once: this run stands for them all" in fire.note
    schedule.refresh_from_db()
    assert schedule.next_fire_at == last_due + timedelta(days=1)
    assert fire_due() == []
    assert Run.objects.count() == 1


def test_a_late_fire_within_the_grace_runs_as_usual(make_schedule, settings):
    settings.FLOWSITE_SCHEDULE_MISFIRE_GRACE = 60
    make_due(make_schedule(catch_up="skip"), timezone.now() - timedelta(seconds=30))
    [fire] = fire_due()
    assert fire.outcome == FireOutcome.STARTED and fire.note == ""


def test_a_refused_run_is_recorded_with_the_reason(make_schedule, stack):
    schedule = make_due(make_schedule())
    stack.open_to_all_projects = False
    stack.save()
    [fire] = fire_due()
    assert fire.outcome == FireOutcome.REFUSED and fire.run is None
    assert "the run was refused" in fire.note and "is not granted to project 'ml'" in fire.note
    assert not Run.objects.exists()
    schedule.refresh_from_db()
    assert schedule.next_fire_at > timezone.now()  # it goes on firing, and says why each time


def test_a_schedule_in_a_time_zone_fires_at_local_time(make_schedule):
    schedule = make_schedule(cron="0 9 * * *", timezone="America/New_York")
    times = schedule.next_fire_times()
    assert [(t.hour, t.minute, t.tzinfo.key) for t in times] == [(9, 0, "America/New_York")] * 5
    assert schedule.next_fire_at == times[0]


def test_seconds_are_a_sixth_field(make_schedule):
    times = make_schedule(cron="* * * * * */15").next_fire_times()
    assert {t.second for t in times} <= {0, 15, 30, 45}
    assert [(b - a).total_seconds() for a, b in pairwise(times)] == [15.0] * 4
