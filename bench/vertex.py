"""Vertex AI figures against the local fake Vertex server (tests/fake_vertex.py), on a scratch database.

    python -m bench.vertex

Prints: trigger to job submitted (through the worker's path), the cost of one reconcile pass with
200 active jobs (time and requests), and cancel request to `cancelled` when the fake server's state
changes take one second each (issue 5: one job per run). Placed per unit (issue 12), with 50 ms per
Vertex request: trigger to first unit job submitted (p50, p95), a 20-unit fan-out fully submitted
(target under 2 s), and the control plane's work per unit (CPU time and database queries to submit a
unit, and to follow it for one reconcile pass).
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = Path(tempfile.mkdtemp(prefix="flowsite-bench-vertex-"))
os.environ.pop("REDIS_URL", None)
os.environ.update(
    DJANGO_SETTINGS_MODULE="flowsite.settings",
    FLOWSITE_PROFILE="dev",
    DATABASE_URL=f"sqlite:///{SCRATCH / 'bench.sqlite3'}",
    FLOWSITE_PIPELINES="tests.pipelines,bench.fanout",
    FLOWSITE_ARTIFACT_ROOT=str(SCRATCH / "artifacts"),
    LOG_LEVEL="WARNING",
)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from accounts.models import Project  # noqa: E402
from runs import remote_units  # noqa: E402
from runs.execution import execute_run  # noqa: E402
from runs.models import Run, RunEvent, StepRun, StepStatus  # noqa: E402
from runs.registry import sync_pipelines  # noqa: E402
from runs.remote_runs import reconcile_once  # noqa: E402
from stacks.models import Stack  # noqa: E402
from tests.fake_vertex import FakeVertex  # noqa: E402
from unitjobs.models import UnitJob  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not met in time")
        time.sleep(0.01)
    return value


def vertex_stack(server: FakeVertex, name: str, **settings: object) -> Stack:
    config = {
        "project_id": "bench", "staging_bucket": "gs://bench", "image": "bench:1",
        "api_endpoint": server.url, "artifact_uri": f"file://{SCRATCH}/remote", "placement": "run", **settings,
    }  # fmt: skip
    return Stack.objects.create(name=name, kind="vertex", config=config, open_to_all_projects=True)


def trigger_to_submitted(project: Project, runs: int) -> None:
    server = FakeVertex(step_seconds=3600)  # jobs stay queued: this measures submission only
    stack = vertex_stack(server, "submit")
    latencies = []
    for _ in range(runs):
        run = Run.objects.trigger(project=project, pipeline="greeting", stack=stack)
        execute_run(run.pk)
        submitted = RunEvent.objects.get(run=run, new_status="provisioning").at
        latencies.append((submitted - run.created_at).total_seconds() * 1000)
    Run.objects.filter(stack=stack).update(status="cancelled")
    server.stop()
    print(f"trigger -> job submitted ({runs} runs, worker path): p50 {statistics.median(latencies):5.0f} ms  "
          f"p95 {sorted(latencies)[int(0.95 * (len(latencies) - 1))]:5.0f} ms")  # fmt: skip


def reconcile_cost(project: Project, active: int, latency: float) -> None:
    server = FakeVertex(step_seconds=3600, latency_seconds=latency)
    stack = vertex_stack(server, f"reconcile-{latency}")
    for _ in range(active):
        execute_run(Run.objects.trigger(project=project, pipeline="greeting", stack=stack).pk)
    reconcile_once()  # warm: the SDK's clients and imports
    passes = []
    for _ in range(5):
        before = len(server.requests)
        start = time.perf_counter()
        counts = reconcile_once()
        passes.append((time.perf_counter() - start, len(server.requests) - before, counts["runs"]))
    Run.objects.filter(stack=stack).update(status="cancelled")
    server.stop()
    seconds = statistics.median(p[0] for p in passes)
    runs = passes[0][2]
    print(f"reconcile pass, {runs} active jobs, {latency * 1000:.0f} ms per Vertex request: "
          f"{seconds * 1000:6.0f} ms ({seconds / runs * 1000:.2f} ms/run), "
          f"{passes[0][1]} requests ({passes[0][1] / runs:.1f}/run)")  # fmt: skip


def cancel_latency(project: Project, repeats: int) -> None:
    server = FakeVertex(step_seconds=1.0)
    stack = vertex_stack(server, "cancel")
    port = free_port()
    settings.FLOWSITE_PUBLIC_URL = f"http://127.0.0.1:{port}"
    web = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    from runs.remote_runs import CANCELLING_POLL_SECONDS

    interval = min(settings.FLOWSITE_RECONCILE_SECONDS, CANCELLING_POLL_SECONDS)
    latencies = []
    try:
        for _ in range(repeats):
            run = Run.objects.trigger(project=project, pipeline="lingering", stack=stack, params={"mode": "c"})
            execute_run(run.pk)

            def step_running() -> bool:
                reconcile_once()
                return StepRun.objects.filter(run=run, status=StepStatus.RUNNING).exists()

            wait_for(step_running)
            Run.objects.get(pk=run.pk).cancel()
            # As the reconcile loop does it while a cancel is on its way: a pass, then a short pause.
            while not Run.objects.get(pk=run.pk).is_finished:
                reconcile_once()
                if not Run.objects.get(pk=run.pk).is_finished:
                    time.sleep(interval)
            run.refresh_from_db()
            latencies.append((run.finished_at - run.cancel_requested_at).total_seconds())
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        server.stop()
    print(f"cancel -> cancelled, fake state changes 1 s, reconcile every {interval:g} s while cancelling ({repeats} runs): "
          f"median {statistics.median(latencies):.2f} s  max {max(latencies):.2f} s")  # fmt: skip


def p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


def trigger_to_first_unit(project: Project, runs: int, latency: float) -> None:
    server = FakeVertex(step_seconds=3600, latency_seconds=latency)  # jobs stay queued: submission only
    stack = vertex_stack(server, "first-unit", placement="unit")
    latencies = []
    for _ in range(runs):
        run = Run.objects.trigger(project=project, pipeline="branching", stack=stack)
        execute_run(run.pk)
        first = UnitJob.objects.filter(run=run).exclude(submitted_at=None).order_by("submitted_at")[0].submitted_at
        latencies.append((first - run.created_at).total_seconds() * 1000)
    Run.objects.filter(stack=stack).update(status="cancelled")
    server.stop()
    print(f"placement unit: trigger -> first unit job submitted ({runs} runs, {latency * 1000:.0f} ms per request): "
          f"p50 {statistics.median(latencies):5.0f} ms  p95 {p95(latencies):5.0f} ms")  # fmt: skip


class QueryCounter:
    """Counts the statements run on the connection it wraps (`connection.execute_wrapper`): this thread's,
    where the control plane queries (its threads only call Vertex).

    Not CaptureQueriesContext, which measures by the length of Django's query log: the dev profile's DEBUG
    logs every query of the bench, the log keeps its last 9,000 (a deque), and once the earlier sections
    have filled it its length stops growing, so the fan-out counted "0.0 queries" per unit."""

    def __init__(self) -> None:
        self.queries = 0

    def __call__(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        self.queries += 1
        return execute(sql, params, many, context)


def fan_out(project: Project, runs: int, latency: float) -> None:
    server = FakeVertex(step_seconds=3600, latency_seconds=latency)
    stack = vertex_stack(server, "fan-out", placement="unit", max_concurrent_jobs=20)
    submitted, cpu, queries, follow_ms, follow_queries = [], [], [], [], []
    for _ in range(runs):
        run = Run.objects.trigger(project=project, pipeline="fan-out-20", stack=stack)
        start, cpu_start = time.perf_counter(), time.process_time()
        with connection.execute_wrapper(submitting := QueryCounter()):
            execute_run(run.pk)
        cpu.append((time.process_time() - cpu_start) / 20 * 1000)
        queries.append(submitting.queries / 20)
        submitted.append(time.perf_counter() - start)
        assert UnitJob.objects.filter(run=run).exclude(job_name="").count() == 20
        with connection.execute_wrapper(following := QueryCounter()):
            pass_start = time.process_time()
            remote_units.advance(run, stack.orchestrator())
            follow_ms.append((time.process_time() - pass_start) / 20 * 1000)
        follow_queries.append(following.queries / 20)
        Run.objects.filter(pk=run.pk).update(status="cancelled")
    server.stop()
    print(
        f"placement unit: 20-unit fan-out, claim -> all 20 jobs submitted ({runs} runs, {latency * 1000:.0f} ms "
        f"per request): p50 {statistics.median(submitted):.2f} s  max {max(submitted):.2f} s  (target < 2 s)"
    )
    print(f"control-plane work per unit: submit {statistics.median(cpu):.1f} ms CPU, "
          f"{statistics.median(queries):.1f} queries; follow, per reconcile pass "
          f"{statistics.median(follow_ms):.1f} ms CPU, {statistics.median(follow_queries):.1f} queries")  # fmt: skip


def main() -> None:
    call_command("migrate", verbosity=0)
    sync_pipelines()
    project = Project.objects.create(slug="bench", name="Bench")
    cancel_latency(project, 3)
    trigger_to_submitted(project, 20)
    reconcile_cost(project, 200, latency=0.0)
    reconcile_cost(project, 200, latency=0.05)
    trigger_to_first_unit(project, 20, latency=0.05)
    fan_out(project, 10, latency=0.05)


if __name__ == "__main__":
    main()
