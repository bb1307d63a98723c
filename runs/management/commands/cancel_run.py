from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from runs.models import RunStateError

from ._runarg import get_run


class Command(BaseCommand):
    help = "Cancel a run: at once if queued, by stopping its steps if running."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        run = get_run(options["run_id"])
        try:
            run.cancel()
        except RunStateError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"run {run.pk}: {run.status}")
