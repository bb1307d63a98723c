"""/healthz, /readyz and /metrics: what load balancers and Prometheus read, without signing in."""

from __future__ import annotations

import socket

import pytest

from runs.models import Run
from runs.tasks import reap_dead_runs

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_a_session(client):
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "alive"})


def test_readyz_is_ready_once_a_worker_has_run_its_schedule(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "ok", "broker": "ok", "workers": "no worker has run a scheduled task yet", "scheduler": "ok",
    }  # fmt: skip
    reap_dead_runs()  # what the one-minute schedule runs on a worker
    response = client.get("/readyz")
    assert (response.status_code, response.json()["status"]) == (200, "ready"), response.json()


def test_readyz_says_when_the_broker_is_unreachable(client, settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{closed}/0"
    reap_dead_runs()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unreachable: ConnectionError"


def test_metrics_are_off_without_a_token_and_need_it(client, settings):
    assert client.get("/metrics").status_code == 404
    settings.FLOWSITE_METRICS_TOKEN = "scrape-me-7c1f"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_metrics_tell_runs_queue_workers_and_durations(client, settings, ready):
    settings.FLOWSITE_METRICS_TOKEN = "scrape-me-7c1f"
    Run.objects.trigger(project=ready, pipeline="greeting")
    Run.objects.trigger(project=ready, pipeline="greeting")
    reap_dead_runs()
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-7c1f")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'flowsite_runs{status="queued"} 2.0' in text
    assert 'flowsite_runs{status="completed"} 0.0' in text
    assert "flowsite_queue_depth 2.0" in text
    assert "flowsite_oldest_queued_run_age_seconds" in text
    assert "flowsite_workers_alive 1.0" in text
    assert 'flowsite_run_duration_seconds_bucket{le="+Inf"} 0.0' in text
    assert "flowsite_step_duration_seconds_count 0.0" in text
    assert "flowsite_reconcile_lag_seconds 0.0" in text
    assert "flowsite_log_lines_per_second 0.0" in text


@pytest.mark.django_db(transaction=True)
def test_metrics_count_the_durations_of_what_finished(client, settings, ready):
    from tests.runs.helpers import execute

    settings.FLOWSITE_METRICS_TOKEN = "scrape-me-7c1f"
    execute(Run.objects.trigger(project=ready, pipeline="arithmetic"))
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-7c1f").content.decode()
    assert 'flowsite_runs{status="completed"} 1.0' in text
    assert 'flowsite_run_duration_seconds_bucket{le="+Inf"} 1.0' in text
    assert 'flowsite_step_duration_seconds_bucket{le="+Inf"} 2.0' in text
