"""Running runs for real in tests, and waiting on conditions with deadlines (never plain sleeps)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from django.db import connection

from runs.execution import execute_run
from runs.models import FINAL_RUN_STATES, Run
from tests.cluster import ROOT, test_database_url


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
    # The run's process writes on connections of its own: inside the test's open transaction it would wait
    # on the test's locks until the recording deadline, then fail the run.
    assert not connection.in_atomic_block, "execute() needs committed rows: mark the test django_db(transaction=True)"
    execute_run(run.pk)
    run.refresh_from_db()
    return run


class Background:
    """Executes a run in a process of its own, as a worker would, so the test can act on it (cancel it,
    tail its log) while it runs.

    Not in a thread of the test process: the run's process is forked from the executing one, and a fork
    copies whatever locks the test's other threads hold at that instant, so the run could hang on one.
    """

    def __init__(self, run: Run) -> None:
        self.run = run
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "flowsite.test_settings", "DATABASE_URL": test_database_url()}
        self.process = subprocess.Popen([sys.executable, "-c", _EXECUTE_RUN, str(run.pk)], cwd=ROOT, env=env)

    def wait_finished(self, timeout: float = 30.0) -> Run:
        wait_for(lambda: Run.objects.get(pk=self.run.pk).status in FINAL_RUN_STATES, timeout, "the run to end")
        self.process.wait(timeout)
        self.run.refresh_from_db()
        return self.run


_EXECUTE_RUN = (
    "import sys, django; django.setup(); from runs.execution import execute_run; execute_run(int(sys.argv[1]))"
)
