"""Numbers a step records about itself (`log_metric("accuracy", 0.93)`), told to the run's observer.

A step calls `log_metric` from its own code, or from a thread it started; the executor knows which step
is running there, as it does for the step's printed lines. A metric is checked where it is logged, so a
bad name or a NaN fails in the step that made it, with a message saying which, rather than in a report
the control plane refuses later.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from numbers import Real
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .observer import RunObserver

MAX_NAME_CHARS = 100
# A series index fits the database's integer column.
MAX_STEP_INDEX = 2**31 - 1


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    step_index: int | None = None


class MetricError(ValueError):
    """A metric that cannot be recorded: a bad name, a value that is not a finite number, a bad index.

    `field` says which of `log_metric`'s arguments is wrong: name, value or step.
    """

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def checked_metric(name: object, value: object, step: object = None) -> Metric:
    """The metric as it is recorded, or MetricError saying what is wrong with it."""
    if not isinstance(name, str):
        raise MetricError(f"a metric's name is a string, not {type(name).__name__}", "name")
    if not name.strip() or len(name) > MAX_NAME_CHARS or not name.isprintable() or name != name.strip():
        raise MetricError(
            f"metric name {name[:MAX_NAME_CHARS]!r} must be 1 to {MAX_NAME_CHARS} printable characters, "
            "without leading or trailing spaces",
            "name",
        )
    # bool is a Real too, and True recorded as 1.0 would hide a mistake.
    if isinstance(value, bool) or not isinstance(value, Real):
        raise MetricError(f"metric {name!r} must be a number, not {type(value).__name__}", "value")
    number = float(value)
    if not math.isfinite(number):
        raise MetricError(f"metric {name!r} must be a finite number, not {number}", "value")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP_INDEX):
        raise MetricError(
            f"metric {name!r}: step must be a whole number from 0 to {MAX_STEP_INDEX}, not {step!r}", "step"
        )
    return Metric(name, number, step)


class MetricSink:
    """Where the metrics of one running step go: its result, and the run's observer as they come."""

    def __init__(self, step_name: str, observer: RunObserver | None) -> None:
        self.step_name = step_name
        self.observer = observer
        self.metrics: list[Metric] = []

    def record(self, metric: Metric) -> None:
        self.metrics.append(metric)
        if self.observer is not None:
            self.observer.log_metric(self.step_name, metric.name, metric.value, metric.step_index)


_lock = threading.Lock()
_active: dict[int, MetricSink] = {}


def start(sink: MetricSink) -> None:
    with _lock:
        _active[threading.get_ident()] = sink


def stop(sink: MetricSink) -> None:
    with _lock:
        if _active.get(threading.get_ident()) is sink:
            del _active[threading.get_ident()]


def _sink_here() -> MetricSink | None:
    with _lock:
        sink = _active.get(threading.get_ident())
        if sink is None and len(_active) == 1:
            # A thread the step started: with one step running, its metrics are that step's.
            sink = next(iter(_active.values()))
        return sink


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record a metric of the running step; `step` orders a series (an epoch, an iteration).

    Raises MetricError for a bad metric, and RuntimeError outside a running step.
    """
    metric = checked_metric(name, value, step)
    sink = _sink_here()
    if sink is None:
        raise RuntimeError("log_metric() was called outside a running step")
    sink.record(metric)
