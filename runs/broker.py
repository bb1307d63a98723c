"""django-q2's Redis broker, waiting for a task no longer than the `poll` interval its ORM broker polls at,
and riding out a Redis that does not answer.

A cluster's pusher looks whether the cluster is stopping between two waits for a task, and django-q2's Redis
broker waits a whole second (BLPOP with a timeout of 1): a worker machine took a second longer to stop than
it had to (a deploy, a scale-in; and each end-to-end test, some 40 s of the suite on Redis). Redis 6 and
later take a fraction of a second; an idle worker machine then makes about twenty cheap BLPOPs a second.

When Redis is down, django-q2's pusher sleeps 10 s after the failed wait before its sentinel starts another:
workers took runs again up to 10 s after Redis was back. Here the failure is logged and asked again after a
second, by the same pusher.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf

logger = logging.getLogger(__name__)

UNREACHABLE_RETRY_SECONDS = 1.0


class PromptRedis(Redis):
    def dequeue(self) -> list[tuple[None, Any]] | None:
        try:
            task = self.connection.blpop(self.list_key, Conf.POLL)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            logger.warning("the task broker (Redis) does not answer: %s; asking again in %g s", exc,
                           UNREACHABLE_RETRY_SECONDS)  # fmt: skip
            time.sleep(UNREACHABLE_RETRY_SECONDS)
            return None
        return [(None, task[1])] if task else None
