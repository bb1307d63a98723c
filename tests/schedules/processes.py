"""`manage.py scheduler` as a real process on the test database, as tests/cluster.py starts qcluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import IO

from tests.cluster import OUTPUT, ROOT, test_database_url


class Scheduler:
    def __init__(self) -> None:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "flowsite.test_settings", "DATABASE_URL": test_database_url()}
        self.log_path = OUTPUT / f"scheduler-{os.getpid()}-{time.monotonic_ns()}.log"
        self._log: IO[bytes] = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "scheduler"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while b"scheduler running" not in self.log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the scheduler did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
