from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from runs.models import LogLine

from ._runarg import get_run

POLL_SECONDS = 0.5


class Command(BaseCommand):
    help = "Print a run's log; --follow keeps printing new lines until the run ends."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id", type=int)
        parser.add_argument("--follow", "-f", action="store_true", help="wait for new lines until the run ends")
        parser.add_argument("--step", help="only this step's lines")

    def handle(self, *args: Any, **options: Any) -> None:
        run = get_run(options["run_id"])
        after = 0
        while True:
            finished = run.refresh_status() in ("completed", "failed", "cancelled", "dead")
            lines = LogLine.objects.filter(run=run, seq__gt=after).order_by("seq")
            if options["step"]:
                lines = lines.filter(step=options["step"])
            for line in lines.iterator(chunk_size=2000):
                self.stdout.write(f"{line.step or 'run'} | {line.text}")
                after = line.seq
            if not options["follow"] or finished:
                return
            time.sleep(POLL_SECONDS)
