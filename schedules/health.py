"""Is a scheduler firing? Its loop beats after each pass that reached the database; /readyz and /metrics read it.

A stale beat with schedules running means their fire times pass with nobody to start them. A deployment
with no schedule running needs no scheduler, so readiness does not fail for the lack of one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from runs.health import beat
from runs.models import Lease

from .models import Schedule

SCHEDULER_BEAT = "scheduler-heartbeat"
# The loop beats at most this often (not every one-second pass: one row write per scheduler and 10 s) ...
BEAT_EVERY_SECONDS = 10.0
# ... and is taken for gone once its beat is this old: a slow pass or a short database outage is not death.
BEAT_SECONDS = 60.0


def note_scheduler_alive() -> None:
    beat(SCHEDULER_BEAT, BEAT_SECONDS)


def scheduler_alive() -> bool:
    expires = Lease.objects.filter(name=SCHEDULER_BEAT).values_list("expires_at", flat=True).first()
    return bool(expires and expires > timezone.now())


def readiness_check() -> str:
    """ "ok", or why schedules are not being fired."""
    if not Schedule.objects.filter(paused=False).exists():
        return "ok"
    expires = Lease.objects.filter(name=SCHEDULER_BEAT).values_list("expires_at", flat=True).first()
    if expires is None:
        return "no scheduler has run yet: run `manage.py scheduler` (or `manage.py serve`)"
    if expires < timezone.now():
        age = BEAT_SECONDS + (timezone.now() - expires).total_seconds()
        return f"no scheduler has fired schedules for {age:.0f} s"
    return "ok"


class SchedulerCollector(Collector):
    def collect(self) -> Iterator[Any]:
        yield GaugeMetricFamily(
            "flowsite_scheduler_alive",
            "1 if a scheduler loop (manage.py scheduler) passed over the schedules recently.",
            value=int(scheduler_alive()),
        )
        now = timezone.now()
        oldest = Schedule.objects.filter(paused=False, next_fire_at__lte=now).aggregate(m=Min("next_fire_at"))["m"]
        yield GaugeMetricFamily(
            "flowsite_schedule_lag_seconds",
            "How long the oldest due fire time of a running schedule has waited to be fired.",
            value=(now - oldest).total_seconds() if oldest else 0,
        )
