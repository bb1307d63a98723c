"""django-q2 entry points: thin, so tests call the functions behind them directly."""

from __future__ import annotations

from . import dispatch


def deliver_notifications() -> str:
    """Started after a run's deliveries commit, and by a resend: send what is due, wait for near retries."""
    return f"{dispatch.delivery_loop()} delivery attempt(s)"


def check_notifications() -> str:
    """The minute schedule: runs running too long get their deliveries; anything due (a retry, a lost task) is sent."""
    created = dispatch.check_running_long()
    attempts = dispatch.delivery_loop()
    return f"{created} running-too-long notice(s); {attempts} delivery attempt(s)"
