"""The CLI's exit code when a waited-for run ends cancelled or dead, and when the wait is interrupted.

The CLI is a real process waiting on a live server; no worker runs, so the test moves the run itself
(cancels it, or lets the reaper declare it dead) once the CLI has reported it queued."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from runs.models import Run, RunStatus
from runs.reaper import reap

from .conftest import ROOT, cli_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class Waiting:
    """`flowsite runs trigger greeting --wait` as a process, with its stderr read line by line."""

    def __init__(self, url: str, key: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flowsite.cli", "runs", "trigger", "greeting", "--project", "ml", "--wait"],
            cwd=ROOT,
            env=cli_env(url, key),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.put(line)

    def line_starting(self, prefix: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no stderr line starting {prefix!r} in {timeout} s; saw {self.seen}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def queued_run(self) -> Run:
        line = self.line_starting("run ")
        assert line.rstrip().endswith(": queued"), line
        return Run.objects.get(pk=int(line.split()[1].rstrip(":")))

    def finish(self, timeout: float = 30.0) -> tuple[int, str, str]:
        """The exit code, stdout, and the stderr not yet read."""
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        stdout = self.process.stdout.read()
        rest = []
        while True:
            try:
                rest.append(self.lines.get(timeout=1))
            except queue.Empty:
                break
        return code, stdout, "".join(self.seen + rest)


@pytest.fixture
def waiting(live_server, key):
    started: list[Waiting] = []

    def start() -> Waiting:
        started.append(Waiting(live_server.url, key))
        return started[-1]

    yield start
    for each in started:
        if each.process.poll() is None:
            each.process.kill()
            each.process.wait(timeout=10)


def test_a_waited_for_run_that_ends_cancelled_exits_3(waiting, owner):
    cli = waiting()
    run = cli.queued_run()
    run.cancel(by=owner)
    code, stdout, stderr = cli.finish()
    assert code == 3, stderr
    assert f"run {run.pk}: cancelled" in stderr
    assert stdout.splitlines()[0] == str(run.pk)


def test_a_waited_for_run_that_ends_dead_exits_1(waiting, settings):
    settings.FLOWSITE_HEARTBEAT_TIMEOUT = 30.0
    cli = waiting()
    run = cli.queued_run()
    # A worker claimed it a minute ago and was never heard of again: the reaper declares it dead.
    assert run.transition(
        (RunStatus.QUEUED,), RunStatus.RUNNING, reason="claimed by worker elsewhere pid 1",
        started_at=timezone.now() - timedelta(seconds=60), worker_host="elsewhere", worker_pid=1,
    )  # fmt: skip
    assert reap() == [run.pk]
    code, stdout, stderr = cli.finish()
    assert code == 1, stderr
    assert f"run {run.pk}: dead" in stderr
    assert "Traceback" not in stderr


def test_ctrl_c_while_waiting_exits_130_saying_the_run_goes_on(waiting):
    cli = waiting()
    run = cli.queued_run()
    cli.process.send_signal(signal.SIGINT)
    code, _, stderr = cli.finish()
    assert code == 130, stderr
    assert f"flowsite: stopped waiting; run {run.pk} goes on (`flowsite runs cancel {run.pk}` stops it)" in stderr
    assert "Traceback" not in stderr
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED, "Ctrl-C stops the waiting, not the run"
