"""The web server and a django-q2 worker cluster together, for one machine; Ctrl-C stops both."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

STOP_SECONDS = 30


class Command(BaseCommand):
    help = "Serve the portal and run a qcluster worker beside it until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("address", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        manage = [sys.executable, "manage.py"]
        # Own sessions: Ctrl-C reaches this process only, which then signals qcluster's main pid
        # alone (signalling its whole group can deadlock it).
        cluster = subprocess.Popen([*manage, "qcluster"], start_new_session=True)
        web = subprocess.Popen([*manage, "runserver", "--noreload", options["address"]], start_new_session=True)
        self.stdout.write(f"worker cluster pid {cluster.pid}, web server pid {web.pid}; Ctrl-C stops both")
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not stopping and cluster.poll() is None and web.poll() is None:
            time.sleep(0.2)
        self.stdout.write("stopping the web server and the worker cluster...")
        for process in (web, cluster):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (web, cluster):
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
        self.stdout.write("stopped")
