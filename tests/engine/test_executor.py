"""LocalExecutor.execute_step: conditions, cache, retries, timeouts, stops, materialization."""

from __future__ import annotations

import sys
import threading
import time

from flowsite.engine import ExecutionResult, LocalExecutor, StopExecution, step
from flowsite.engine.outputs import SkippedOutput
from tests.timing import within

from .conftest import ForbiddenStore, RecordingArtifactStore, RecordingCacheStore, RecordingObserver

STOPPED = "Execution stopped by user"


def run(s, inputs=None, params=None, executor=None, **kwargs) -> ExecutionResult:
    return (executor or LocalExecutor()).execute_step(s, inputs or {}, params or {}, **kwargs)


# --- basics --------------------------------------------------------------------------


def test_successful_step_returns_its_output():
    @step
    def add(a, b):
        return a + b

    result = run(add, {"a": 1}, {"b": 2})
    assert isinstance(result, ExecutionResult)
    assert result.step_name == "add"
    assert result.success is True
    assert result.output == 3
    assert result.error is None
    assert result.cached is False
    assert result.skipped is False
    assert result.retries == 0
    assert result.duration_seconds >= 0


def test_exception_error_contains_the_message_and_the_traceback():
    @step
    def explode():
        raise ValueError("the data set is empty")

    result = run(explode)
    assert result.success is False
    assert "the data set is empty" in result.error
    assert "Traceback" in result.error
    assert "explode" in result.error
    assert 'raise ValueError("the data set is empty")' in result.error


# --- conditions ----------------------------------------------------------------------


def test_false_condition_skips_without_calling_the_function():
    calls = []

    @step(condition=lambda: False)
    def register():
        calls.append(1)
        return "registered"

    result = run(register)
    assert result.success is True
    assert result.skipped is True
    assert result.error == "Skipped: its condition returned false"
    assert result.output is None
    assert calls == []


def test_true_condition_runs_the_step():
    @step(condition=lambda: True)
    def register():
        return "registered"

    result = run(register)
    assert result.success is True
    assert result.skipped is False
    assert result.output == "registered"


def test_condition_that_raises_fails_the_step():
    calls = []

    def broken():
        raise RuntimeError("metric missing")

    @step(condition=broken)
    def register():
        calls.append(1)

    result = run(register)
    assert result.success is False
    assert result.error.startswith("Condition check failed")
    assert "metric missing" in result.error
    assert calls == []


def test_condition_receives_only_what_its_signature_names():
    received = []

    def accuracy_passes(accuracy, threshold):
        received.append({"accuracy": accuracy, "threshold": threshold})
        return accuracy >= threshold

    @step(condition=accuracy_passes)
    def register(model, accuracy, threshold, registry):
        return f"{model}@{registry}"

    result = run(
        register,
        {"model": "m1", "accuracy": 0.9},
        {"threshold": 0.8, "registry": "prod"},
    )
    assert received == [{"accuracy": 0.9, "threshold": 0.8}]
    assert result.success is True
    assert result.output == "m1@prod"

    skipped = run(register, {"model": "m1", "accuracy": 0.5}, {"threshold": 0.8, "registry": "prod"})
    assert skipped.skipped is True


def test_condition_without_parameters_is_called_without_arguments():
    @step(condition=lambda: False)
    def s(x):
        return x

    assert run(s, {"x": 1}, {"p": 2}).skipped is True


# --- skipped inputs -------------------------------------------------------------------


def test_input_from_a_skipped_step_skips_the_step_without_calling_it():
    calls = []

    @step
    def deploy(model):
        calls.append(model)
        return "deployed"

    result = run(deploy, {"model": SkippedOutput("register")})
    assert result.success is True
    assert result.skipped is True
    assert result.output is None
    assert calls == []


# --- cache ---------------------------------------------------------------------------


def test_cache_hit_returns_cached_without_calling_the_function():
    calls = []

    @step
    def expensive(x):
        calls.append(x)
        return x * 10

    key = expensive.get_cache_key({"x": 4}, {})
    store = RecordingCacheStore(preset={key: 999})
    result = run(expensive, {"x": 4}, {}, cache_store=store)
    assert result.success is True
    assert result.cached is True
    assert result.output == 999
    assert calls == []
    assert store.sets == []


def test_successful_result_is_cached_with_key_name_and_code_hash():
    @step
    def expensive(x, scale):
        return x * scale

    store = RecordingCacheStore()
    result = run(expensive, {"x": 4}, {"scale": 3}, cache_store=store)
    assert result.success is True
    assert result.cached is False
    assert store.sets == [(expensive.get_cache_key({"x": 4}, {"scale": 3}), 12, "expensive", expensive.get_code_hash())]

    again = run(expensive, {"x": 4}, {"scale": 3}, cache_store=store)
    assert again.cached is True
    assert again.output == 12


def test_failed_result_is_not_cached():
    @step
    def broken(x):
        raise ValueError("nope")

    store = RecordingCacheStore()
    result = run(broken, {"x": 1}, cache_store=store)
    assert result.success is False
    assert store.sets == []


def test_none_result_is_not_cached():
    calls = []

    @step
    def side_effect(x):
        calls.append(x)
        return None

    store = RecordingCacheStore()
    assert run(side_effect, {"x": 1}, cache_store=store).success is True
    assert store.sets == []
    run(side_effect, {"x": 1}, cache_store=store)
    assert calls == [1, 1]


def test_cache_false_never_touches_the_store():
    calls = []

    @step(cache=False)
    def fresh(x):
        calls.append(x)
        return x + 1

    store = ForbiddenStore()
    first = run(fresh, {"x": 1}, cache_store=store)
    second = run(fresh, {"x": 1}, cache_store=store)
    assert first.success and second.success, (first.error, second.error)
    assert first.output == second.output == 2
    assert first.cached is False and second.cached is False
    assert calls == [1, 1]


def test_changed_input_is_a_cache_miss():
    calls = []

    @step
    def square(x):
        calls.append(x)
        return x * x

    store = RecordingCacheStore()
    run(square, {"x": 2}, cache_store=store)
    result = run(square, {"x": 3}, cache_store=store)
    assert result.cached is False
    assert result.output == 9
    assert calls == [2, 3]


# --- retries -------------------------------------------------------------------------


def test_always_failing_step_is_tried_retry_plus_one_times():
    calls = []

    @step(retry=2, retry_delay=0)
    def flaky():
        calls.append(1)
        raise ConnectionError(f"attempt {len(calls)} failed")

    result = run(flaky)
    assert result.success is False
    assert len(calls) == 3
    assert result.retries == 3
    assert "attempt 3 failed" in result.error


def test_step_that_recovers_counts_only_failed_attempts():
    calls = []

    @step(retry=3, retry_delay=0)
    def flaky():
        calls.append(1)
        if len(calls) < 2:
            raise ConnectionError("transient")
        return "ok"

    result = run(flaky)
    assert result.success is True
    assert result.output == "ok"
    assert len(calls) == 2
    assert result.retries == 1


def test_no_retry_means_one_attempt():
    calls = []

    @step
    def once():
        calls.append(1)
        raise ValueError("x")

    result = run(once)
    assert len(calls) == 1
    assert result.retries == 1
    assert result.success is False


def test_retry_backoff_doubles_retry_delay():
    stamps = []

    @step(retry=3, retry_delay=0.05)
    def flaky():
        stamps.append(time.monotonic())
        raise ConnectionError("down")

    result = run(flaky)
    assert result.success is False
    assert len(stamps) == 4
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert gaps[0] >= 0.05
    assert gaps[1] >= 0.10
    assert gaps[2] >= 0.20


def test_retry_backoff_with_an_observer_also_waits():
    stamps = []

    @step(retry=2, retry_delay=0.05)
    def flaky():
        stamps.append(time.monotonic())
        raise ConnectionError("down")

    run(flaky, executor=LocalExecutor(observer=RecordingObserver()))
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert len(gaps) == 2
    assert gaps[0] >= 0.05
    assert gaps[1] >= 0.10


def test_stop_execution_raised_by_the_step_is_not_retried():
    calls = []

    @step(retry=3, retry_delay=0)
    def stopper():
        calls.append(1)
        raise StopExecution()

    result = run(stopper)
    assert result.success is False
    assert result.error == STOPPED
    assert len(calls) == 1


# --- timeouts ------------------------------------------------------------------------


def test_timeout_interrupts_a_python_busy_loop():
    @step(timeout=0.3)
    def spin():
        end = time.monotonic() + 30
        while time.monotonic() < end:
            pass
        return "finished"

    start = time.monotonic()
    result = run(spin)
    elapsed = time.monotonic() - start
    assert result.success is False
    assert "timed out after 0.3 s" in result.error
    assert elapsed < within(5)


def test_timeout_interrupts_time_sleep():
    @step(timeout=0.3)
    def nap():
        time.sleep(30)
        return "rested"

    start = time.monotonic()
    result = run(nap)
    elapsed = time.monotonic() - start
    assert result.success is False
    assert "timed out after 0.3 s" in result.error
    assert elapsed < within(5)


def test_timed_out_step_is_retried_and_can_succeed():
    calls = []

    @step(timeout=0.3, retry=1, retry_delay=0.01)
    def slow_then_fast():
        calls.append(1)
        if len(calls) == 1:
            time.sleep(30)
        return "done"

    start = time.monotonic()
    result = run(slow_then_fast)
    assert time.monotonic() - start < within(5)
    assert result.success is True, result.error
    assert result.output == "done"
    assert len(calls) == 2
    assert result.retries == 1


def test_timeout_with_retry_exhausted_reports_the_timeout():
    calls = []

    @step(timeout=0.2, retry=1, retry_delay=0.01)
    def always_slow():
        calls.append(1)
        time.sleep(30)

    start = time.monotonic()
    result = run(always_slow)
    assert time.monotonic() - start < within(5)
    assert result.success is False
    assert "timed out after 0.2 s" in result.error
    assert len(calls) == 2
    assert result.retries == 2


def test_timeout_interrupts_a_busy_loop_outside_the_main_thread():
    @step(timeout=0.3)
    def spin():
        end = time.monotonic() + 30
        while time.monotonic() < end:
            pass
        return "finished"

    box = {}

    def worker():
        box["start"] = time.monotonic()
        box["result"] = run(spin)
        box["end"] = time.monotonic()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive()
    result = box["result"]
    assert result.success is False
    assert "timed out after 0.3 s" in result.error
    assert box["end"] - box["start"] < within(5)


def test_a_traced_thread_ends_at_its_steps_timeout_and_runs_on():
    # Under a tracer (coverage, a debugger) CPython 3.11 spun for good in a thread whose pending
    # interrupt had been cleared; the thread must end its step and carry on running Python code.
    @step(timeout=0.3)
    def spin():
        end = time.monotonic() + 30
        while time.monotonic() < end:
            pass

    def tracer(frame, event, arg):
        return tracer

    box = {}

    def worker():
        sys.settrace(tracer)
        try:
            box["result"] = run(spin)
            box["after"] = sum(range(1000))
        finally:
            sys.settrace(None)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert "timed out after 0.3 s" in box["result"].error
    assert box["after"] == 499500


def test_step_that_swallows_the_timeout_still_fails_as_timed_out():
    # "A step past `timeout` seconds fails": catching Exception must not turn an overrun into a success.
    @step(timeout=0.3)
    def stubborn():
        try:
            time.sleep(30)
        except Exception:
            pass
        return "finished anyway"

    start = time.monotonic()
    result = run(stubborn)
    assert time.monotonic() - start < within(5)
    assert result.success is False
    assert "timed out after 0.3 s" in (result.error or "")


def test_timeout_ends_a_step_that_catches_every_exception_and_carries_on():
    @step(timeout=0.3)
    def retries_forever():
        while True:
            try:
                time.sleep(30)
            except Exception:
                continue

    start = time.monotonic()
    result = run(retries_forever)
    assert time.monotonic() - start < within(5)
    assert result.success is False
    assert "timed out after 0.3 s" in (result.error or "")


def test_stop_request_ends_a_step_that_swallows_stop_execution(observer):
    @step
    def ignores_stops():
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                while time.monotonic() < end:
                    pass
            except Exception:
                continue
        return "finished"

    timer = _stop_soon(observer)
    try:
        result = run(ignores_stops, executor=LocalExecutor(observer=observer))
        returned = time.monotonic()
    finally:
        timer.cancel()
    assert result.success is False
    assert result.error == STOPPED
    # One delivery as StopExecution, which it swallows, then one it cannot swallow a second later.
    assert returned - timer.stopped_at < within(4)


def test_fast_step_with_timeout_succeeds_and_is_not_interrupted_later():
    @step(timeout=0.2)
    def quick():
        return 42

    result = run(quick)
    assert result.success is True
    assert result.output == 42
    # The deadline passing after the step ended must not raise anywhere.
    deadline = time.monotonic() + 0.4
    while time.monotonic() < deadline:
        pass


# --- materialization -----------------------------------------------------------------


def test_output_is_materialized_when_store_and_run_id_are_given():
    @step
    def make_model():
        return {"weights": [1, 2]}

    store = RecordingArtifactStore(uri="mem://models/1")
    result = run(make_model, artifact_store=store, run_id="run-7", project_name="proj")
    assert result.success is True
    assert store.calls == [
        {
            "obj": {"weights": [1, 2]},
            "name": "make_model",
            "run_id": "run-7",
            "step_name": "make_model",
            "project_name": "proj",
        }
    ]
    assert result.artifact_uri == "mem://models/1"


def test_each_declared_output_is_materialized_under_its_own_name():
    @step(outputs=["train", "test"])
    def split():
        return [1, 2, 3], [4]

    store = RecordingArtifactStore(uri="mem://split/1")
    result = run(split, artifact_store=store, run_id="run-8")
    assert [(call["name"], call["obj"]) for call in store.calls] == [("train", [1, 2, 3]), ("test", [4])]
    assert result.artifact_uri == "mem://split/1"


def test_project_name_defaults_to_default():
    store = RecordingArtifactStore()
    run(step(name="s")(lambda: 1), artifact_store=store, run_id="r")
    assert store.calls[0]["project_name"] == "default"


def test_no_materialization_without_run_id():
    store = RecordingArtifactStore()
    result = run(step(name="s")(lambda: 1), artifact_store=store)
    assert result.success is True
    assert store.calls == []
    assert result.artifact_uri is None


def test_no_materialization_of_a_none_output():
    store = RecordingArtifactStore()
    result = run(step(name="s")(lambda: None), artifact_store=store, run_id="r")
    assert result.success is True
    assert store.calls == []
    assert result.artifact_uri is None


def test_no_artifact_uri_without_store():
    result = run(step(name="s")(lambda: 1), run_id="r")
    assert result.success is True
    assert result.artifact_uri is None


# --- observers: events and stop requests -----------------------------------------------


def test_observer_hears_each_attempt_and_one_finish(observer):
    @step(retry=2, retry_delay=0)
    def flaky():
        raise ConnectionError("down")

    result = run(flaky, executor=LocalExecutor(observer=observer))
    assert observer.started == [("flaky", 1), ("flaky", 2), ("flaky", 3)]
    assert observer.finished == [result]


def test_observer_hears_a_single_attempt_for_a_successful_step(observer):
    result = run(step(name="ok")(lambda: 1), executor=LocalExecutor(observer=observer))
    assert observer.started == [("ok", 1)]
    assert observer.finished == [result]


def _stop_soon(observer, delay=0.2):
    """Ask for a stop from another thread after `delay`; `timer.stopped_at` says when."""

    def request_stop():
        timer.stopped_at = time.monotonic()
        observer.stop_event.set()

    timer = threading.Timer(delay, request_stop)
    timer.stopped_at = None
    timer.start()
    return timer


def test_stop_request_interrupts_a_python_loop(observer):
    @step
    def spin():
        end = time.monotonic() + 30
        while time.monotonic() < end:
            pass
        return "finished"

    timer = _stop_soon(observer)
    try:
        result = run(spin, executor=LocalExecutor(observer=observer))
        returned = time.monotonic()
    finally:
        timer.cancel()
    assert result.success is False
    assert result.error == STOPPED
    assert timer.stopped_at is not None
    assert returned - timer.stopped_at < within(2)


def test_stop_request_interrupts_time_sleep_in_the_main_thread(observer):
    assert threading.current_thread() is threading.main_thread()

    @step
    def nap():
        time.sleep(30)
        return "rested"

    timer = _stop_soon(observer)
    try:
        result = run(nap, executor=LocalExecutor(observer=observer))
        returned = time.monotonic()
    finally:
        timer.cancel()
    assert result.success is False
    assert result.error == STOPPED
    assert timer.stopped_at is not None
    assert returned - timer.stopped_at < within(2)


def test_stop_request_interrupts_a_python_loop_outside_the_main_thread(observer):
    @step
    def spin():
        end = time.monotonic() + 30
        while time.monotonic() < end:
            pass
        return "finished"

    box = {}

    def worker():
        box["result"] = run(spin, executor=LocalExecutor(observer=observer))
        box["returned"] = time.monotonic()

    thread = threading.Thread(target=worker)
    timer = _stop_soon(observer)
    thread.start()
    thread.join(timeout=20)
    timer.cancel()
    assert not thread.is_alive()
    assert box["result"].error == STOPPED
    assert box["returned"] - timer.stopped_at < within(2)


def test_stop_request_interrupts_the_retry_backoff(observer):
    calls = []

    @step(retry=2, retry_delay=30)
    def flaky():
        calls.append(1)
        raise ConnectionError("down")

    timer = _stop_soon(observer)
    try:
        start = time.monotonic()
        result = run(flaky, executor=LocalExecutor(observer=observer))
        elapsed = time.monotonic() - start
    finally:
        timer.cancel()
    assert result.success is False
    assert result.error == STOPPED
    assert len(calls) == 1
    assert elapsed < within(5)


def test_stop_requested_before_the_step_keeps_it_from_running(observer):
    calls = []
    observer.stop_event.set()

    @step
    def work():
        calls.append(1)

    result = run(work, executor=LocalExecutor(observer=observer))
    assert result.success is False
    assert result.error == STOPPED
    assert calls == []
