"""Retention at scale: `prune` over 1,000,000 log lines, and how long each batch holds its lock.

    python -m bench.prune [--lines N]

Uses a scratch SQLite database (PostgreSQL when BENCH_DATABASE_URL names one, which it drops and creates
afresh) with 100 runs finished 100 days ago, each with N/100 log lines and a step event per line.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import timedelta

from bench import scratch

scratch.start("prune", database_url=os.environ.get("BENCH_DATABASE_URL"))

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Project  # noqa: E402
from runs import pruning  # noqa: E402
from runs.models import LogLine, PipelineDef, Run, RunStatus  # noqa: E402

RUNS = 100


def populate(lines: int) -> None:
    stack = scratch.prepare()
    project = Project.objects.create(slug="bench", name="Bench")
    pipeline = PipelineDef.objects.get(name="chatty")
    finished = timezone.now() - timedelta(days=100)
    runs = Run.objects.bulk_create(
        Run(project=project, pipeline=pipeline, stack=stack, status=RunStatus.COMPLETED, finished_at=finished)
        for _ in range(RUNS)
    )
    at = connection.ops.adapt_datetimefield_value(finished)
    per_run = lines // RUNS
    with connection.cursor() as cursor:
        for run in runs:
            cursor.executemany(
                "INSERT INTO runs_logline (run_id, seq, step, stream, level, text, at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(run.pk, seq, "chatter", "stdout", "INFO", f"line {seq} of a chatty step", at) for seq in range(1, per_run + 1)],
            )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"scratch database {connection.settings_dict['NAME']}")
    started = time.monotonic()
    populate(args.lines)
    print(f"inserted {LogLine.objects.count()} log lines in {time.monotonic() - started:.1f} s")

    deletes: list[float] = []

    def time_deletes(execute, sql, params, many, context):
        # In autocommit each DELETE is its own transaction: its duration is how long it holds its locks.
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            if sql.lstrip().upper().startswith("DELETE"):
                deletes.append(time.perf_counter() - began)

    started = time.monotonic()
    with connection.execute_wrapper(time_deletes):
        done = pruning.prune(timedelta(days=90))
    seconds = time.monotonic() - started
    print(
        f"prune: {done.log_lines} log lines of {done.runs} runs in {seconds:.1f} s = "
        f"{done.log_lines / seconds:,.0f} lines/s; {len(deletes)} DELETE statements, "
        f"longest {max(deletes) * 1000:.0f} ms (batches of {pruning.BATCH})"
    )
    assert LogLine.objects.count() == 0


if __name__ == "__main__":
    main()
