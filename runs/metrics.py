"""Prometheus metrics, read from the database at scrape time: the record is the truth, so the numbers
agree with it whichever web process answers, with no per-process counters to add up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from stacks.registry import remote_kinds

from .health import WORKER_BEAT
from .models import ACTIVE_RUN_STATES, Lease, LogLine, Run, RunStatus, StepRun

DURATION_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
RECENT = timedelta(hours=1)


class FlowsiteCollector(Collector):
    def __init__(self) -> None:
        self._last_line: tuple[float, int] | None = None

    def collect(self) -> Iterator[Any]:
        now = timezone.now()
        by_status = GaugeMetricFamily("flowsite_runs", "Runs by status.", labels=["status"])
        counts = dict(Run.objects.order_by().values_list("status").annotate(n=Count("id")))
        for status in RunStatus.values:
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status

        queued = Run.objects.filter(status=RunStatus.QUEUED).aggregate(n=Count("id"), oldest=Min("created_at"))
        yield GaugeMetricFamily("flowsite_queue_depth", "Runs waiting for a worker.", value=queued["n"])
        oldest = (now - queued["oldest"]).total_seconds() if queued["oldest"] else 0
        yield GaugeMetricFamily(
            "flowsite_oldest_queued_run_age_seconds", "How long the oldest queued run has waited.", value=oldest
        )

        yield _histogram(
            "flowsite_run_duration_seconds",
            "Durations of runs finished in the last hour.",
            Run.objects.filter(finished_at__gte=now - RECENT, started_at__isnull=False)
            .annotate(d=ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()))
            .values_list("d", flat=True),
        )
        yield _histogram(
            "flowsite_step_duration_seconds",
            "Durations of steps that finished in the last hour.",
            [
                timedelta(seconds=s)
                for s in StepRun.objects.filter(
                    finished_at__gte=now - RECENT, duration_seconds__isnull=False
                ).values_list("duration_seconds", flat=True)
            ],
        )

        beat = Lease.objects.filter(name=WORKER_BEAT).values_list("expires_at", flat=True).first()
        yield GaugeMetricFamily(
            "flowsite_workers_alive",
            "1 if a worker ran a scheduled task recently.",
            value=int(bool(beat and beat > now)),
        )

        stale = Run.objects.filter(status__in=ACTIVE_RUN_STATES, stack__kind__in=remote_kinds()).aggregate(
            oldest=Min("heartbeat_at")
        )["oldest"]
        yield GaugeMetricFamily(
            "flowsite_reconcile_lag_seconds",
            "Age of the oldest news of an active remote run (reports and reconcile passes refresh it).",
            value=(now - stale).total_seconds() if stale else 0,
        )

        yield GaugeMetricFamily(
            "flowsite_log_lines_per_second",
            "Log lines stored per second since the last scrape.",
            value=self._ingest_rate(),
        )

    def _ingest_rate(self) -> float:
        # Ids only grow, and the primary key answers MAX at once even on a huge table.
        last = LogLine.objects.aggregate(m=Max("id"))["m"] or 0
        now = time.monotonic()
        previous, self._last_line = self._last_line, (now, last)
        if previous is None or now <= previous[0]:
            return 0.0
        return max(0, last - previous[1]) / (now - previous[0])


def _histogram(name: str, documentation: str, durations: Any) -> HistogramMetricFamily:
    seconds = sorted(d.total_seconds() for d in durations if d is not None)
    buckets = [(str(bound), sum(1 for s in seconds if s <= bound)) for bound in DURATION_BUCKETS]
    buckets.append(("+Inf", len(seconds)))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=sum(seconds))
