"""Is a scheduler firing? /readyz and /metrics say so, as they do for the workers, and a scheduler gone shows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from runs.models import Lease
from runs.tasks import reap_dead_runs
from schedules.health import SCHEDULER_BEAT
from tests.runs.helpers import wait_for

from .conftest import make_due
from .processes import Scheduler

pytestmark = pytest.mark.e2e

TOKEN = "scrape-me-7c1f"


def metrics(client) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_no_schedule_running_needs_no_scheduler(client, make_schedule, settings):
    settings.FLOWSITE_METRICS_TOKEN = TOKEN
    reap_dead_runs()  # a worker is alive
    make_schedule().pause()
    response = client.get("/readyz")
    assert (response.status_code, response.json()["checks"]["scheduler"]) == (200, "ok")
    assert "flowsite_scheduler_alive 0.0" in metrics(client)


@pytest.mark.django_db
def test_a_running_schedule_without_a_scheduler_is_not_ready(client, make_schedule, settings):
    settings.FLOWSITE_METRICS_TOKEN = TOKEN
    reap_dead_runs()
    make_due(make_schedule(), timezone.now() - timedelta(seconds=30))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["scheduler"].startswith("no scheduler has run yet")
    text = metrics(client)
    assert "flowsite_scheduler_alive 0.0" in text
    lag = float(text.split("\nflowsite_schedule_lag_seconds ")[1].split()[0])
    assert 30 <= lag < 90  # the due fire time has waited since it was due


@pytest.mark.django_db(transaction=True)
def test_a_running_scheduler_is_seen_and_a_stopped_one_goes_stale(client, make_schedule, settings):
    settings.FLOWSITE_METRICS_TOKEN = TOKEN
    reap_dead_runs()
    make_schedule(cron="0 0 1 1 *")  # running, due next new year: nothing fires during the test
    scheduler = Scheduler()
    try:
        wait_for(lambda: client.get("/readyz").status_code == 200, timeout=20, what="the scheduler's first beat")
        assert client.get("/readyz").json()["checks"]["scheduler"] == "ok"
        assert "flowsite_scheduler_alive 1.0" in metrics(client)
        assert "flowsite_schedule_lag_seconds 0.0" in metrics(client)
    finally:
        scheduler.stop()
    # Its beat ages out as a scheduler that stopped a while ago would have left it.
    Lease.objects.filter(name=SCHEDULER_BEAT).update(expires_at=timezone.now() - timedelta(seconds=120))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["scheduler"] == "no scheduler has fired schedules for 180 s"
    assert "flowsite_scheduler_alive 0.0" in metrics(client)
