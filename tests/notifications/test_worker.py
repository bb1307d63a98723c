"""Notifications with real worker processes: sent after the run ends, by a task of their own, and a
receiver that does not answer holds up no run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks import Webhook

from notifications.models import Delivery, DeliveryStatus
from runs.models import Run, RunStatus
from tests.cluster import Cluster
from tests.runs.helpers import wait_for

from .conftest import webhook_rule

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def workers(transactional_db: Any, ready: Any) -> Iterator[Cluster]:
    running = Cluster(workers=2, env={"FLOWSITE_NOTIFY_TIMEOUT": "2"})
    yield running
    running.stop()


def status_of(run: Run) -> str:
    return Run.objects.get(pk=run.pk).status


def test_a_run_failing_on_a_worker_sends_its_webhook(ready, receiver, workers):
    rule = webhook_rule(ready, receiver.url, events=["failed"])
    run = Run.objects.trigger(project=ready, pipeline="exploding")
    wait_for(lambda: status_of(run) == RunStatus.FAILED, 60, "the run to fail")
    wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.DELIVERED).exists(), 60, "the delivery")
    request = receiver.requests[0]
    body = Webhook(rule.signing_secret).verify(request.body, request.headers)
    assert (body["type"], body["data"]["run_id"]) == ("run.failed", run.pk)
    assert receiver.count() == 1


def test_a_receiver_that_does_not_answer_holds_up_no_run(ready, receiver, workers):
    webhook_rule(ready, receiver.url, events=["completed"])
    receiver.hold()  # every request waits, far past the sender's 2 s timeout, until the test lets go
    first = Run.objects.trigger(project=ready, pipeline="greeting")
    wait_for(lambda: status_of(first) == RunStatus.COMPLETED, 60, "the first run to complete")
    wait_for(lambda: receiver.count() >= 1, 60, "the first run's notification to reach the receiver")

    # While the receiver sits on it, the next run is claimed, runs and ends as always.
    second = Run.objects.trigger(project=ready, pipeline="greeting")
    wait_for(lambda: status_of(second) == RunStatus.COMPLETED, 60, "the second run to complete")
    assert not receiver.release.is_set()
    assert not Delivery.objects.filter(status=DeliveryStatus.DELIVERED).exists()
    timed_out = wait_for(lambda: Delivery.objects.filter(run=first, attempts__gte=2).first(), 60, "a retry")
    assert "Timeout" in timed_out.error

    receiver.release.set()
    wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 2, 60, "both deliveries")
    assert {d.run_id for d in Delivery.objects.all()} == {first.pk, second.pk}
