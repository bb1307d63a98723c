from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from runs.reaper import reap
from runs.sweeper import sweep


class Command(BaseCommand):
    help = (
        "Mark runs whose heartbeat is older than FLOWSITE_HEARTBEAT_TIMEOUT as dead, and hand queued runs "
        "that have no task (the broker refused or lost it) to the task broker again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        dead = reap()
        limit = settings.FLOWSITE_HEARTBEAT_TIMEOUT
        if dead:
            self.stdout.write(f"marked dead (no heartbeat for over {limit:g} s): runs {', '.join(map(str, dead))}")
        else:
            self.stdout.write(f"no run has gone {limit:g} s without a heartbeat")
        handed = sweep()
        if handed:
            self.stdout.write(f"handed to the task broker again (no live task): runs {', '.join(map(str, handed))}")
