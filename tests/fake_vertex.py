"""A small Vertex AI JobService over plain HTTP, for the unmodified aiplatform SDK (REST transport).

Jobs go QUEUED -> PENDING -> RUNNING -> SUCCEEDED or FAILED, one step every `step_seconds`.
`lose_capacity` makes chosen jobs fail while running as preempted or stocked-out ones do.
On RUNNING the job's container command really runs, as a local subprocess with the job's
environment, so the remote runner calls back the live control plane; its exit code decides
SUCCEEDED or FAILED. An image holds this repository's code unless `images` says otherwise.
What a job's command writes is its log, served by Cloud Logging's `POST /v2/entries:list`.
Cancel goes CANCELLING, then CANCELLED, and kills the subprocess's process group. Routes and
bodies follow Vertex's REST API (proto JSON); a list filter is labels.KEY="VALUE" joined by AND.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tests import local_http

ROOT = Path(__file__).resolve().parents[1]
JOB_PATH = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+)/customJobs(?:/(\d+))?(:cancel)?$")
FINAL = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}


class FakeJob:
    def __init__(self, name: str, body: dict[str, Any]) -> None:
        self.name = name
        self.body = body
        self.state = "JOB_STATE_QUEUED"
        self.error: dict[str, Any] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.output = b""
        self.cancel_requested = False
        self.changed_at = time.monotonic()
        # (code, message) if this job is to lose its machine once it runs.
        self.doomed: tuple[int, str] | None = None
        # Where its command's output goes: what Cloud Logging would hold for the job.
        self.log_path: Path | None = None

    def as_json(self) -> dict[str, Any]:
        job = {**self.body, "name": self.name, "state": self.state, "createTime": "2026-01-01T00:00:00Z"}
        if self.error:
            job["error"] = self.error
        return job

    @property
    def labels(self) -> dict[str, str]:
        return self.body.get("labels", {})


class FakeVertex:
    def __init__(
        self,
        step_seconds: float = 0.05,
        latency_seconds: float = 0.0,
        cancel_seconds: float | None = None,
        ignore_filter: bool = False,
        images: dict[str, Path] | None = None,
    ) -> None:
        self.step_seconds = step_seconds
        # How long CANCELLING lasts before the process is killed (default: one step).
        self.cancel_seconds = step_seconds if cancel_seconds is None else cancel_seconds
        # Google answers in tens of milliseconds, not in microseconds: benchmarks can say so.
        self.latency_seconds = latency_seconds
        # A list that answers with every job it has, as a server that ignores (or misreads) the filter would.
        self.ignore_filter = ignore_filter
        # Image -> the directory that stands for its files: the job's command runs there, with only it on
        # PYTHONPATH. Images not named run this repository's code, as Flowsite's own image would.
        self.images = images or {}
        self.jobs: dict[str, FakeJob] = {}
        # Jobs to lose their machine while running: labels they carry, how many more, code and message.
        self.losses: list[list[Any]] = []
        # Calls answered with an error instead ("get" a job, "cancel" one): HTTP status and Google's status.
        self.refusals: dict[str, tuple[int, str]] = {}
        self.requests: list[tuple[str, str]] = []
        self.authorizations: set[str | None] = set()
        self._ids = count(1)
        self._logs = Path(tempfile.mkdtemp(prefix="fake-vertex-logs-"))
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            # Without it every response waits for a delayed ACK: ~45 ms a request.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server._handle(self, "GET")

            def do_POST(self) -> None:
                server._handle(self, "POST")

        self.httpd = local_http.serve(Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._advance_loop, daemon=True).start()

    # Test controls

    def stop(self) -> None:
        self._stopping.set()
        local_http.stop(self.httpd)
        for job in list(self.jobs.values()):
            self._kill(job)
        shutil.rmtree(self._logs, ignore_errors=True)

    def lose_capacity(self, labels: dict[str, str], times: int = 1, code: int = 14,
                      message: str = "The replica workerpool0-0 was preempted.") -> None:  # fmt: skip
        """The next `times` jobs carrying `labels` fail while running, as a preempted (code 14,
        UNAVAILABLE) or stocked-out (8, RESOURCE_EXHAUSTED) job does: their command is killed."""
        self.losses.append([labels, times, code, message])

    def refuse(self, call: str, status: int = 403, google_status: str = "PERMISSION_DENIED") -> None:
        """Answer every `call` ("get" or "cancel" of a job) with this error, as Google does to credentials
        without the permission (403 PERMISSION_DENIED) or in an outage (503 UNAVAILABLE); `allow` ends it."""
        self.refusals[call] = (status, google_status)

    def allow(self, call: str) -> None:
        self.refusals.pop(call, None)

    # HTTP

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(handler.path)
        self.requests.append((method, url.path))
        self.authorizations.add(handler.headers.get("Authorization"))
        match = JOB_PATH.match(unquote(url.path))
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}") if length else {}
        if method == "POST" and url.path == "/v2/entries:list":
            return self._send(handler, 200, {"entries": self._entries(body)})
        if not match:
            return self._send(handler, 404, _error(404, f"no route {url.path}", "NOT_FOUND"))
        parent, job_id, cancel = match.groups()
        if method == "POST" and job_id is None:
            return self._send(handler, 200, self._create(parent, body).as_json())
        if method == "GET" and job_id is None:
            try:
                return self._send(handler, 200, {"customJobs": self._list(parent, parse_qs(url.query))})
            except ValueError as exc:
                return self._send(handler, 400, _error(400, str(exc), "INVALID_ARGUMENT"))
        name = f"{parent}/customJobs/{job_id}"
        refusal = self.refusals.get("cancel" if cancel else "get")
        if refusal and method in ("GET", "POST"):
            status, google_status = refusal
            return self._send(handler, status, _error(status, f"refused {method} {name}", google_status))
        job = self.jobs.get(name)
        if job is None:
            return self._send(handler, 404, _error(404, f"CustomJob {name} not found", "NOT_FOUND"))
        if method == "POST" and cancel:
            with self._lock:
                if job.state in FINAL:
                    return self._send(
                        handler, 400, _error(400, f"job {name} is already finished", "FAILED_PRECONDITION")
                    )
                job.cancel_requested = True
                self._move(job, "JOB_STATE_CANCELLING")
            return self._send(handler, 200, {})
        return self._send(handler, 200, job.as_json())

    def _send(self, handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _entries(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Cloud Logging's entries:list for `resource.labels.job_id="N"`: what the job's command wrote
        (stdout and stderr), newest first, at most pageSize."""
        found = re.search(r'resource\.labels\.job_id="(\d+)"', body.get("filter", ""))
        job = next((j for j in list(self.jobs.values()) if found and j.name.endswith(f"/{found.group(1)}")), None)
        if job is None or job.log_path is None or not job.log_path.exists():
            return []
        lines = job.log_path.read_text(errors="replace").splitlines()[::-1][: int(body.get("pageSize") or 50)]
        project = job.name.split("/")[1]
        return [
            {"logName": f"projects/{project}/logs/workerpool0-0", "textPayload": line, "severity": "ERROR",
             "timestamp": "2026-01-01T00:00:00Z", "insertId": str(index),
             "resource": {"type": "ml_job", "labels": {"job_id": found.group(1)}}}
            for index, line in enumerate(lines)
        ]  # fmt: skip

    def _create(self, parent: str, body: dict[str, Any]) -> FakeJob:
        with self._lock:
            job = FakeJob(f"{parent}/customJobs/{next(self._ids)}", body)
            self.jobs[job.name] = job
        return job

    def _list(self, parent: str, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        if self.ignore_filter:
            return [job.as_json() for job in list(self.jobs.values())]
        wanted = {}
        for clause in " AND ".join(query.get("filter", [])).split(" AND "):
            if not clause.strip():
                continue
            found = re.fullmatch(r'labels\.([\w-]+)\s*=\s*"([^"]*)"', clause.strip())
            if found is None:
                raise ValueError(f'this fake understands labels.KEY="VALUE" joined by AND, not {clause!r}')
            wanted[found.group(1)] = found.group(2)
        return [
            job.as_json()
            for job in list(self.jobs.values())
            if job.name.startswith(parent) and all(job.labels.get(k) == v for k, v in wanted.items())
        ]

    # The jobs' lives

    def _move(self, job: FakeJob, state: str) -> None:
        job.state = state
        job.changed_at = time.monotonic()

    def _advance_loop(self) -> None:
        while not self._stopping.wait(0.01):
            now = time.monotonic()
            with self._lock:
                jobs = list(self.jobs.values())
            for job in jobs:
                with self._lock:
                    self._advance(job, now)

    def _advance(self, job: FakeJob, now: float) -> None:
        due = now - job.changed_at >= self.step_seconds
        if job.state == "JOB_STATE_CANCELLING":
            if now - job.changed_at >= self.cancel_seconds:
                self._kill(job)
                self._move(job, "JOB_STATE_CANCELLED")
        elif job.state == "JOB_STATE_QUEUED" and due:
            self._move(job, "JOB_STATE_PENDING")
        elif job.state == "JOB_STATE_PENDING" and due:
            job.process = self._start(job)
            for loss in self.losses:
                if loss[1] > 0 and all(job.labels.get(k) == v for k, v in loss[0].items()):
                    loss[1] -= 1
                    job.doomed = (loss[2], loss[3])
                    break
            self._move(job, "JOB_STATE_RUNNING")
        elif job.state == "JOB_STATE_RUNNING" and job.doomed is not None and due:
            self._kill(job)
            job.error = {"code": job.doomed[0], "message": job.doomed[1]}
            self._move(job, "JOB_STATE_FAILED")
        elif job.state == "JOB_STATE_RUNNING" and job.process is not None and job.process.poll() is not None:
            if job.process.returncode == 0:
                self._move(job, "JOB_STATE_SUCCEEDED")
            else:
                message = f"The replica workerpool0-0 exited with a non-zero status of {job.process.returncode}."
                job.error = {"code": 3, "message": message}
                self._move(job, "JOB_STATE_FAILED")

    def _start(self, job: FakeJob) -> subprocess.Popen[bytes]:
        container = job.body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]
        command = [sys.executable if part == "python" else part for part in container["command"]]
        command += container.get("args", [])
        env = {**os.environ, **{item["name"]: item["value"] for item in container.get("env", [])}}
        files = self.images.get(container["imageUri"], ROOT)
        env["PYTHONPATH"] = str(files)
        job.log_path = self._logs / f"{job.name.rsplit('/', 1)[-1]}.log"
        with open(job.log_path, "wb") as log:
            return subprocess.Popen(command, cwd=files, env=env, start_new_session=True, stdout=log, stderr=log)

    def _kill(self, job: FakeJob) -> None:
        if job.process is not None and job.process.poll() is None:
            try:
                os.killpg(job.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            job.process.wait()


def _error(code: int, message: str, status: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}
