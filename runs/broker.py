"""django-q2's Redis broker, waiting for a task no longer than the `poll` interval its ORM broker polls at.

A cluster's pusher looks whether the cluster is stopping between two waits for a task, and django-q2's Redis
broker waits a whole second (BLPOP with a timeout of 1): a worker machine took a second longer to stop than
it had to (a deploy, a scale-in; and each end-to-end test, some 40 s of the suite on Redis). Redis 6 and
later take a fraction of a second; an idle worker machine then makes about twenty cheap BLPOPs a second.
"""

from __future__ import annotations

from typing import Any

from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf


class PromptRedis(Redis):
    def dequeue(self) -> list[tuple[None, Any]] | None:
        task = self.connection.blpop(self.list_key, Conf.POLL)
        return [(None, task[1])] if task else None
