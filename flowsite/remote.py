"""The remote runner: inside a Vertex AI job, run one pipeline run and report it to the control plane.

    python -m flowsite.remote

Reads FLOWSITE_API_URL, FLOWSITE_RUN_TOKEN, FLOWSITE_RUN_ID and FLOWSITE_PIPELINES (the modules to
import), which the control plane puts in the job's environment. Step events and log lines go back
in batches about twice a second; each reply says whether the run is being cancelled, which stops
the running step with StopExecution. Exits 0 when the pipeline succeeded, 1 otherwise. Needs only
the standard library and the engine (and google-cloud-storage for gs:// artifacts).
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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flowsite.engine import ExecutionResult, LocalExecutor, Pipeline, RunObserver
from flowsite.engine.stores import safe_segment

REPORT_SECONDS = 0.5
HEARTBEAT_SECONDS = 2.0
MAX_BATCH = 2000


class RunEnded(Exception):
    """The control plane no longer accepts reports for this run (it ended, or the token is wrong)."""


class ControlPlane:
    def __init__(self, api_url: str, token: str, run_id: int) -> None:
        self.base = f"{api_url.rstrip('/')}/api/remote/runs/{run_id}/"
        self.token = token

    def call(self, path: str = "", body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method="POST" if data else "GET")
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise RunEnded(f"the control plane refused this runner ({exc.code})") from None
            raise


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class Reporter(RunObserver):
    """Queues what the engine tells it and posts it in order; learns from each reply whether to stop."""

    def __init__(self, control_plane: ControlPlane) -> None:
        self.control_plane = control_plane
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
            "error": result.error,
            "duration_seconds": result.duration_seconds,
            "cached": result.cached,
            "skipped": result.skipped,
            "artifact_uri": result.artifact_uri,
            "retries": result.retries,
            "cache_key": result.cache_key,
        }
        self._push({"kind": "finish", "step": result.step_name, "result": fields, "at": _now()})

    def log_line(self, step_name: str, stream: str, level: str, text: str) -> None:
        self._push({"kind": "log", "step": step_name, "stream": stream, "level": level, "text": text, "at": _now()})

    def artifact(self, step_name: str, name: str, uri: str, size: int, digest: str, type_name: str) -> None:
        event = {"kind": "artifact", "step": step_name, "name": name, "uri": uri, "size": size, "digest": digest}
        self._push({**event, "type": type_name, "at": _now()})

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
        last_post = 0.0
        failures = 0
        while True:
            with self._lock:
                if not self._closed:
                    self._lock.wait(REPORT_SECONDS)
                batch, closing = self._events[:MAX_BATCH], self._closed
            if not batch and not closing and time.monotonic() - last_post < HEARTBEAT_SECONDS:
                continue
            try:
                reply = self.control_plane.call("report/", {"events": batch})
            except RunEnded:
                self._stop.set()
                return
            except (urllib.error.URLError, OSError, ValueError) as exc:
                # The control plane is briefly away: keep the events and try again, more slowly.
                failures += 1
                print(f"flowsite: report failed ({exc}); retrying", file=sys.__stderr__)
                time.sleep(min(30.0, 0.5 * 2**failures))
                continue
            failures = 0
            last_post = time.monotonic()
            with self._lock:
                del self._events[: len(batch)]
                remaining = bool(self._events)
            if reply.get("stop"):
                self._stop.set()
            if closing and not remaining:
                return


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
            from google.cloud import storage

            bucket, _, blob = uri.removeprefix("gs://").partition("/")
            storage.Client().bucket(bucket).blob(blob).upload_from_string(payload)
        digest = hashlib.sha256(payload).hexdigest()
        self.reporter.artifact(step_name, name, uri, len(payload), digest, f"{type(obj).__module__}.{type(obj).__qualname__}")
        return uri


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
    modules = [m.strip() for m in os.environ.get("FLOWSITE_PIPELINES", "").split(",") if m.strip()]
    reporter = Reporter(control_plane)
    try:
        pipeline = find_pipeline(modules, run["pipeline"])
        if pipeline.code_version() != run["code_version"]:
            reporter.log_line("", "stderr", "WARNING", f"this image has code {pipeline.code_version()}, "
                              f"the run was triggered for {run['code_version']}")  # fmt: skip
        store = UriArtifactStore(run["artifact_uri"], reporter) if run["artifact_uri"] else None
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
