"""Running runs for real in tests, and waiting on conditions with deadlines (never plain sleeps)."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from django.db import connection

from runs.execution import execute_run
from runs.models import FINAL_RUN_STATES, Run


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def execute(run: Run) -> Run:
    """Claim and execute the run here, in a forked process group, as a worker would."""
    execute_run(run.pk)
    run.refresh_from_db()
    return run


class Background:
    """Executes a run in a thread, so the test can act on it (cancel it) while it runs."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.thread = threading.Thread(target=self._execute, daemon=True)
        self.thread.start()

    def _execute(self) -> None:
        try:
            execute_run(self.run.pk)
        finally:
            connection.close()

    def wait_finished(self, timeout: float = 30.0) -> Run:
        wait_for(lambda: Run.objects.get(pk=self.run.pk).status in FINAL_RUN_STATES, timeout, "the run to end")
        self.thread.join(timeout)
        self.run.refresh_from_db()
        return self.run
