import os
from typing import Any

from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Runs"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate
        from django_q.signals import post_spawn

        from .execution import record_pipelines_at_worker_start

        post_spawn.connect(record_pipelines_at_worker_start, dispatch_uid="flowsite-record-pipelines")
        connection_created.connect(_name_connection, dispatch_uid="flowsite-name-connection")
        post_migrate.connect(_refresh_statistics, sender=self, dispatch_uid="flowsite-planner-statistics")


def _name_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Name each PostgreSQL session after its process, so pg_stat_activity tells which worker or run holds it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET application_name = %s", [f"flowsite pid {os.getpid()}"])


def _refresh_statistics(sender: Any, using: str, plan: Any = None, **kwargs: Any) -> None:
    """After migrating (an upgrade, a restored copy): plan with statistics from the start, not after the hour."""
    from .planner import refresh_statistics

    # A rollback leaves the planner's statistics as they were; only a forward migration is followed by one.
    if plan and not any(backwards for _, backwards in plan):
        refresh_statistics(using)
