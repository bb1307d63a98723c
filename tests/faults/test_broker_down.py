"""The Redis broker down or restarted, against real processes: a private redis-server, the web tier
(`manage.py runserver`), a qcluster and `manage.py reap` / `run_pipeline`, all on the test database.

The shared Redis is never touched: each test starts its own on a free port, without persistence,
so killing and restarting it loses every queued task just as a production restart would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import IO, Any

import pytest
import redis
from django.conf import settings

from accounts.models import ApiToken
from runs.models import FINAL_RUN_STATES, Run, RunEvent, RunStatus
from tests.cluster import OUTPUT, ROOT, Cluster
from tests.cluster import test_database_url as database_url
from tests.conftest import ledger_entries
from tests.runs.helpers import wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REDIS_URL,
        reason="the broker is Redis only when REDIS_URL is set; without it the broker is the database itself",
    ),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server is not installed to run a private Redis"),
]

REFUSED = "the task broker was unavailable; the run waits and is handed to it again once it answers"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


class PrivateRedis:
    """A redis-server of this test's own, keeping nothing on disk."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/1"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self._answers, what=f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        try:
            return bool(self._client().ping())
        except redis.ConnectionError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        wait_for(lambda: not accepts_connections(self.port), what="redis-server to be gone")

    def queued_tasks(self) -> int:
        return self._client().llen(f"django_q:{settings.Q_CLUSTER['name']}:q")

    def _client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


class WebTier:
    """`manage.py runserver` on a free port: the API as a deployment serves it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = OUTPUT / f"web-{os.getpid()}-{time.monotonic_ns()}.log"
        self._log: IO[bytes] = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{self.port}"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self._up, timeout=30, what="the web tier to listen")

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the web tier exited:\n{self.log_path.read_text()}")
        return accepts_connections(self.port)

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **headers},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, {"body": error.read().decode(errors="replace")}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
        self._log.close()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    yield server
    server.stop()


@pytest.fixture
def env(private_redis: PrivateRedis) -> dict[str, str]:
    """What every process of the deployment under test runs with: the test database, the private Redis."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "flowsite.test_settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": private_redis.url,
        "FLOWSITE_REQUEUE_SECONDS": "1",
    }


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done


def sweep_until_handed_over(env: dict[str, str], run: Run) -> None:
    """`manage.py reap`, as an operator (or the schedule) runs it, until the run is back with the broker."""

    def handed_over() -> bool:
        manage(env, "reap")
        return RunEvent.objects.filter(run=run, reason__startswith="handed to the task broker again").exists()

    wait_for(handed_over, timeout=60, what=f"the sweeper to hand run {run.pk} over again")


def assert_completed_once(run: Run, ledger: str) -> None:
    wait_for(lambda: Run.objects.get(pk=run.pk).status in FINAL_RUN_STATES, timeout=60, what=f"run {run.pk} to end")
    run.refresh_from_db()
    history = list(run.events.filter(step=None).values_list("old_status", "new_status", "reason"))
    assert run.status == RunStatus.COMPLETED, history
    assert ledger_entries(ledger) == ["produce", "add_up"]
    claims = run.events.filter(step=None, old_status=RunStatus.QUEUED, new_status=RunStatus.RUNNING)
    assert claims.count() == 1, history


def test_a_run_triggered_while_redis_is_down_is_kept_and_completes_once_it_is_back(
    ready, owner, ledger, private_redis, env
):
    cluster = Cluster(env=env)
    web = WebTier(env)
    try:
        private_redis.kill()
        key = ApiToken.issue(owner, "broker-down test")[1]
        headers = {"Authorization": f"Token {key}", "Idempotency-Key": "build-42"}
        body = {"project": ready.slug, "pipeline": "arithmetic", "params": {"ledger": ledger}}

        status, created = web.post("/api/runs/", body, headers)
        assert status == 201, created
        run = Run.objects.get(pk=created["id"])
        assert (run.status, run.task_id) == (RunStatus.QUEUED, "")
        assert run.events.filter(old_status=RunStatus.QUEUED, new_status=RunStatus.QUEUED, reason=REFUSED).exists()

        status, replayed = web.post("/api/runs/", body, headers)
        assert (status, replayed["id"]) == (201, run.pk), replayed
        assert Run.objects.count() == 1

        private_redis.start()
        sweep_until_handed_over(env, run)
        assert_completed_once(run, ledger)
    finally:
        web.stop()
        cluster.stop()


def test_a_task_lost_by_a_redis_restart_is_handed_over_again_and_runs_once(ready, ledger, private_redis, env):
    # No worker yet: the task waits in Redis, which then restarts and forgets it.
    triggered = manage(env, "run_pipeline", "arithmetic", "--project", ready.slug, "--param", f"ledger={ledger}")
    run = Run.objects.get(pk=int(triggered.stdout))
    assert run.task_id and private_redis.queued_tasks() == 1
    private_redis.kill()
    private_redis.start()
    assert private_redis.queued_tasks() == 0

    cluster = Cluster(env=env)
    try:
        sweep_until_handed_over(env, run)
        assert_completed_once(run, ledger)
    finally:
        cluster.stop()
    assert RunEvent.objects.filter(
        run=run, reason="handed to the task broker again: the broker's queue is empty but the run has not started"
    ).exists()
