from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Project
from flowsite import strict_json
from runs.models import FINAL_RUN_STATES, Run, RunStatus
from runs.triggering import TriggerError, trigger_run

POLL_SECONDS = 0.2


def parse_param(text: str) -> tuple[str, Any]:
    """`k=v`, where v is read as JSON when it is valid JSON (5, 0.1, true, [1]) and as text otherwise."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise CommandError(f"--param takes name=value, not {text!r}")
    try:
        return name, strict_json.param_value(raw)
    except ValueError as exc:
        raise CommandError(f"--param {name}: {exc}") from None


class Command(BaseCommand):
    help = "Trigger a pipeline run; with --wait, wait for it and exit non-zero unless it completes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("pipeline")
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--stack", help="stack name (default: the default stack)")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
        parser.add_argument("--wait", action="store_true", help="wait for the run to end")
        parser.add_argument("--fresh", action="store_true", help="execute every step, serving none from the cache")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"there is no project {options['project']!r}")
        params = dict(parse_param(p) for p in options["param"])
        try:
            run = trigger_run(
                project=project,
                pipeline=options["pipeline"],
                stack=options["stack"],
                params=params,
                use_cache=not options["fresh"],
            )
        except TriggerError as exc:
            raise CommandError("; ".join(f"{field}: {reason}" for field, reason in exc.errors.items())) from None
        self.stdout.write(str(run.pk))
        if not options["wait"]:
            return
        while run.refresh_status() not in FINAL_RUN_STATES:
            time.sleep(POLL_SECONDS)
        run = Run.objects.get(pk=run.pk)
        self.stdout.write(f"run {run.pk} {run.status}" + (f": {run.failure_message}" if run.failure_message else ""))
        if run.status != RunStatus.COMPLETED:
            raise CommandError(f"run {run.pk} {run.status}", returncode=1)
