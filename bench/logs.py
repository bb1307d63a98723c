"""A run's whole log as a download: how long 1,000,000 lines take, and how little memory they hold.

    python -m bench.logs [--lines N]

Uses a scratch SQLite database and the API in-process (no network); each format's response is
consumed as a client would, sampling the process's resident memory after every chunk.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from bench import scratch

# DEBUG off: no query log growing with the chunks read.
scratch.start("logs", ALLOWED_HOSTS="testserver", DEBUG="false")

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from accounts.models import Membership, Project, Role  # noqa: E402
from runs.models import LogLine, Run  # noqa: E402


def populate(lines: int) -> tuple[APIClient, Run]:
    scratch.prepare()
    user = get_user_model().objects.create_user("bench", password="pw")
    project = Project.objects.create(slug="p", name="P")
    Membership.objects.create(user=user, project=project, role=Role.VIEWER)
    run = Run.objects.trigger(project=project, pipeline="chatty")
    table = connection.ops.quote_name(LogLine._meta.db_table)
    with connection.cursor() as cursor:
        # A line of typical length, written by the database itself.
        cursor.execute(
            f"INSERT INTO {table} (run_id, step, seq, stream, level, text, at) "
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) "
            "SELECT %s, 'train', i, 'stdout', 'INFO', 'epoch ' || i || ': loss 0.0421, accuracy 0.9876', %s FROM n",
            [lines, run.pk, connection.ops.adapt_datetimefield_value(timezone.now())],
        )
    client = APIClient()
    client.force_authenticate(user)
    return client, run


def rss() -> int:
    """This process's resident memory now, in bytes (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(client: APIClient, run: Run, fmt: str) -> tuple[float, int, int, int]:
    """Seconds, bytes and lines of one download, and how far resident memory rose above where it began."""
    start, before = time.perf_counter(), rss()
    response = client.get(f"/api/runs/{run.pk}/logs/download/", {"file_format": fmt})
    assert response.status_code == 200 and response.streaming
    size = lines = peak = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
        peak = max(peak, rss() - before)
    return time.perf_counter() - start, size, lines, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    client, run = populate(args.lines)
    print(f"a run with {LogLine.objects.filter(run=run).count():,} log lines")
    for fmt in ("text", "ndjson"):
        seconds, size, lines, peak = measure(client, run, fmt)
        assert lines == args.lines, f"{lines} of {args.lines} lines"
        print(
            f"download as {fmt:<6}: {size / 2**20:6.1f} MiB in {seconds:5.1f} s "
            f"({lines / seconds:9,.0f} lines/s); resident memory grew at most {peak / 2**20:5.1f} MiB"
        )


if __name__ == "__main__":
    main()
