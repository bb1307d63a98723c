"""Metrics read back for people: a run's scores, the same runs side by side, a metric across a pipeline's runs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from .models import Metric, Run, StepRun

MIN_COMPARED = 2
MAX_COMPARED = 10
MAX_CHARTED_RUNS = 1000
# Step durations this close are the same for the eye: a comparison marks what a person would act on.
DURATION_TOLERANCE = 0.10


def last_metric_values(run_ids: Iterable[int], names: Sequence[str] | None = None) -> dict[int, dict[str, float]]:
    """Each run's last value of each metric (or of the named ones), by run id; one query."""
    metrics = Metric.objects.filter(run_id__in=list(run_ids))
    if names is not None:
        metrics = metrics.filter(name__in=names)
    values: dict[int, dict[str, float]] = defaultdict(dict)
    for run_id, name, value in metrics.last_values().order_by("run_id", "name").values_list("run_id", "name", "value"):
        values[run_id][name] = value
    return values


def _differs(values: list[Any]) -> bool:
    return any(value != values[0] for value in values[1:])


def _durations_differ(values: list[float | None]) -> bool:
    if any(value is None for value in values):
        return _differs(values)
    low, high = min(values), max(values)  # type: ignore[type-var]
    return high - low > DURATION_TOLERANCE * max(high, 0.001)


def compare(runs: Sequence[Run]) -> dict[str, Any]:
    """The runs' parameters, metrics and step durations as rows of one value per run, each marked where they differ."""
    ids = [run.pk for run in runs]
    metrics = last_metric_values(ids)
    steps: dict[int, dict[str, tuple[str, float | None]]] = defaultdict(dict)
    step_names: list[str] = []
    for run_id, name, status, duration in (
        StepRun.objects.filter(run_id__in=ids)
        .order_by("position", "id")
        .values_list("run_id", "name", "status", "duration_seconds")
    ):
        steps[run_id][name] = (status, duration)
        if name not in step_names:
            step_names.append(name)
    param_names = sorted({name for run in runs for name in run.params})
    metric_names = sorted({name for values in metrics.values() for name in values})

    def rows(names: list[str], value_of: Any, differ: Any = _differs) -> list[dict[str, Any]]:
        out = []
        for name in names:
            values = [value_of(run, name) for run in runs]
            out.append({"name": name, "values": values, "differs": differ(values)})
        return out

    step_rows = rows(step_names, lambda run, name: steps[run.pk].get(name, (None, None))[1], _durations_differ)
    for row in step_rows:
        row["statuses"] = [steps[run.pk].get(row["name"], (None, None))[0] for run in runs]
        row["differs"] = row["differs"] or _differs(row["statuses"])
    return {
        "runs": [
            {
                "id": run.pk, "pipeline": run.pipeline.name, "code_version": run.pipeline.code_version,
                "status": run.status, "created_at": run.created_at, "duration_seconds": run.duration_seconds,
            }
            for run in runs
        ],
        "params": rows(param_names, lambda run, name: run.params.get(name)),
        "metrics": rows(metric_names, lambda run, name: metrics[run.pk].get(name)),
        "steps": step_rows,
    }  # fmt: skip


def metric_series(runs: Sequence[tuple[int, datetime, str]]) -> dict[str, Any]:
    """For a chart of the runs given as (id, created_at, status): those that recorded metrics, oldest first,
    and each metric's value in each (null if none). Rows, not models: building 1,000 Run instances was
    most of the chart's wait."""
    values = last_metric_values([run_id for run_id, _, _ in runs])
    charted = sorted((run for run in runs if values.get(run[0])), key=lambda run: (run[1], run[0]))
    names = sorted({name for run_values in values.values() for name in run_values})
    return {
        "runs": [{"id": run_id, "created_at": created_at, "status": status} for run_id, created_at, status in charted],
        "metrics": {name: [values[run_id].get(name) for run_id, _, _ in charted] for name in names},
    }
