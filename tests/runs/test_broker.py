"""The Redis broker the workers take runs from: django-q2's, waiting for a task no longer than the poll interval,
so that a stopping worker machine stops at once rather than a second later."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django_q.brokers import get_broker

from runs.broker import PromptRedis
from tests.timing import within

pytestmark = pytest.mark.skipif(
    not settings.REDIS_URL,
    reason="the broker is Redis only when REDIS_URL is set; without it the broker is the database",
)


def test_a_worker_takes_a_task_from_redis_and_waits_for_one_no_longer_than_the_poll_interval():
    broker = get_broker("flowsite-broker-test")
    assert isinstance(broker, PromptRedis)
    broker.purge_queue()
    broker.enqueue("a signed task")
    assert broker.dequeue() == [(None, b"a signed task")]
    started = time.monotonic()
    assert broker.dequeue() is None
    # django-q2's own Redis broker waits a whole second here, and its pusher notices a stop only after.
    assert time.monotonic() - started < within(0.5)
