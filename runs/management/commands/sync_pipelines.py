from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from runs.registry import sync_pipelines


class Command(BaseCommand):
    help = "Import the FLOWSITE_PIPELINES modules and record their pipelines' current code versions."

    def handle(self, *args: Any, **options: Any) -> None:
        for definition in sync_pipelines():
            self.stdout.write(f"{definition.name}  code {definition.code_version}  ({definition.module})")
