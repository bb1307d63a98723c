"""Fire schedules on time until stopped (SIGTERM or Ctrl-C). Run one or more per deployment: see docs/deploy.md."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from schedules import scheduler


class Command(BaseCommand):
    help = "Start the runs of schedules at their fire times; several schedulers may run at once."

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()

        def request_stop(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        self.stdout.write(f"scheduler running (pid {os.getpid()})")
        self.stdout.flush()
        scheduler.run(stop)
        self.stdout.write("scheduler stopped")
