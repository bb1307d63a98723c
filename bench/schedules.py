"""Schedules: how late fire times are acted on, and whether any fires twice, with 2 schedulers and 2 workers.

    python -m bench.schedules [--fires N] [--schedules S] [--every SECONDS]

On a scratch database (BENCH_DATABASE_URL: a postgres:// URL, which the bench drops and creates afresh, or
SQLite in a temporary folder by default), starts two `manage.py scheduler` processes and two qclusters of
one worker each (the ORM broker on that database), then S schedules of the one-step `greeting` pipeline
firing every SECONDS seconds (a cron with a seconds field), staggered, until N fire times have passed.
Prints the lateness of the fires (when a scheduler committed the fire and its run, after the fire time)
and of the runs' starts (a worker running it), p50/p95/max; how the fires ended; and doubles: fire times
with more than one fire or run, runs claimed more than once, and runs no fire started.
Target (issue 11): fire lateness p95 <= 5 s over 100 fires; 0 doubles. Exits 1 if any double.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench import scratch

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = scratch.start("schedules", database_url=os.environ.get("BENCH_DATABASE_URL") or None)

from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402

from accounts.models import Project  # noqa: E402
from runs.models import FINAL_RUN_STATES, Run, RunEvent, RunStatus  # noqa: E402
from schedules.models import Schedule, ScheduleFire  # noqa: E402


def wait_for(condition, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return value


class Process:
    """A manage.py command in a session of its own, logging to the scratch folder; ready once `ready` is logged."""

    def __init__(self, command: str, ready: bytes, **env: str) -> None:
        self.command, self.ready = command, ready
        self.log_path = SCRATCH / f"{command}-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", command], cwd=ROOT, env={**os.environ, **env},
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def wait_ready(self) -> None:
        """Started apart, so that the processes come up side by side rather than one after another."""
        try:
            wait_for(
                lambda: self.ready in self.log_path.read_bytes() or self.process.poll() is not None, 60, self.command
            )
        except TimeoutError:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.command} did not start:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        # The main pid only: signalling qcluster's whole group can deadlock it.
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def percentiles(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"p50 {statistics.median(ordered):.3f} s, p95 {p95:.3f} s, max {ordered[-1]:.3f} s (n={len(ordered)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fires", type=int, default=100, help="fire times to wait for, over all schedules")
    parser.add_argument("--schedules", type=int, default=2)
    parser.add_argument("--every", type=int, default=2, help="seconds between one schedule's fire times (1 to 59)")
    args = parser.parse_args()

    stack = scratch.prepare()
    project = Project.objects.create(slug="bench", name="Bench")
    vendor = connection.vendor
    # A deployment's processes, on the scratch database, all up before the first schedule exists.
    schedulers: list[Process] = []
    workers: list[Process] = []
    try:
        for _ in range(2):
            schedulers.append(Process("scheduler", b"scheduler running"))
            # qcluster says it is running at INFO.
            workers.append(Process("qcluster", b"running.", FLOWSITE_WORKERS="1", LOG_LEVEL="INFO"))
        for process in schedulers + workers:
            process.wait_ready()
        started_at = time.monotonic()
        for index in range(args.schedules):
            # Staggered seconds, so that the schedules' fires spread over each period.
            offset = (index * args.every) // args.schedules
            schedule = Schedule(project=project, pipeline="greeting", stack=stack, cron=f"* * * * * {offset}-59/{args.every}",
                                params={"name": f"bench {index}"})  # fmt: skip
            schedule.plan()
            schedule.save()
        wait_for(lambda: ScheduleFire.objects.count() >= args.fires, args.fires * args.every * 3 + 60, "the fires")
        for schedule in Schedule.objects.all():
            schedule.pause()
        elapsed = time.monotonic() - started_at
        for process in schedulers:
            process.stop()
        wait_for(lambda: not Run.objects.exclude(status__in=FINAL_RUN_STATES).exists(), 300, "the runs to end")
    finally:
        for process in schedulers + workers:
            process.stop()

    fires = list(ScheduleFire.objects.order_by("fire_at")[: args.fires].select_related("run"))
    outcomes = Counter(fire.outcome for fire in ScheduleFire.objects.all())
    fire_lateness = [(fire.fired_at - fire.fire_at).total_seconds() for fire in fires]
    start_lateness = [
        (fire.run.started_at - fire.fire_at).total_seconds()
        for fire in fires
        if fire.run is not None and fire.run.started_at is not None
    ]
    twice_fired = ScheduleFire.objects.values("schedule", "fire_at").annotate(n=Count("pk")).filter(n__gt=1).count()
    claims = RunEvent.objects.filter(step=None, new_status=RunStatus.RUNNING).values("run").annotate(n=Count("pk"))
    twice_claimed = claims.filter(n__gt=1).count()
    without_fire = Run.objects.filter(schedule_fire=None).count()
    doubles = twice_fired + twice_claimed + without_fire
    runs = Counter(Run.objects.values_list("status", flat=True))
    by_scheduler = Counter(fire.fired_by.split(":")[-1] for fire in ScheduleFire.objects.all())

    print(f"schedules on {vendor}: {args.schedules} schedule(s) every {args.every} s, 2 schedulers, 2 workers, "
          f"{sum(outcomes.values())} fires in {elapsed:.0f} s")  # fmt: skip
    print(
        f"fire lateness (fire time -> fire and run committed), first {len(fires)} fires: {percentiles(fire_lateness)}"
    )
    print(f"start lateness (fire time -> a worker runs it): {percentiles(start_lateness)}")
    print(f"fires by outcome: {dict(outcomes)}; by scheduler pid: {dict(by_scheduler)}; runs: {dict(runs)}")
    print(f"doubles: {doubles} (fire times fired twice {twice_fired}, runs claimed twice {twice_claimed}, "
          f"runs without a fire {without_fire})")  # fmt: skip
    return 1 if doubles else 0


if __name__ == "__main__":
    raise SystemExit(main())
