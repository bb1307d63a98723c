"""A real django-q2 cluster (`manage.py qcluster`) serving the test database, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "test-output"


def test_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class Cluster:
    def __init__(self, workers: int = 2, env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
        from django_q.brokers import get_broker

        if settings.REDIS_URL:
            get_broker().purge_queue()  # tasks other tests queued with no cluster to run them
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "flowsite.test_settings",
            "DATABASE_URL": test_database_url(),
            "FLOWSITE_WORKERS": str(workers),
            **(env or {}),
        }
        self.log_path = OUTPUT / f"qcluster-{os.getpid()}-{time.monotonic_ns()}.log"
        self._log: IO[bytes] = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "qcluster"],
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_until_running()

    def _wait_until_running(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while b"running." not in self.log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                if self.process.poll() is None:
                    os.killpg(self.process.pid, signal.SIGKILL)
                raise AssertionError(f"qcluster did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        # Its main pid only: signalling the whole group can deadlock it.
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
