"""The Redis broker the workers take runs from: django-q2's, waiting for a task no longer than the poll interval,
so that a stopping worker machine stops at once rather than a second later."""

from __future__ import annotations

import socket
import time

import pytest
import redis
from django.conf import settings
from django_q.brokers import get_broker
from redis.backoff import NoBackoff
from redis.retry import Retry

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


def test_a_redis_that_does_not_answer_is_logged_and_asked_again_by_the_same_worker(caplog):
    broker = get_broker("flowsite-broker-test")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    # Refused at once: without the client's own retries, which wait seconds before they give up.
    broker.connection = redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))
    # django-q2's own broker raises here, and its pusher then sleeps 10 s before another takes over.
    assert broker.dequeue() is None
    assert "the task broker (Redis) does not answer" in caplog.text
