from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from runs.reaper import reap


class Command(BaseCommand):
    help = "Mark runs whose heartbeat is older than FLOWSITE_HEARTBEAT_TIMEOUT as dead."

    def handle(self, *args: Any, **options: Any) -> None:
        dead = reap()
        limit = settings.FLOWSITE_HEARTBEAT_TIMEOUT
        if dead:
            self.stdout.write(f"marked dead (no heartbeat for over {limit:g} s): runs {', '.join(map(str, dead))}")
        else:
            self.stdout.write(f"no run has gone {limit:g} s without a heartbeat")
