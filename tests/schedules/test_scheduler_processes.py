"""Two real schedulers and a real worker cluster firing a schedule every second: one run per fire time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runs.models import FINAL_RUN_STATES, Run, RunEvent, RunStatus, StepRun
from schedules.models import FireOutcome, Schedule, ScheduleFire
from tests.conftest import ledger_entries
from tests.runs.helpers import wait_for

from .processes import Scheduler

FIRES = 6


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_and_the_workers_start_one_run_per_fire_time(cluster, make_schedule, ledger):
    schedulers = [Scheduler(), Scheduler()]
    try:
        schedule = make_schedule(cron="* * * * * *", params={"name": "tick", "ledger": ledger}, overlap="queue")
        wait_for(lambda: ScheduleFire.objects.filter(schedule=schedule).count() >= FIRES, timeout=60, what="fires")
        schedule.pause()
    finally:
        for scheduler in schedulers:
            scheduler.stop()
    fires = list(ScheduleFire.objects.filter(schedule=schedule).order_by("fire_at"))
    times = [fire.fire_at for fire in fires]
    # Every second from the first fire time to the last had its fire, once.
    assert times == [times[0] + timedelta(seconds=i) for i in range(len(times))]
    # Queued fires start as the runs before them end; paused, the schedule starts those still waiting
    # only once a scheduler runs again, so they are left as they are.
    started = [fire for fire in fires if fire.outcome == FireOutcome.STARTED]
    assert {fire.outcome for fire in fires} <= {FireOutcome.STARTED, FireOutcome.WAITING}
    assert len(started) >= 1
    runs = Run.objects.filter(schedule_fire__schedule=schedule)
    assert sorted(runs.values_list("pk", flat=True)) == sorted(fire.run_id for fire in started)
    wait_for(lambda: set(runs.values_list("status", flat=True)) <= FINAL_RUN_STATES, timeout=60, what="runs to end")
    assert set(runs.values_list("status", flat=True)) == {RunStatus.COMPLETED}
    # Each run was claimed once, and its step ran or came from the cache (the parameters never change,
    # so the first run's output serves the others): the step itself executed once in all.
    claims = RunEvent.objects.filter(run__in=runs, step=None, new_status=RunStatus.RUNNING)
    assert sorted(claims.values_list("run", flat=True)) == sorted(runs.values_list("pk", flat=True))
    assert set(StepRun.objects.filter(run__in=runs).values_list("status", flat=True)) <= {"completed", "cached"}
    assert ledger_entries(ledger) == ["hello tick"]
    assert Schedule.objects.get(pk=schedule.pk).paused
