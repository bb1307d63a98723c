"""What a run's process tells the database: step events, log lines, artifacts and cache entries.

The step's thread only queues; one recorder thread writes in batches, so a step that prints
200,000 lines or a chain of 2,000 tiny steps costs the step almost nothing, and every line
reaches the database in order, a step event at most a moment after it happened.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import pickle
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Max
from django.utils import timezone

from flowsite.engine import ExecutionResult, RunObserver
from flowsite.engine.executor import STOPPED_BY_USER
from flowsite.engine.stores import safe_segment

from .logsanitize import Sanitizer
from .models import Artifact, CacheEntry, LogLine, Run, RunEvent, StepRun, StepStatus

logger = logging.getLogger(__name__)

_FLUSH_SECONDS = 0.2
_FLUSH_LINES = 5000
_ERROR_CHARS = 20_000
NOT_RUN_STOPPED = f"Not run: {STOPPED_BY_USER.lower()}"


def step_status(result: ExecutionResult) -> str:
    if result.cached:
        return StepStatus.CACHED
    if result.error in (STOPPED_BY_USER, NOT_RUN_STOPPED):
        return StepStatus.CANCELLED
    if result.skipped:
        return StepStatus.SKIPPED
    return StepStatus.COMPLETED if result.success else StepStatus.FAILED


class RunRecorder(RunObserver):
    def __init__(self, run: Run, secrets: list[str] | None = None) -> None:
        self.run_id = run.pk
        self.sanitize = Sanitizer(secrets)
        self.step_ids = dict(StepRun.objects.filter(run_id=run.pk).values_list("name", "pk"))
        self.current_step = ""
        # Lets output still in flight (a subprocess's, through a pipe) be told as the step's own.
        self.before_step_ends: Callable[[], None] | None = None
        last = LogLine.objects.filter(run_id=run.pk).aggregate(m=Max("seq"))["m"]
        self._seq = itertools.count((last or 0) + 1)
        self._events: list[tuple[Any, ...]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._stop = threading.Event()
        self._artifact_ids: dict[str, int] = {}
        self._thread = threading.Thread(target=self._write_loop, name="flowsite-recorder", daemon=True)
        self._thread.start()

    # The engine's side: called from the step's thread, so they only queue.

    def step_started(self, step_name: str, attempt: int) -> None:
        self.current_step = step_name
        self._push(("start", step_name, attempt, timezone.now()), urgent=True)

    def step_finished(self, result: ExecutionResult) -> None:
        if self.before_step_ends is not None:
            self.before_step_ends()
        self.current_step = ""
        self._push(("finish", result, timezone.now()), urgent=True)

    def log_line(self, step_name: str, stream: str, level: str, text: str) -> None:
        self._push(("log", next(self._seq), step_name, stream, level, text, timezone.now()))

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        self._stop.set()

    def artifact(self, step_name: str, name: str, uri: str, size: int, digest: str, type_name: str) -> None:
        self._push(("artifact", step_name, name, uri, size, digest, type_name, timezone.now()))

    def cache_entry(self, key: str, step_name: str, code_hash: str, uri: str) -> None:
        self._push(("cache", key, step_name, code_hash, uri))

    def close(self) -> None:
        """Write everything queued so far, then stop the recorder thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _push(self, event: tuple[Any, ...], urgent: bool = False) -> None:
        with self._cond:
            self._events.append(event)
            if urgent or len(self._events) >= _FLUSH_LINES:
                self._cond.notify()

    # The database's side: one thread, one transaction per batch.

    def _write_loop(self) -> None:
        try:
            while True:
                with self._cond:
                    if not self._events and not self._closed:
                        self._cond.wait(_FLUSH_SECONDS)
                    events, self._events = self._events, []
                    closing = self._closed
                if events:
                    self._write_with_retries(events)
                if closing and not events:
                    return
        finally:
            connection.close()

    def _write_with_retries(self, events: list[tuple[Any, ...]]) -> None:
        for attempt in range(6):
            try:
                with transaction.atomic():
                    self._write(events)
                return
            except Exception:
                logger.exception("recording run %s failed (attempt %d); trying again", self.run_id, attempt + 1)
                close_old_connections()
                time.sleep(0.2 * 2**attempt)
        print(f"flowsite: gave up recording {len(events)} events of run {self.run_id}", file=sys.stderr)

    def _write(self, events: list[tuple[Any, ...]]) -> None:
        lines: list[LogLine] = []
        run_events: list[RunEvent] = []
        sanitize = self.sanitize
        for event in events:
            kind = event[0]
            if kind == "log":
                _, seq, step, stream, level, text, at = event
                lines.append(
                    LogLine(run_id=self.run_id, seq=seq, step=step, stream=stream, level=level, text=sanitize(text), at=at)
                )
            elif kind == "start":
                self._record_start(*event[1:], run_events)
            elif kind == "finish":
                self._record_finish(*event[1:], run_events)
            elif kind == "artifact":
                _, step, name, uri, size, digest, type_name, at = event
                artifact = Artifact.objects.create(
                    run_id=self.run_id, step=step, name=name, uri=uri, size=size, digest=digest, type=type_name, created_at=at
                )
                self._artifact_ids[uri] = artifact.pk
            elif kind == "cache":
                _, key, step, code_hash, uri = event
                if uri in self._artifact_ids:
                    CacheEntry.objects.update_or_create(
                        key=key,
                        defaults={"step": step, "code_hash": code_hash, "artifact_id": self._artifact_ids[uri]},
                    )
        if lines:
            LogLine.objects.bulk_create(lines, batch_size=2000)
        if run_events:
            RunEvent.objects.bulk_create(run_events, batch_size=2000)

    def _record_start(self, step: str, attempt: int, at: Any, run_events: list[RunEvent]) -> None:
        step_id = self.step_ids.get(step)
        if step_id is None:
            return
        if attempt == 1:
            changed = StepRun.objects.filter(pk=step_id, status=StepStatus.PENDING).update(
                status=StepStatus.RUNNING, attempts=1, started_at=at
            )
            if changed:
                run_events.append(_event(self.run_id, step_id, StepStatus.PENDING, StepStatus.RUNNING, "started", at))
        else:
            StepRun.objects.filter(pk=step_id).update(attempts=attempt)
            run_events.append(
                _event(self.run_id, step_id, StepStatus.RUNNING, StepStatus.RUNNING, f"attempt {attempt}", at)
            )

    def _record_finish(self, result: ExecutionResult, at: Any, run_events: list[RunEvent]) -> None:
        step_id = self.step_ids.get(result.step_name)
        if step_id is None:
            return
        status = step_status(result)
        fields: dict[str, Any] = {
            "status": status,
            "finished_at": at,
            "duration_seconds": result.duration_seconds,
            "cached": result.cached,
            "skipped": result.skipped,
            "error": self.sanitize(result.error or "", limit=_ERROR_CHARS),
            "cache_key": result.cache_key or "",
        }
        if result.artifact_uri and result.artifact_uri in self._artifact_ids:
            fields["output_artifact_id"] = self._artifact_ids[result.artifact_uri]
        row = StepRun.objects.filter(pk=step_id).values("status", "started_at").first()
        if row is None or row["status"] not in (StepStatus.PENDING, StepStatus.RUNNING):
            return
        if row["started_at"] is None:
            fields["started_at"] = at - timedelta(seconds=result.duration_seconds)
        changed = StepRun.objects.filter(pk=step_id, status=row["status"]).update(**fields)
        if changed:
            reason = (result.error or "").strip().splitlines()[-1][:500] if result.error else ""
            if result.cached:
                reason = "served from cache"
            run_events.append(_event(self.run_id, step_id, row["status"], status, reason, at))


def _event(run_id: int, step_id: int, old: str, new: str, reason: str, at: Any) -> RunEvent:
    return RunEvent(run_id=run_id, step_id=step_id, old_status=old, new_status=new, reason=reason, at=at)


def artifact_root() -> Path:
    return Path(settings.FLOWSITE_ARTIFACT_ROOT).resolve()


def path_of(uri: str) -> Path:
    """The file behind an artifact URI, refusing anything outside the artifact root."""
    path = Path(uri.removeprefix("file://")).resolve()
    if not uri.startswith("file://") or not path.is_relative_to(artifact_root()):
        raise ValueError(f"{uri!r} is not an artifact of this control plane")
    return path


class RunArtifactStore:
    """Pickles step outputs under FLOWSITE_ARTIFACT_ROOT and records them as Artifacts."""

    def __init__(self, recorder: RunRecorder) -> None:
        self.recorder = recorder
        self.last_uri: dict[str, str] = {}

    def materialize(self, obj: Any, name: str, run_id: str, step_name: str, project_name: str = "default") -> str:
        payload = pickle.dumps(obj, protocol=5)
        folder = artifact_root() / safe_segment(project_name) / safe_segment(run_id) / safe_segment(step_name)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{safe_segment(name)}.pkl"
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(payload)
        partial.replace(path)
        uri = path.as_uri()
        digest = hashlib.sha256(payload).hexdigest()
        type_name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        self.recorder.artifact(step_name, name, uri, len(payload), digest, type_name)
        self.last_uri[step_name] = uri
        return uri


class RunCacheStore:
    """Step results reused across runs: CacheEntry rows pointing at artifacts."""

    def __init__(self, recorder: RunRecorder, artifacts: RunArtifactStore) -> None:
        self.recorder = recorder
        self.artifacts = artifacts
        self._written: dict[str, str] = {}

    def get(self, key: str) -> Any:
        uri = self._written.get(key)
        if uri is None:
            uri = CacheEntry.objects.filter(key=key).values_list("artifact__uri", flat=True).first()
        if uri is None:
            return None
        try:
            with open(path_of(uri), "rb") as f:
                return pickle.load(f)
        except (OSError, ValueError, pickle.UnpicklingError):
            logger.warning("cache entry %s points at an unreadable artifact %s; running the step", key[:12], uri)
            return None

    def set_value(self, key: str, value: Any, step_name: str, code_hash: str) -> None:
        uri = self.artifacts.last_uri.get(step_name)
        if uri is None:
            return
        self._written[key] = uri
        self.recorder.cache_entry(key, step_name, code_hash, uri)
