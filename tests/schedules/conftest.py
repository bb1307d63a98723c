"""Schedules on the test database: made directly, due when a test says, fired by the real firing code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Project
from schedules.models import Schedule
from stacks.models import Stack


@pytest.fixture
def make_schedule(ready: Project, stack: Stack, owner: Any) -> Callable[..., Schedule]:
    """`make_schedule(cron=..., **fields)`: a schedule of the greeting pipeline, planned from now."""

    def make(cron: str = "* * * * *", **fields: Any) -> Schedule:
        fields.setdefault("pipeline", "greeting")
        schedule = Schedule(project=ready, stack=stack, cron=cron, created_by=owner, **fields)
        schedule.plan()
        schedule.save()
        return schedule

    return make


def make_due(schedule: Schedule, at: Any = None) -> Schedule:
    """Make the schedule due at `at` (now by default), as a scheduler would find it."""
    schedule.next_fire_at = at or timezone.now()
    Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=schedule.next_fire_at)
    return schedule
