"""What a load balancer and an operator ask: is this process alive, can it serve, is any worker working."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .models import Lease

WORKER_BEAT = "worker-heartbeat"
# The beat comes from the reaper's one-minute schedule, which django-q2's scheduler runs up to 30 s late.
WORKER_BEAT_SECONDS = 180

# Checks of the apps above this one (the scheduler of `schedules`), which add them when Django starts:
# this module may not import them.
_more_checks: dict[str, Callable[[], str]] = {}


def add_check(name: str, check: Callable[[], str]) -> None:
    """Have readiness() ask `check` too, under `name` ("ok" when nothing is wrong)."""
    _more_checks[name] = check


def note_worker_alive() -> None:
    """A worker ran a scheduled task: the broker delivers and somebody works."""
    beat(WORKER_BEAT, WORKER_BEAT_SECONDS)


def beat(name: str, seconds: float) -> None:
    """This process is alive and doing its job: the heartbeat `name` holds for `seconds` from now."""
    Lease.objects.update_or_create(
        name=name,
        defaults={
            "holder": f"{socket.gethostname()}:{os.getpid()}",
            "expires_at": timezone.now() + timedelta(seconds=seconds),
        },
    )


def readiness() -> dict[str, str]:
    """Each dependency and what is wrong with it ("ok" when nothing)."""
    checks = {"database": _database(), "broker": _broker(), "workers": _workers()}
    for name, check in _more_checks.items():
        try:
            checks[name] = check()
        except Exception as exc:
            checks[name] = f"unknown: {type(exc).__name__}"
    return checks


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"
    return "ok"


def _broker() -> str:
    if not settings.REDIS_URL:
        return "ok"  # the database is the broker
    import redis

    try:
        redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as exc:
        return f"unreachable: {type(exc).__name__}"
    return "ok"


def _workers() -> str:
    try:
        beat = Lease.objects.filter(name=WORKER_BEAT).values_list("expires_at", flat=True).first()
    except Exception as exc:
        return f"unknown: {type(exc).__name__}"
    if beat is None:
        return "no worker has run a scheduled task yet"
    if beat < timezone.now():
        age = WORKER_BEAT_SECONDS + (timezone.now() - beat).total_seconds()
        return f"no worker has run a scheduled task for {age:.0f} s"
    return "ok"
