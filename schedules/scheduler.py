"""The scheduler loop: fire what is due, then sleep until the next due time, at most a second.

django-q2's own scheduler wakes about every 30 s, too late for "within 5 s of the due time", so
schedules are fired by this loop (`manage.py scheduler`, which `manage.py serve` starts beside the
worker cluster). Several loops, on one machine or many, are safe: each fire time is won by one
(`schedules.firing`). The one-second bound is how soon a new, edited or resumed schedule is seen.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import Error

from runs.reconnecting import reset_connection

from .firing import fire_due, seconds_until_due
from .health import BEAT_EVERY_SECONDS, note_scheduler_alive

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0
# After a database error: long enough not to spin while the database is away.
RETRY_SECONDS = 2.0


def run(stop: threading.Event) -> None:
    """Fire due schedules until `stop` is set."""
    last_beat = float("-inf")
    while not stop.is_set():
        try:
            fired = fire_due()
            if fired:
                logger.info("fired %d schedule time(s): %s", len(fired), ", ".join(str(f) for f in fired))
            wait = seconds_until_due()
            if time.monotonic() - last_beat >= BEAT_EVERY_SECONDS:
                note_scheduler_alive()
                last_beat = time.monotonic()
        except Error:
            logger.warning("the scheduler's database work failed; reconnecting", exc_info=True)
            reset_connection()
            wait = RETRY_SECONDS
        stop.wait(POLL_SECONDS if wait is None else min(wait, POLL_SECONDS))
