"""Database work that must get through a lost connection: reconnect and try again, up to a deadline.

A worker's connection can be cut under it (a failover, a restarted pooler, an operator's
pg_terminate_backend). Django reconnects only at the next request, and a worker has none; so
the processes that keep a run's record reconnect themselves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import Error, connection

T = TypeVar("T")


def reset_connection() -> None:
    """Drop a connection the database cut, so the next statement opens a fresh one."""
    try:
        connection.close()
    except Error:
        connection.connection = None


def until_it_holds(action: Callable[[], T], deadline_seconds: float, logger: logging.Logger, what: str) -> T:
    """`action()`, reconnecting and calling it again after a database error; the last error once past the deadline.

    `action` must be safe to repeat: conditional updates, or one transaction.
    """
    deadline = time.monotonic() + deadline_seconds
    failures = 0
    while True:
        try:
            return action()
        except Error:
            failures += 1
            logger.warning("%s failed (attempt %d); reconnecting", what, failures, exc_info=True)
            reset_connection()
            if time.monotonic() >= deadline:
                raise
            time.sleep(min(2.0, 0.05 * 2**failures))
