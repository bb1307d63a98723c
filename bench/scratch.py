"""A scratch database for a benchmark, so that no bench measures (or spoils) a database anyone uses.

    from bench import scratch
    SCRATCH = scratch.start("api")                        # before anything imports Django's models
    ...
    stack = scratch.prepare()                             # migrated, pipelines recorded, a default stack

SQLite in a new temporary folder unless a PostgreSQL URL is given, which is dropped and created afresh.
The bench process itself runs under the developer profile with the test pipelines, and never the
Redis broker: only what it starts (a server, a qcluster) is given a deployment's environment.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import dj_database_url

if TYPE_CHECKING:
    from stacks.models import Stack


def start(name: str, database_url: str | None = None, **env: str) -> Path:
    """Point this process's Django at a scratch database and set it up; the scratch folder it made."""
    folder = Path(tempfile.mkdtemp(prefix=f"flowsite-bench-{name}-"))
    url = database_url or f"sqlite:///{folder / 'bench.sqlite3'}"
    if url.startswith(("postgres://", "postgresql://")):
        recreate_postgres(url)
    os.environ.pop("REDIS_URL", None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="flowsite.settings",
        FLOWSITE_PROFILE="dev",
        DATABASE_URL=url,
        FLOWSITE_PIPELINES="tests.pipelines",
        LOG_LEVEL="WARNING",
        **env,
    )
    import django

    django.setup()
    return folder


def recreate_postgres(url: str) -> None:
    """Drop the URL's database if it exists (ending its sessions) and create it empty."""
    import psycopg

    config = dj_database_url.parse(url)
    name = config["NAME"]
    admin = psycopg.connect(
        dbname="postgres",
        user=config.get("USER") or "postgres",
        password=config.get("PASSWORD") or None,
        host=config.get("HOST") or "127.0.0.1",
        port=config.get("PORT") or 5432,
        autocommit=True,
    )
    with admin:
        # WITH (FORCE) ends what a bench interrupted earlier left connected.
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def prepare() -> Stack:
    """Migrate, record the test pipelines (as a worker with their code would) and add the default local stack."""
    from django.core.management import call_command

    from runs.registry import sync_pipelines
    from stacks.models import Stack

    call_command("migrate", verbosity=0)
    sync_pipelines()
    return Stack.objects.create(name="local", kind="local", is_default=True, open_to_all_projects=True)
