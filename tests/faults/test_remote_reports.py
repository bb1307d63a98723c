"""Hostile output from a remote step, and reports the control plane refuses: never a runner that hangs.

The Vertex run goes through the real aiplatform SDK, a local Vertex server that runs the job's
command as a subprocess, and the live API the remote runner reports to.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from flowsite.engine import ExecutionResult
from flowsite.remote import LINE_CHARS, ControlPlane, Reporter
from runs.execution import execute_run
from runs.models import LogLine, Run, RunStatus, RunToken, StepStatus
from runs.remote_runs import reconcile_once
from tests import local_http
from tests.pipelines import LONG_ERROR_CHARS, LONG_LINE_CHARS, REPORT_LINES
from tests.runs.helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def finished(run: Run, timeout: float) -> Run:
    def check() -> bool:
        reconcile_once()
        run.refresh_from_db()
        return run.is_finished

    wait_for(check, timeout, "the run to end")
    return run


def marker(count: int) -> str:
    return f" …[truncated {count} characters]"


def test_hostile_output_of_a_remote_step_is_stored_once_in_order_and_the_run_ends(vertex_project, fake_vertex):
    run = Run.objects.trigger(project=vertex_project, pipeline="hostile-reporting")
    execute_run(run.pk)
    run = finished(run, timeout=90)
    assert run.status == RunStatus.FAILED, run.failure_message

    lines = list(LogLine.objects.filter(run=run).order_by("seq").values_list("seq", "step", "level", "text"))
    assert [seq for seq, *_ in lines] == list(range(1, len(lines) + 1)), "every line once, no gap"
    texts = [text for *_, text in lines]
    assert texts[0] == "nulbyte"
    assert texts[1] == "caf\\udce9.txt"
    kept = LINE_CHARS - len(marker(LONG_LINE_CHARS))
    assert texts[2] == "x" * kept + marker(LONG_LINE_CHARS - kept)
    assert lines[3][2:] == ("A_CUSTOM_LEVEL_N", "limits: custom level")
    assert texts[4 : 4 + REPORT_LINES] == [f"line {i:05d} " + "y" * 1000 for i in range(REPORT_LINES)]
    traceback = texts[4 + REPORT_LINES :]
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1].startswith("ValueError: eee") and "…[truncated " in traceback[-1]
    assert not any(text.startswith("flowsite:") for text in texts), "no report was refused"
    assert {step for _, step, *_ in lines} == {"hostile_output"}

    step = run.steps.get()
    assert step.status == StepStatus.FAILED
    assert step.error.startswith("ValueError: eee")
    assert "…[truncated " in step.error and len(step.error) <= 20_000 < LONG_ERROR_CHARS


def running_run(project) -> tuple[Run, str]:
    """A run as its remote runner sees it: running, with its own token."""
    run = Run.objects.trigger(project=project, pipeline="greeting")
    run.transition((RunStatus.QUEUED,), RunStatus.RUNNING)
    return run, RunToken.issue(run)


def close_within(reporter: Reporter, timeout: float) -> None:
    closing = threading.Thread(target=reporter.close, daemon=True)
    closing.start()
    closing.join(timeout)
    assert not closing.is_alive(), f"the reporter was still sending after {timeout} s"


def test_a_report_the_control_plane_refuses_is_dropped_and_said_so_not_retried(vertex_project, live_server, capfd):
    run, token = running_run(vertex_project)
    reporter = Reporter(ControlPlane(live_server.url, token, run.pk))
    reporter.log_line("hello", "stdout", "INFO", "before")
    close_within(reporter, 30)  # its own report, so the refused one below cannot take it along
    reporter = Reporter(ControlPlane(live_server.url, token, run.pk))
    reporter.log_line("s" * 300, "stdout", "INFO", "from a step no run can have")
    reporter.step_finished(ExecutionResult("hello", success=True, duration_seconds=0.1))
    close_within(reporter, 30)
    reporter = Reporter(ControlPlane(live_server.url, token, run.pk))
    reporter.log_line("hello", "stdout", "INFO", "after")
    close_within(reporter, 30)

    texts = list(LogLine.objects.filter(run=run).order_by("seq").values_list("text", flat=True))
    refused = "flowsite: 2 events of this run were refused by the control plane: 400 events.0.step: "
    assert texts[0] == "before" and texts[1].startswith(refused) and texts[2:] == ["after"]
    assert refused in capfd.readouterr().err
    assert run.steps.get().status == StepStatus.PENDING, "the refused batch's step event was dropped with it"


def test_the_largest_lines_a_step_can_print_fit_a_report_one_by_one(vertex_project, live_server):
    run, token = running_run(vertex_project)
    reporter = Reporter(ControlPlane(live_server.url, token, run.pk))
    # Outside the BMP, each character is 12 bytes of JSON: the most a line can weigh.
    for _ in range(3):
        reporter.log_line("hello", "stdout", "INFO", "\U0001f600" * (LINE_CHARS + 10))
    close_within(reporter, 60)
    texts = list(LogLine.objects.filter(run=run).order_by("seq").values_list("text", flat=True))
    kept = LINE_CHARS - len(marker(LINE_CHARS + 10))
    assert texts == ["\U0001f600" * kept + marker(LINE_CHARS + 10 - kept)] * 3


class RefusingServer:
    """A real HTTP peer that answers every request with one status, counting the reports with events."""

    def __init__(self, status: int, body: bytes = b"") -> None:
        self.reports = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                report = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                server.reports += bool(report["events"])
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = local_http.serve(Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        local_http.stop(self.httpd)


@pytest.mark.parametrize("status", [404, 409, 413, 422])
def test_a_proxy_that_refuses_reports_for_good_does_not_keep_the_runner_sending(status, capfd):
    server = RefusingServer(status, b"<html>no</html>")
    try:
        reporter = Reporter(ControlPlane(server.url, "fsr_1_x", 1))
        reporter.log_line("s", "stdout", "INFO", "a line")
        close_within(reporter, 30)
        # The batch, then the notice that it was refused; then nothing more.
        assert server.reports == 2
    finally:
        server.stop()
    assert f"flowsite: 1 events of this run were refused by the control plane: {status} " in capfd.readouterr().err


class AnswerLosingProxy:
    """A real HTTP hop to the control plane that delivers each report but loses the first answer to it,
    as a dropped connection does: the runner cannot tell a recorded report from a lost one."""

    def __init__(self, upstream: str) -> None:
        self.lost_answers = 0
        seen: set[bytes] = set()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = urllib.request.Request(upstream + self.path, data=body, method="POST")
                for header in ("Authorization", "Content-Type"):
                    request.add_header(header, self.headers[header])
                with urllib.request.urlopen(request, timeout=30) as response:
                    status, answer = response.status, response.read()
                if json.loads(body)["events"] and body not in seen:
                    seen.add(body)
                    proxy.lost_answers += 1
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.httpd = local_http.serve(Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        local_http.stop(self.httpd)


def test_a_report_whose_answer_was_lost_is_recorded_once(vertex_project, live_server):
    run, token = running_run(vertex_project)
    proxy = AnswerLosingProxy(live_server.url)
    try:
        reporter = Reporter(ControlPlane(proxy.url, token, run.pk))
        reporter.step_started("hello", 1)
        for i in range(5):
            reporter.log_line("hello", "stdout", "INFO", f"line {i}")
        reporter.step_finished(ExecutionResult("hello", success=True, duration_seconds=0.1))
        close_within(reporter, 60)
    finally:
        proxy.stop()
    assert proxy.lost_answers >= 1
    assert list(LogLine.objects.filter(run=run).order_by("seq").values_list("seq", "text")) == [
        (i + 1, f"line {i}") for i in range(5)
    ]
    step = run.steps.get()
    assert step.status == StepStatus.COMPLETED
    assert list(step.events.values_list("old_status", "new_status")) == [
        (StepStatus.PENDING, StepStatus.RUNNING), (StepStatus.RUNNING, StepStatus.COMPLETED)
    ]  # fmt: skip
