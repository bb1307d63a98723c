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
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dj_database_url

ROOT = Path(__file__).resolve().parents[1]

if TYPE_CHECKING:
    from playwright.sync_api import Page

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ProductionServer:
    """`manage.py serve --no-worker` on the scratch database, as a web machine of a deployment runs it: gunicorn
    under the production profile, over plain HTTP. Not Django's runserver, whose answers on a kept-alive
    connection wait up to 40 ms for the client's acknowledgement (Nagle's algorithm), which a browser's
    timings then include."""

    def __init__(self, folder: Path, workers: int = 2, threads: int = 4) -> None:
        from django.conf import settings

        self.url = f"http://127.0.0.1:{free_port()}"
        self.log_path = folder / "serve.log"
        env = {name: value for name, value in os.environ.items() if name not in ("DEBUG", "REDIS_URL")}
        env.update(
            DJANGO_SETTINGS_MODULE="flowsite.settings",
            FLOWSITE_PROFILE="production",
            SECRET_KEY=secrets.token_urlsafe(50),
            # The stack secrets this process wrote, the server reads.
            FLOWSITE_SECRET_KEYS=",".join(settings.FLOWSITE_SECRET_KEYS),
            FLOWSITE_HTTPS="false",  # a private network: no TLS proxy in front of the bench
            ALLOWED_HOSTS="127.0.0.1",
            FLOWSITE_WEB_WORKERS=str(workers),
            FLOWSITE_WEB_THREADS=str(threads),
        )
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", self.url.removeprefix("http://"), "--no-worker"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while not self._healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"the server did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # gunicorn's arbiter stops its workers
            self.process.wait(60)
        self.log.close()


@contextmanager
def signed_in_page(server: ProductionServer, username: str) -> Iterator[Page]:
    """A page of Debian's Chromium (headless, through Playwright) signed in to `server` as `username`, on the
    runs list that signing in leads to; the user is given a new password for it."""
    from django.contrib.auth import get_user_model
    from playwright.sync_api import sync_playwright

    password = secrets.token_urlsafe(16)
    user = get_user_model().objects.get(username=username)
    user.set_password(password)
    user.save()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{server.url}/login/")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_selector("table.runs tbody tr")
            yield page
        finally:
            browser.close()
