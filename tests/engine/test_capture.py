"""Line-exact log capture through a RunObserver when a run id is given."""

from __future__ import annotations

import logging
import sys
import threading

import pytest

from flowsite.engine import LocalExecutor, step

from .conftest import RecordingObserver


def run_captured(s, observer, run_id="run-1", inputs=None, params=None):
    return LocalExecutor(observer=observer).execute_step(s, inputs or {}, params or {}, run_id=run_id)


def test_two_prints_are_two_lines(observer):
    @step
    def talk():
        print("loading data")
        print("done")

    assert run_captured(talk, observer).success
    assert observer.texts("stdout") == ["loading data", "done"]
    assert all(name == "talk" for name, *_ in observer.lines)


def test_embedded_newline_makes_two_lines(observer):
    @step
    def talk():
        print("a\nb")

    run_captured(talk, observer)
    assert observer.texts("stdout") == ["a", "b"]


def test_partial_writes_join_into_one_line(observer):
    @step
    def talk():
        print("x", end="")
        print("y")

    run_captured(talk, observer)
    assert observer.texts("stdout") == ["xy"]


def test_unterminated_last_line_is_still_delivered(observer):
    @step
    def talk():
        sys.stdout.write("progress 100%")

    run_captured(talk, observer)
    assert observer.texts("stdout") == ["progress 100%"]


def test_stderr_lines_have_stream_stderr(observer):
    @step
    def warn():
        print("careful", file=sys.stderr)
        print("fine")

    run_captured(warn, observer)
    assert observer.texts("stderr") == ["careful"]
    assert observer.texts("stdout") == ["fine"]


def test_logging_records_are_delivered_with_their_level(observer):
    @step
    def logs():
        logging.getLogger("t").warning("w")

    run_captured(logs, observer)
    records = [(stream, level, text) for _, stream, level, text in observer.lines if stream == "logging"]
    assert len(records) == 1
    stream, level, text = records[0]
    assert level == "WARNING"
    assert text.endswith("w")


def test_traceback_of_every_failed_attempt_is_delivered(observer):
    attempts = []

    @step(retry=1, retry_delay=0)
    def flaky():
        attempts.append(1)
        raise ValueError(f"failure number {len(attempts)}")

    result = run_captured(flaky, observer)
    assert result.success is False
    lines = [text for _, _, _, text in observer.lines]
    assert sum(1 for line in lines if line.startswith("Traceback")) == 2
    assert any("failure number 1" in line for line in lines)
    assert any("failure number 2" in line for line in lines)


def test_streams_are_restored_after_a_step_that_raised(observer):
    before_out, before_err = sys.stdout, sys.stderr

    @step
    def explode():
        print("about to fail")
        raise RuntimeError("boom")

    result = run_captured(explode, observer)
    assert result.success is False
    assert sys.stdout is before_out
    assert sys.stderr is before_err


def test_streams_are_restored_after_a_successful_step(observer):
    before_out, before_err = sys.stdout, sys.stderr
    run_captured(step(name="quiet")(lambda: 1), observer)
    assert sys.stdout is before_out
    assert sys.stderr is before_err


def test_nothing_is_captured_without_a_run_id(capsys):
    class NoLogs(RecordingObserver):
        def log_line(self, *args):
            pytest.fail(f"log_line called without a run id: {args}")

    observer = NoLogs()
    before_out = sys.stdout

    @step
    def talk():
        assert sys.stdout is before_out
        print("plain output")
        logging.getLogger("t").warning("w")

    result = LocalExecutor(observer=observer).execute_step(talk, {}, {})
    assert result.success, result.error
    assert "plain output" in capsys.readouterr().out


def test_output_from_a_thread_the_step_started_is_captured(observer):
    @step
    def fan_out():
        worker = threading.Thread(target=lambda: print("from worker"))
        worker.start()
        worker.join()
        print("from step")

    run_captured(fan_out, observer)
    assert sorted(observer.texts("stdout")) == ["from step", "from worker"]


def test_capture_ends_with_the_step(observer, capsys):
    run_captured(step(name="s")(lambda: print("inside")), observer)
    print("outside")
    assert observer.texts("stdout") == ["inside"]
    assert "outside" in capsys.readouterr().out
