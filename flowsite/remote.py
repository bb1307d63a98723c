"""The remote runner: inside a Vertex AI job, run one pipeline run and report it to the control plane.

    python -m flowsite.remote

Reads FLOWSITE_API_URL, FLOWSITE_RUN_TOKEN, FLOWSITE_RUN_ID and FLOWSITE_PIPELINES (the modules to
import), which the control plane puts in the job's environment; with FLOWSITE_UNIT (placement per
unit) it runs that one step or step group, given its inputs by FLOWSITE_UNIT_INPUTS. Step events and log lines go back
in batches about twice a second; each reply says whether the run is being cancelled, which stops
the running step with StopExecution. Exits 0 when the pipeline succeeded, 1 otherwise. Needs only
the standard library and the engine (and google-cloud-storage for gs:// artifacts).

Whatever a step prints must reach the control plane, and no report may be retried forever: texts are
made storable (NUL removed, lone surrogates written out) and cut to what the control plane keeps, with
a marker; batches are split to stay under its body size and event count limits. A report the control
plane refuses for good (a 4xx other than 401/403, which end the run's reporting) is dropped and said
so on the job's stderr and in the run's log; a 5xx or a lost connection is retried with backoff.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pickle
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flowsite.engine import Context, ExecutionResult, LocalExecutor, Pipeline, RunObserver
from flowsite.engine.outputs import SkippedOutput
from flowsite.engine.pipeline import execute_unit
from flowsite.engine.previews import preview_of
from flowsite.engine.stores import safe_segment
from flowsite.engine.textlimits import cut, storable

REPORT_SECONDS = 0.5
HEARTBEAT_SECONDS = 2.0
# Under the control plane's limits for one report: MAX_EVENTS events and a 1 MiB body
# (runs.api.remote). The worst single event, a line of LINE_CHARS characters that each JSON
# escapes to 12 bytes (a character outside the BMP), still fits in REPORT_BYTES.
MAX_BATCH = 2000
REPORT_BYTES = 1_000_000
# What the control plane keeps of a log line and of a step's error (runs.logsanitize, runs.recording):
# cut here to the same length, the report stays small and the marker counts what the step really said.
LINE_CHARS = 64 * 1024
ERROR_CHARS = 20_000
# Statuses that may succeed if the same report is sent again later.
TRANSIENT_STATUSES = frozenset({408, 429})


class RunEnded(Exception):
    """The control plane no longer accepts reports for this run (it ended, or the token is wrong)."""


class Refused(Exception):
    """The control plane refused a request for good: sending it again would be refused again."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status


class ControlPlane:
    def __init__(self, api_url: str, token: str, run_id: int) -> None:
        self.base = f"{api_url.rstrip('/')}/api/remote/runs/{run_id}/"
        self.token = token

    def call(self, path: str = "", body: Any = None) -> Any:
        return self._send(path, json.dumps(body).encode() if body is not None else None)

    def report(self, events: list[str], runner: str = "", batch: int = 0) -> Any:
        """Post events already encoded as JSON, so that what is sent is exactly what was measured.

        A batch of events is numbered by its runner, so the control plane records a batch sent again
        (its answer was lost) only once.
        """
        numbered = f'"runner":"{runner}","batch":{batch},' if runner and batch else ""
        return self._send("report/", f'{{{numbered}"events":[{",".join(events)}]}}'.encode("ascii"))

    def _send(self, path: str, data: bytes | None) -> Any:
        request = urllib.request.Request(self.base + path, data=data, method="POST" if data else "GET")
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise RunEnded(f"the control plane refused this runner ({exc.code})") from None
            if 400 <= exc.code < 500 and exc.code not in TRANSIENT_STATUSES:
                raise Refused(exc.code, _reason(exc)) from None
            raise


def _reason(error: urllib.error.HTTPError) -> str:
    """The API's own message for a refusal, or the HTTP reason when the body is not the API's."""
    try:
        message = json.loads(error.read())["error"]["message"]
    except (OSError, ValueError, KeyError, TypeError):
        message = ""
    return cut(str(message or error.reason), 500)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Reporter(RunObserver):
    """Queues what the engine tells it and posts it in order; learns from each reply whether to stop."""

    def __init__(self, control_plane: ControlPlane) -> None:
        self.control_plane = control_plane
        # Tells this runner's batches from those of a runner restarted for the same run.
        self.runner = uuid.uuid4().hex
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._post_loop, name="flowsite-reporter", daemon=True)
        self._thread.start()

    def step_started(self, step_name: str, attempt: int) -> None:
        self._push({"kind": "start", "step": step_name, "attempt": attempt, "at": _now()})

    def step_finished(self, result: ExecutionResult) -> None:
        fields = {
            "success": result.success,
            "error": cut(storable(result.error), ERROR_CHARS) if result.error else result.error,
            "duration_seconds": result.duration_seconds,
            "cached": result.cached,
            "skipped": result.skipped,
            "artifact_uri": result.artifact_uri,
            "retries": result.retries,
            "cache_key": result.cache_key,
        }
        self._push({"kind": "finish", "step": result.step_name, "result": fields, "at": _now()})

    def log_line(self, step_name: str, stream: str, level: str, text: str) -> None:
        text = cut(storable(text), LINE_CHARS)
        self._push({"kind": "log", "step": step_name, "stream": stream, "level": level, "text": text, "at": _now()})

    def log_metric(self, step_name: str, name: str, value: float, step_index: int | None) -> None:
        # Checked by the engine already (a short printable name, a finite value): the report cannot be refused for it.
        event = {"kind": "metric", "step": step_name, "name": name, "value": value, "step_index": step_index}
        self._push({**event, "at": _now()})

    def artifact(
        self, step_name: str, name: str, uri: str, size: int, digest: str, type_name: str,
        preview: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        event = {"kind": "artifact", "step": step_name, "name": name, "uri": uri, "size": size, "digest": digest}
        self._push({**event, "value_type": type_name, "preview": preview, "at": _now()})

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join()

    def _push(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._events.append(event)

    def _post_loop(self) -> None:
        # Encoded events not yet accepted, in order, each with the number of refused events it
        # reports (0 for an event of the run, N for our notice that N events were refused).
        waiting: deque[tuple[str, int]] = deque()
        # The batch being sent, and its number: after a failure it is sent again exactly as it was,
        # because the control plane may have recorded it and only its answer been lost.
        batch: list[tuple[str, int]] = []
        number = 0
        last_post = 0.0
        failures = 0
        while True:
            with self._lock:
                if not self._closed and not waiting:
                    self._lock.wait(REPORT_SECONDS)
                events, self._events = self._events, []
                closing = self._closed
            waiting.extend((_encode(event), 0) for event in events)
            if not batch:
                batch = _next_batch(waiting)
                number += bool(batch)
            if not batch and not closing and time.monotonic() - last_post < HEARTBEAT_SECONDS:
                continue
            reply: Any = {}
            try:
                reply = self.control_plane.report(
                    [encoded for encoded, _ in batch], self.runner, number if batch else 0
                )
            except RunEnded:
                self._stop.set()
                return
            except Refused as exc:
                for _ in batch:
                    waiting.popleft()
                self._refused(batch, exc, waiting)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                # The control plane is briefly away: keep the events and try again, more slowly.
                failures += 1
                print(f"flowsite: report failed ({exc}); retrying", file=sys.__stderr__)
                time.sleep(min(30.0, 0.5 * 2**failures))
                continue
            else:
                for _ in batch:
                    waiting.popleft()
            batch = []
            failures = 0
            last_post = time.monotonic()
            if isinstance(reply, dict) and reply.get("stop"):
                self._stop.set()
            if closing and not waiting:
                return

    @staticmethod
    def _refused(batch: list[tuple[str, int]], error: Refused, waiting: deque[tuple[str, int]]) -> None:
        """Drop a refused batch, and say so where its events would have been."""
        if not batch:
            return  # a heartbeat: nothing was lost
        lost = sum(reports or 1 for _, reports in batch)
        message = f"flowsite: {lost} events of this run were refused by the control plane: {error}"
        print(message, file=sys.__stderr__)
        if any(reports == 0 for _, reports in batch):
            # A batch of nothing but notices is not noticed again, so refusals cannot go on forever.
            notice = {"kind": "log", "step": "", "stream": "stderr", "level": "ERROR", "text": message, "at": _now()}
            waiting.appendleft((_encode(notice), lost))


def _encode(event: dict[str, Any]) -> str:
    # ASCII (json's default), so a string's length is the size it adds to a report's body.
    return json.dumps(event, separators=(",", ":"))


def _next_batch(waiting: deque[tuple[str, int]]) -> list[tuple[str, int]]:
    """The events at the front that one report may carry: at least one, however big, to be tried."""
    batch: list[tuple[str, int]] = []
    size = len(f'{{"runner":"{"0" * 32}","batch":{2**63},"events":[]}}')
    for item in waiting:
        size += len(item[0]) + 1
        if batch and (size > REPORT_BYTES or len(batch) == MAX_BATCH):
            break
        batch.append(item)
    return batch


class UriArtifactStore:
    """Pickles outputs under the stack's artifact_uri (file:// here, gs:// on Google Cloud)."""

    def __init__(self, prefix: str, reporter: Reporter) -> None:
        self.prefix = prefix.rstrip("/")
        self.reporter = reporter

    def materialize(self, obj: Any, name: str, run_id: str, step_name: str, project_name: str = "default") -> str:
        payload = pickle.dumps(obj, protocol=5)
        where = "/".join(safe_segment(part) for part in (project_name, run_id, step_name, name)) + ".pkl"
        uri = f"{self.prefix}/{where}"
        if uri.startswith("file://"):
            path = Path(uri.removeprefix("file://"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(payload)
        else:
            bucket, _, blob = uri.removeprefix("gs://").partition("/")
            storage_client().bucket(bucket).blob(blob).upload_from_string(payload)
        digest = hashlib.sha256(payload).hexdigest()
        type_name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        self.reporter.artifact(step_name, name, uri, len(payload), digest, type_name, preview_of(obj))
        return uri


def storage_client() -> Any:
    """The job's Cloud Storage client: its service account's, at the stack's endpoint if it names one
    (FLOWSITE_STORAGE_ENDPOINT; an http:// one is a local server, reached without credentials)."""
    from google.cloud import storage

    endpoint = os.environ.get("FLOWSITE_STORAGE_ENDPOINT")
    if not endpoint:
        return storage.Client()
    if endpoint.startswith("http://"):
        from google.auth.credentials import AnonymousCredentials

        # project=None, not left out: left out, the client asks Google's default credentials for one.
        return storage.Client(
            project=None, credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
        )
    return storage.Client(client_options={"api_endpoint": endpoint})


def load_artifact(uri: str) -> Any:
    """An output another unit of the run wrote (file:// here, gs:// on Google Cloud)."""
    if uri.startswith("file://"):
        payload = Path(uri.removeprefix("file://")).read_bytes()
    elif uri.startswith("gs://"):
        bucket, _, blob = uri.removeprefix("gs://").partition("/")
        payload = storage_client().bucket(bucket).blob(blob).download_as_bytes()
    else:
        raise ValueError(f"cannot read an input from {uri!r}: only file:// and gs:// are reachable from a job")
    return pickle.loads(payload)


def unit_inputs(described: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The values of a unit's inputs, as the control plane described them (FLOWSITE_UNIT_INPUTS): an
    artifact to read, an output its step never produced because it was skipped, or None."""
    values: dict[str, Any] = {}
    for name, where in described.items():
        if "uri" in where:
            values[name] = load_artifact(where["uri"])
        elif "skipped_by" in where:
            values[name] = SkippedOutput(where["skipped_by"])
        else:
            values[name] = None
    return values


class KeysOnly:
    """A cache that never serves (the control plane already looked, and sent this unit to run) and keeps
    nothing: with it the executor computes each step's cache key, which the finish event carries, and
    the control plane records the entry."""

    def get(self, key: str) -> Any:
        return None

    def set_value(self, key: str, value: Any, step_name: str, code_hash: str) -> None:
        pass


class WrongImage(Exception):
    """The image holds another Flowsite or other pipeline code than the run asked for."""


def check_image(pipeline: Pipeline, run: dict[str, Any]) -> None:
    """Refuse to run what the run did not ask for: a pipeline's steps of another version would produce
    results the run's record would claim for its own code, and another Flowsite may report differently."""
    from flowsite import __version__

    wanted = os.environ.get("FLOWSITE_EXPECTED_VERSION", "")
    if wanted and wanted != __version__:
        raise WrongImage(
            f"this image has Flowsite {__version__}, but the control plane runs Flowsite {wanted}: "
            "rebuild the image with the control plane's version"
        )
    if pipeline.code_version() != run["code_version"]:
        raise WrongImage(
            f"this image has code version {pipeline.code_version()} of pipeline {pipeline.name!r}, but the run "
            f"was triggered for version {run['code_version']}: rebuild the image from the code the run was "
            "triggered with, or trigger again"
        )


def find_pipeline(modules: list[str], name: str) -> Pipeline:
    for module_name in modules:
        for value in vars(importlib.import_module(module_name)).values():
            if isinstance(value, Pipeline) and value.name == name:
                return value
    raise LookupError(f"no pipeline named {name!r} in {', '.join(modules) or 'FLOWSITE_PIPELINES (empty)'}")


def main() -> int:
    try:
        api_url, token = os.environ["FLOWSITE_API_URL"], os.environ["FLOWSITE_RUN_TOKEN"]
        run_id = int(os.environ["FLOWSITE_RUN_ID"])
    except (KeyError, ValueError) as exc:
        print(f"flowsite.remote: missing or bad environment: {exc}", file=sys.stderr)
        return 2
    control_plane = ControlPlane(api_url, token, run_id)
    run = control_plane.call()
    # The stack's secrets never travel in the job's spec, which anyone who can read the job sees.
    os.environ.update(control_plane.call("secrets/")["secrets"])
    modules = [m.strip() for m in os.environ.get("FLOWSITE_PIPELINES", "").split(",") if m.strip()]
    reporter = Reporter(control_plane)
    try:
        pipeline = find_pipeline(modules, run["pipeline"])
        check_image(pipeline, run)
        store = UriArtifactStore(run["artifact_uri"], reporter) if run["artifact_uri"] else None
        unit = os.environ.get("FLOWSITE_UNIT")
        if unit:
            # Placement per unit: this job runs one step or step group, its inputs read from the
            # outputs earlier units wrote.
            results = execute_unit(
                pipeline.unit(unit),
                unit_inputs(json.loads(os.environ.get("FLOWSITE_UNIT_INPUTS") or "{}")),
                Context(**run["params"]),
                LocalExecutor(observer=reporter),
                cache_store=KeysOnly(),
                artifact_store=store,
                run_id=str(run_id),
                project_name=run["project"],
            )
            succeeded = all(result.success for result in results)
        else:
            result = pipeline.run(
                run["params"],
                executor=LocalExecutor(observer=reporter),
                artifact_store=store,
                run_id=str(run_id),
                project_name=run["project"],
            )
            succeeded = result.success
    except Exception as exc:
        reporter.log_line("", "stderr", "ERROR", f"the remote runner failed: {type(exc).__name__}: {exc}")
        succeeded = False
    finally:
        reporter.close()
    return 0 if succeeded else 1


if __name__ == "__main__":
    raise SystemExit(main())
