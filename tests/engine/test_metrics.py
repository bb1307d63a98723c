"""log_metric: what a step records about itself reaches its result and the run's observer, checked."""

from __future__ import annotations

import math
import threading

import pytest

from flowsite.engine import LocalExecutor, MetricError, Pipeline, log_metric, step
from flowsite.engine.metrics import Metric

from .conftest import RecordingObserver


def test_a_step_records_metrics_on_its_result_and_tells_the_observer():
    @step
    def train():
        for epoch, loss in enumerate([0.9, 0.5, 0.25]):
            log_metric("loss", loss, step=epoch)
        log_metric("accuracy", 0.93)
        return "model"

    observer = RecordingObserver()
    result = LocalExecutor(observer=observer).execute_step(train, {}, {})
    assert result.metrics == [
        Metric("loss", 0.9, 0), Metric("loss", 0.5, 1), Metric("loss", 0.25, 2), Metric("accuracy", 0.93, None),
    ]  # fmt: skip
    assert observer.metrics == [
        ("train", "loss", 0.9, 0), ("train", "loss", 0.5, 1), ("train", "loss", 0.25, 2), ("train", "accuracy", 0.93, None),
    ]  # fmt: skip


def test_metrics_work_in_process_without_an_observer_and_from_threads_the_step_starts():
    @step
    def fan_out():
        worker = threading.Thread(target=lambda: log_metric("from_thread", 2))
        worker.start()
        worker.join()
        log_metric("count", 3)

    result = Pipeline("metrics_in_process", steps=[fan_out]).run()
    assert result.success
    assert [(m.name, m.value) for m in result.step_results["fan_out"].metrics] == [("from_thread", 2.0), ("count", 3.0)]


def test_a_failed_attempt_keeps_its_metrics_and_the_retry_adds_its_own():
    attempts = []

    @step(retry=1, retry_delay=0)
    def flaky():
        attempts.append(1)
        log_metric("attempt", len(attempts))
        if len(attempts) == 1:
            raise RuntimeError("first time fails")

    result = LocalExecutor().execute_step(flaky, {}, {})
    assert result.success
    assert [m.value for m in result.metrics] == [1.0, 2.0]


@pytest.mark.parametrize(
    ("name", "value", "index", "message"),
    [
        ("loss", math.nan, None, "metric 'loss' must be a finite number, not nan"),
        ("loss", math.inf, None, "metric 'loss' must be a finite number, not inf"),
        ("loss", -math.inf, None, "must be a finite number, not -inf"),
        ("loss", "0.5", None, "metric 'loss' must be a number, not str"),
        ("loss", True, None, "must be a number, not bool"),
        ("", 1.0, None, "must be 1 to 100 printable characters"),
        ("x" * 101, 1.0, None, "must be 1 to 100 printable characters"),
        ("bad\nname", 1.0, None, "printable characters"),
        (" padded", 1.0, None, "without leading or trailing spaces"),
        (5, 1.0, None, "a metric's name is a string, not int"),
        ("loss", 1.0, -1, "step must be a whole number from 0"),
        ("loss", 1.0, 1.5, "step must be a whole number from 0"),
    ],
)
def test_a_bad_metric_fails_the_step_saying_what_is_wrong(name, value, index, message):
    @step
    def bad():
        log_metric(name, value, step=index)

    result = LocalExecutor().execute_step(bad, {}, {})
    assert not result.success
    assert "MetricError" in result.error
    assert message in result.error
    assert result.metrics == []


def test_log_metric_outside_a_step_says_so():
    with pytest.raises(RuntimeError, match="outside a running step"):
        log_metric("accuracy", 0.5)
    with pytest.raises(MetricError):
        log_metric("accuracy", math.nan)


def test_integers_are_recorded_as_floats():
    @step
    def count():
        log_metric("rows", 10**6)

    assert LocalExecutor().execute_step(count, {}, {}).metrics == [Metric("rows", 1e6, None)]
