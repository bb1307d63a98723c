from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from runs.remote_runs import reconcile_loop, reconcile_once


class Command(BaseCommand):
    help = "Bring remote (Vertex AI) runs in line with their jobs: one pass, or a loop while any are active."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one pass, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            counts = reconcile_once()
            self.stdout.write(f"looked at {counts['runs']} active remote run(s); {counts['ended']} ended")
        else:
            self.stdout.write(f"{reconcile_loop()} pass(es) until no remote run was active")
