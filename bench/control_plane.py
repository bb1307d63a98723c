"""Control-plane figures through the real worker path, on a scratch SQLite database.

    python -m bench.control_plane [--quick]

Prints: per-step overhead of a 2,000-step chain, trigger to first step running (ORM broker,
and Redis when REDIS_URL is set), cancel latency, throughput of 500 one-step runs on two
workers, and log ingestion of one step printing 200,000 lines. Targets are from issue 3.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The broker is fixed when Django starts, so the Redis figure comes from a second process.
REDIS_ONLY = "--redis-latency" in sys.argv
REDIS_URL = os.environ.get("REDIS_URL", "") if REDIS_ONLY else os.environ.pop("REDIS_URL", "")
SCRATCH = Path(tempfile.mkdtemp(prefix="flowsite-bench-"))
os.environ.update(
    DJANGO_SETTINGS_MODULE="flowsite.settings",
    FLOWSITE_PROFILE="dev",
    # As deployed: with DEBUG on, Django logs every query, which costs more than what is measured here.
    DEBUG="false",
    DATABASE_URL=f"sqlite:///{SCRATCH / 'bench.sqlite3'}",
    FLOWSITE_PIPELINES="bench.pipelines",
    FLOWSITE_ARTIFACT_ROOT=str(SCRATCH / "artifacts"),
    FLOWSITE_CANCEL_GRACE="3",
    LOG_LEVEL="WARNING",
)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Project  # noqa: E402
from runs.execution import execute_run  # noqa: E402
from runs.models import FINAL_RUN_STATES, LogLine, Run, StepRun, StepStatus  # noqa: E402
from runs.registry import sync_pipelines  # noqa: E402
from stacks.models import Stack  # noqa: E402


def wait_for(condition, timeout: float = 120.0, every: float = 0.005):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not met in time")
        time.sleep(every)
    return value


class Cluster:
    def __init__(self, workers: int, redis_url: str = "") -> None:
        env = {**os.environ, "FLOWSITE_WORKERS": str(workers), "LOG_LEVEL": "INFO"}
        if redis_url:
            env["REDIS_URL"] = redis_url
        self.log = open(SCRATCH / f"qcluster-{time.monotonic_ns()}.log", "wb+")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            wait_for(lambda: b"running." in Path(self.log.name).read_bytes(), 30)
        except TimeoutError:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def trigger(project: Project, pipeline: str, **params: object) -> Run:
    return Run.objects.trigger(project=project, pipeline=pipeline, params=params)


def finished(run: Run) -> Run:
    wait_for(lambda: Run.objects.filter(pk=run.pk, status__in=FINAL_RUN_STATES).exists())
    run.refresh_from_db()
    return run


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def per_step_overhead(project: Project) -> None:
    run = trigger(project, "bench-chain")
    execute_run(run.pk)
    run.refresh_from_db()
    steps = StepRun.objects.filter(run=run, status=StepStatus.COMPLETED).count()
    seconds = (run.finished_at - run.started_at).total_seconds()
    print(f"per-step overhead, {steps}-step chain, worker path: {seconds / steps * 1e6:8.0f} us/step   target <= 300")


def trigger_latency(project: Project, label: str, redis_url: str, runs: int, target_ms: int) -> None:
    if redis_url:
        from django_q.brokers import get_broker

        get_broker().purge_queue()
    cluster = Cluster(workers=2, redis_url=redis_url)
    try:
        latencies = []
        for _ in range(runs):
            run = trigger(project, "bench-one-step")
            step = wait_for(lambda: StepRun.objects.filter(run=run, started_at__isnull=False).first())
            latencies.append((step.started_at - run.created_at).total_seconds() * 1000)
            finished(run)
        p50, p95 = statistics.median(latencies), percentile(latencies, 95)
        print(
            f"trigger -> first step running, {label:<5} ({runs} runs): p50 {p50:6.0f} ms  p95 {p95:6.0f} ms   target p50 <= {target_ms}"
        )
    finally:
        cluster.stop()


def cancel_latency(project: Project, mode: str, repeats: int) -> None:
    cluster = Cluster(workers=2)
    try:
        latencies = []
        for _ in range(repeats):
            run = trigger(project, "bench-blocking", mode=mode)
            wait_for(lambda: StepRun.objects.filter(run=run, status=StepStatus.RUNNING).exists())
            run = Run.objects.get(pk=run.pk).cancel()
            run = finished(run)
            assert run.status == "cancelled", run.status
            latencies.append((run.finished_at - run.cancel_requested_at).total_seconds())
        target = "1 s" if mode == "python" else "grace + 1 s"
        print(
            f"cancel -> cancelled, step blocked in {mode:<6} ({repeats} runs): p95 {percentile(latencies, 95):5.2f} s   target <= {target}"
        )
    finally:
        cluster.stop()


def throughput(project: Project, runs: int) -> None:
    queued = [trigger(project, "bench-one-step") for _ in range(runs)]
    cluster = Cluster(workers=2)
    try:
        start = time.monotonic()
        # Polled slowly, so that watching costs the workers little.
        wait_for(lambda: not Run.objects.filter(status__in=("queued", "running")).exists(), 600, every=0.1)
        seconds = time.monotonic() - start
        completed = Run.objects.filter(pk__in=[r.pk for r in queued], status="completed").count()
        print(
            f"throughput, {runs} one-step runs, 2 workers: {completed / seconds:6.1f} runs/s ({completed} completed in {seconds:.1f} s)   target >= 50"
        )
    finally:
        cluster.stop()


def log_ingestion(project: Project, lines: int) -> None:
    run = trigger(project, "bench-chatty", lines=lines)
    execute_run(run.pk)
    run.refresh_from_db()
    step = StepRun.objects.get(run=run)
    stored = LogLine.objects.filter(run=run, step="shout")
    count = stored.count()
    last = stored.order_by("-seq").values_list("at", flat=True).first()
    texts = list(stored.order_by("seq").values_list("text", flat=True))
    in_order = texts == [f"line {i}" for i in range(lines)]
    seconds = (run.finished_at - step.started_at).total_seconds()
    print(
        f"log ingestion, one step printing {lines} lines: {count / seconds:8.0f} lines/s stored, all in order: {in_order}   target >= 50000"
    )
    assert last is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, for a smoke test")
    parser.add_argument("--redis-latency", action="store_true", help="only trigger latency with REDIS_URL's broker")
    parser.add_argument("--only", choices=["steps", "latency", "cancel", "throughput", "logs"], help="one figure only")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    Stack.objects.create(name="local", kind="local", is_default=True, open_to_all_projects=True)
    project = Project.objects.create(slug="bench", name="Bench")
    sync_pipelines()
    quick = args.quick
    if args.redis_latency:
        trigger_latency(project, "Redis", REDIS_URL, 10 if quick else 50, 100)
        return
    print(f"scratch database {SCRATCH}; started {timezone.now():%Y-%m-%d %H:%M:%S}")
    wanted = {args.only} if args.only else {"steps", "latency", "cancel", "throughput", "logs"}
    if "steps" in wanted:
        per_step_overhead(project)
    if "latency" in wanted:
        trigger_latency(project, "ORM", "", 10 if quick else 50, 300)
        if REDIS_URL:
            command = [sys.executable, "-m", "bench.control_plane", "--redis-latency"] + (["--quick"] if quick else [])
            subprocess.run(command, cwd=ROOT, env={**os.environ, "REDIS_URL": REDIS_URL}, check=True)
        else:
            print("trigger -> first step running, Redis: skipped (set REDIS_URL to measure it)")
    if "cancel" in wanted:
        cancel_latency(project, "python", 3 if quick else 10)
        cancel_latency(project, "c", 3 if quick else 10)
    if "throughput" in wanted:
        throughput(project, 50 if quick else 500)
    if "logs" in wanted:
        log_ingestion(project, 20_000 if quick else 200_000)


if __name__ == "__main__":
    main()
