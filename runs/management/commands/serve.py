"""The web server (gunicorn), a django-q2 worker cluster and the scheduler together, for one machine;
Ctrl-C stops them all.

`--no-worker` serves the web tier alone, for a machine of a deployment whose workers and schedulers
run elsewhere (`manage.py qcluster` and `manage.py scheduler` there).
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

STOP_SECONDS = 30


class Command(BaseCommand):
    help = "Serve the portal and run a qcluster worker and a scheduler beside it until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("address", nargs="?", default="127.0.0.1:8000")
        parser.add_argument(
            "--no-worker", action="store_true", help="serve the web tier only (no worker, no scheduler)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEVELOPER_PROFILE:
            collect_static()
        # Own sessions: Ctrl-C reaches this process only, which then signals qcluster's main pid
        # alone (signalling its whole group can deadlock it).
        web = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "flowsite.wsgi",
                "--bind", options["address"],
                "--workers", str(settings.FLOWSITE_WEB_WORKERS),
                "--threads", str(settings.FLOWSITE_WEB_THREADS),
                "--keep-alive", str(settings.FLOWSITE_WEB_KEEPALIVE),
                "--access-logfile", "-",
                "--forwarded-allow-ips", "*" if settings.FLOWSITE_BEHIND_TLS_PROXY else "127.0.0.1",
            ],
            start_new_session=True,
        )  # fmt: skip
        processes = [web]
        if not options["no_worker"]:
            processes.append(subprocess.Popen([sys.executable, "manage.py", "qcluster"], start_new_session=True))
            # Schedules fire from their own loop: django-q2's scheduler wakes only every 30 s or so.
            processes.append(subprocess.Popen([sys.executable, "manage.py", "scheduler"], start_new_session=True))
        pids = ", ".join(str(p.pid) for p in processes)
        self.stdout.write(
            f"web server (gunicorn, {settings.FLOWSITE_WEB_WORKERS} x {settings.FLOWSITE_WEB_THREADS} threads)"
            f"{', worker cluster and scheduler' if len(processes) > 1 else ''}: pids {pids}; Ctrl-C stops them"
        )
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not stopping and all(process.poll() is None for process in processes):
            time.sleep(0.2)
        self.stdout.write("stopping...")
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
        self.stdout.write("stopped")


def collect_static() -> bool:
    """Run collectstatic unless STATIC_ROOT already holds what the current static sources give; whether it ran.

    collectstatic hashes and compresses every file again even when none changed (5 s at each start here), and
    two servers starting on one machine would rewrite the files under each other. The sources' names, sizes and
    modification times, with the storage that processes them, are kept beside STATIC_ROOT once collected."""
    root = Path(settings.STATIC_ROOT)
    stamp = root.with_name(f"{root.name}.sources")
    sources = hashlib.sha256(settings.STORAGES["staticfiles"]["BACKEND"].encode())
    for finder in get_finders():
        for path, storage in sorted(finder.list(["CVS", ".*", "*~"]), key=lambda found: found[0]):
            stat = Path(storage.path(path)).stat()
            sources.update(
                f"{getattr(storage, 'prefix', None) or ''}/{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
            )
    fingerprint = sources.hexdigest()
    if (root / "staticfiles.json").exists() and stamp.exists() and stamp.read_text() == fingerprint:
        return False
    call_command("collectstatic", interactive=False, verbosity=0)
    stamp.write_text(fingerprint)
    return True
