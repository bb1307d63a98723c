"""A scheduler whose database connection is cut (a failover, a restarted pooler) reconnects and goes on firing."""

from __future__ import annotations

import pytest
from django.utils import timezone

from schedules.models import FireOutcome, Schedule, ScheduleFire
from tests.runs.helpers import wait_for
from tests.schedules.processes import Scheduler

from .test_recording import _processes_connections, cut_connections, postgres_only

pytestmark = pytest.mark.e2e


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_scheduler_reconnects_after_its_connection_is_cut_and_fires(ready, stack):
    scheduler = Scheduler()
    try:
        pid = scheduler.process.pid
        wait_for(lambda: _processes_connections(pid), timeout=20, what="the scheduler's connection")
        assert cut_connections(pid) >= 1
        schedule = Schedule(project=ready, pipeline="greeting", stack=stack, cron="* * * * *")
        schedule.plan()
        schedule.save()
        Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=timezone.now())
        fire = wait_for(lambda: ScheduleFire.objects.filter(schedule=schedule).first(), timeout=30, what="the fire")
        assert fire.outcome == FireOutcome.STARTED and fire.run is not None
    finally:
        scheduler.stop()
    log = scheduler.log_path.read_text()
    assert "the scheduler's database work failed; reconnecting" in log
    assert "Traceback" in log  # the operator's log says what failed
