"""Delete the log lines, step events and artifacts of runs that finished long ago."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from runs.pruning import prune

_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def age(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if match is None:
        raise CommandError(f"--older-than takes a number and a unit, d, h or m (90d, 12h), not {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class Command(BaseCommand):
    help = (
        "Delete the log lines, step events and artifacts (with their files) of runs that finished before "
        "--older-than; the runs themselves, their steps and outcomes stay."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", required=True, type=age, help="an age such as 90d, 12h or 30m")
        parser.add_argument("--keep-failed", action="store_true", help="keep the details of failed and dead runs")

    def handle(self, *args: Any, older_than: timedelta, keep_failed: bool, **options: Any) -> None:
        started = time.monotonic()
        done = prune(older_than, keep_failed=keep_failed)
        seconds = time.monotonic() - started
        self.stdout.write(
            f"pruned {done.runs} run(s): {done.log_lines} log lines, {done.events} step events, "
            f"{done.artifacts} artifacts ({done.files} files) in {seconds:.1f} s"
        )
        if done.file_errors:
            self.stderr.write(f"{done.file_errors} artifact file(s) could not be deleted; see the log")
