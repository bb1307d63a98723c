"""What a run's process tells the database: step events, log lines, artifacts and cache entries.

The step's thread only queues; one recorder thread writes in batches, so a step that prints
200,000 lines or a chain of 2,000 tiny steps costs the step almost nothing, and every line
reaches the database in order, a step event at most a moment after it happened.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from flowsite.engine import ExecutionResult, RunObserver
from flowsite.engine.capture import never_capture_this_thread
from flowsite.engine.executor import STOPPED_BY_USER
from flowsite.engine.previews import preview_of
from flowsite.engine.stores import safe_segment

from .logsanitize import Sanitizer, log_level
from .models import FINAL_STEP_STATES, Artifact, CacheEntry, LogLine, Metric, Run, RunEvent, StepRun, StepStatus
from .reconnecting import reset_connection

logger = logging.getLogger(__name__)

_FLUSH_SECONDS = 0.2
_COALESCE_SECONDS = 0.005
_FLUSH_EVENTS = 5000
_ERROR_CHARS = 20_000
_REASON_CHARS = 500
# Outputs this small are kept in the database: a file per tiny output costs more than the step.
INLINE_ARTIFACT_BYTES = 64 * 1024
NOT_RUN_STOPPED = f"Not run: {STOPPED_BY_USER.lower()}"


def step_status(result: ExecutionResult) -> str:
    if result.cached:
        return StepStatus.CACHED
    if result.error in (STOPPED_BY_USER, NOT_RUN_STOPPED):
        return StepStatus.CANCELLED
    if result.skipped:
        return StepStatus.SKIPPED
    return StepStatus.COMPLETED if result.success else StepStatus.FAILED


class RecordingLost(Exception):
    """The database refused the run's record for longer than FLOWSITE_RECORDING_DEADLINE."""


class RunRecorder(RunObserver):
    def __init__(
        self,
        run_id: int,
        step_ids: dict[str, int],
        next_seq: int,
        secrets: list[str] | None = None,
        deadline: float | None = None,
    ) -> None:
        self.run_id = run_id
        self.writer = BatchWriter(run_id, step_ids, next_seq, Sanitizer(secrets))
        self.deadline = settings.FLOWSITE_RECORDING_DEADLINE if deadline is None else deadline
        self.current_step = ""
        # Lets output still in flight (a subprocess's, through a pipe) be told as the step's own.
        self.before_step_ends: Callable[[], None] | None = None
        self._events: list[tuple[Any, ...]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._stop = threading.Event()
        self._then: Callable[[], None] | None = None
        self._failure: Exception | None = None
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
        self._push(("finish", result.step_name, result, timezone.now()), urgent=True)

    def log_line(self, step_name: str, stream: str, level: str, text: str) -> None:
        self._push(("log", step_name, stream, level, text, timezone.now()))

    def log_metric(self, step_name: str, name: str, value: float, step_index: int | None) -> None:
        self._push(("metric", step_name, name, value, step_index, timezone.now()))

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        self._stop.set()

    def artifact(self, artifact: ArtifactRow) -> None:
        self._push(("artifact", artifact))

    def cache_entry(self, key: str, step_name: str, code_hash: str, uri: str) -> None:
        self._push(("cache", key, step_name, code_hash, uri))

    def unfinished_steps(self) -> bool:
        """After close(): whether any step never got a final state from this recorder."""
        return self.writer.unfinished_steps()

    def close(self, then: Callable[[], None] | None = None) -> None:
        """Write everything queued so far, run `then` on the recorder's connection, and stop.

        Raises RecordingLost when the database could not take the record before the deadline.
        """
        self._then = then
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        if self._failure is not None:
            raise self._failure

    def _push(self, event: tuple[Any, ...], urgent: bool = False) -> None:
        with self._cond:
            self._events.append(event)
            if urgent or len(self._events) >= _FLUSH_EVENTS:
                self._cond.notify()

    # The database's side: one thread, one transaction per batch.

    def _write_loop(self) -> None:
        never_capture_this_thread()
        try:
            while True:
                with self._cond:
                    if not self._events and not self._closed:
                        self._cond.wait(_FLUSH_SECONDS)
                        if not self._closed:
                            # A step event woke us: let what follows it (its end, its lines) join the batch.
                            self._cond.wait(_COALESCE_SECONDS)
                    events, self._events = self._events, []
                    closing = self._closed
                if events:
                    batch = self.writer.prepare(events)
                    self._durably(lambda: self.writer.write_batch(batch), lambda: self.writer.committed(batch))
                    self.writer.advance(batch)
                if closing and not events:
                    if self._then is not None:
                        self._durably(self._then)
                    return
        except RecordingLost as exc:
            self._failure = exc
            # Nothing more of this run can be recorded, so nothing more of it should run.
            self._stop.set()
        except Exception as exc:
            self._failure = exc
        finally:
            connection.close()

    def _durably(self, write: Callable[[], None], committed: Callable[[], bool] | None = None) -> None:
        """Run `write` in one transaction until it commits, reconnecting and replaying it whole.

        The writer's own state advances only after the commit, so a replay is the same write; if the
        connection died after the commit but before its answer, `committed` finds the work durable.
        """
        deadline = time.monotonic() + self.deadline
        failures = 0
        first_error: Exception | None = None
        while True:
            try:
                if first_error is not None and committed is not None and committed():
                    return
                with transaction.atomic():
                    write()
                    if first_error is not None:
                        self._note_interruption(first_error, failures)
                return
            except Exception as exc:
                failures += 1
                first_error = first_error or exc
                logger.warning("run %s: recording failed (attempt %d), replaying", self.run_id, failures, exc_info=True)
                reset_connection()
                if time.monotonic() >= deadline:
                    raise RecordingLost(
                        f"the database refused the run's record for {self.deadline:g} s: {_first_line(exc)}"
                    ) from exc
                time.sleep(min(2.0, 0.05 * 2**failures))

    def _note_interruption(self, error: Exception, failures: int) -> None:
        """The run's history says recording stumbled and recovered; the user's log stays the step's own."""
        status = Run.objects.values_list("status", flat=True).get(pk=self.run_id)
        reason = self.writer.sanitize(
            f"recording interrupted ({_first_line(error)}); written again after {failures} failed "
            f"attempt{'s' if failures > 1 else ''}, nothing lost",
            limit=_REASON_CHARS,
        )
        RunEvent.objects.create(run_id=self.run_id, old_status=status, new_status=status, reason=reason)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


class ArtifactRow(NamedTuple):
    """An artifact as the recorder writes it: plain values, so that a step's end builds no model instance."""

    step: str
    name: str
    uri: str
    size: int
    digest: str
    type: str
    data: bytes | None
    created_at: datetime
    # preview_of's picture of the value, made where it was in memory; None for none.
    preview: dict[str, Any] | None = None


class Batch:
    """One write's worth of a run's events, numbered and resolved once so that replaying it is the same write."""

    def __init__(self) -> None:
        self.lines: list[tuple[Any, ...]] = []
        self.first_seq = 0
        self.next_seq = 0
        self.metrics: list[tuple[Any, ...]] = []
        self.next_metric_seq = 0
        self.changes: list[_StepChange] = []
        self.artifacts: list[ArtifactRow] = []
        self.cache_entries: list[tuple[str, str, str, str]] = []
        # What the write made, known once it committed.
        self.artifact_ids: dict[str, int] = {}
        self.step_states: dict[int, str] = {}


class BatchWriter:
    """Writes a run's events (step changes, log lines, artifacts, cache entries) in batches.

    It remembers what is durable (steps' states, artifact ids, the next log sequence number) and
    advances only after a batch committed, so the run must have only one writer: the recorder
    thread of its process, or for a remote run the API requests of its runner, one at a time.
    """

    def __init__(
        self,
        run_id: int,
        step_ids: dict[str, int],
        next_seq: int,
        sanitize: Sanitizer,
        step_states: dict[int, str] | None = None,
        artifact_ids: dict[str, int] | None = None,
        next_metric_seq: int = 1,
    ) -> None:
        self.run_id = run_id
        self.step_ids = step_ids
        self.next_seq = next_seq
        self.next_metric_seq = next_metric_seq
        self.sanitize = sanitize
        self.step_states = step_states or {}
        self.artifact_ids = artifact_ids or {}
        # Cache key -> the artifact a cache hit was served from (set by the step's thread before its finish event).
        self.cached_artifacts: dict[str, int] = {}
        self._levels: dict[str, str] = {}

    @classmethod
    def resume(cls, run_id: int, secrets: list[str]) -> BatchWriter:
        """A writer that carries on from what the database already holds for the run."""
        steps = list(StepRun.objects.filter(run_id=run_id).values_list("name", "pk", "status"))
        last = LogLine.objects.filter(run_id=run_id).aggregate(m=Max("seq"))["m"]
        last_metric = Metric.objects.filter(run_id=run_id).aggregate(m=Max("seq"))["m"]
        return cls(
            run_id,
            {name: pk for name, pk, _ in steps},
            (last or 0) + 1,
            Sanitizer(secrets),
            step_states={pk: status for _, pk, status in steps},
            artifact_ids=dict(Artifact.objects.filter(run_id=run_id).values_list("uri", "pk")),
            next_metric_seq=(last_metric or 0) + 1,
        )

    def unfinished_steps(self) -> bool:
        finished = sum(1 for status in self.step_states.values() if status in FINAL_STEP_STATES)
        return finished < len(self.step_ids)

    def write(self, events: list[tuple[Any, ...]]) -> None:
        """Record a batch of events at once; call inside a transaction."""
        batch = self.prepare(events)
        self.write_batch(batch)
        self.advance(batch)

    def prepare(self, events: list[tuple[Any, ...]]) -> Batch:
        """Number the lines and work out each step's change from what is durable; touches no database."""
        batch = Batch()
        changes: dict[int, _StepChange] = {}
        sanitize = self.sanitize
        adapt = _timestamp_adapter()
        seq = batch.first_seq = self.next_seq
        metric_seq = self.next_metric_seq
        levels = self._levels
        for event in events:
            kind = event[0]
            if kind == "log":
                _, step, stream, level, text, at = event
                if level not in levels:
                    levels[level] = log_level(level)
                batch.lines.append((self.run_id, seq, step, stream, levels[level], sanitize(text), adapt(at)))
                seq += 1
            elif kind == "start" or kind == "finish":
                step_id = self.step_ids.get(event[1])
                if step_id is None:
                    continue
                change = changes.get(step_id)
                if change is None:
                    change = changes[step_id] = _StepChange(step_id, self.step_states.get(step_id, StepStatus.PENDING))
                if kind == "start":
                    change.start(event[2], event[3])
                else:
                    change.finish(event[2], event[3], sanitize, self.cached_artifacts)
            elif kind == "metric":
                _, step, name, value, step_index, at = event
                step_id = self.step_ids.get(step)
                if step_id is not None:
                    row = (self.run_id, step_id, metric_seq, sanitize(name, limit=100), value, step_index, adapt(at))
                    batch.metrics.append(row)
                    metric_seq += 1
            elif kind == "artifact":
                artifact = event[1]
                if artifact.preview is not None:
                    artifact = artifact._replace(preview=sanitized_preview(artifact.preview, sanitize))
                batch.artifacts.append(artifact)
            else:
                batch.cache_entries.append(event[1:])
        batch.next_seq = seq
        batch.next_metric_seq = metric_seq
        batch.changes = list(changes.values())
        return batch

    def write_batch(self, batch: Batch) -> None:
        """Write a prepared batch; call inside a transaction. Replaying it after a rollback writes the same rows."""
        created = self._insert_artifacts(batch.artifacts)
        artifact_ids = {**self.artifact_ids, **created}
        if batch.cache_entries:
            CacheEntry.objects.bulk_create(
                [
                    CacheEntry(key=key, step=step, code_hash=code_hash, artifact_id=artifact_ids[uri])
                    for key, step, code_hash, uri in batch.cache_entries
                    if uri in artifact_ids
                ],
                update_conflicts=True,
                unique_fields=["key"],
                update_fields=["step", "code_hash", "artifact"],
            )
        batch.step_states = self._save_steps(batch.changes, artifact_ids)
        batch.artifact_ids = created
        # Numbered by the one writer, so sequence order is commit order: a reader tailing with
        # ?after=<seq> can never see line N+1 before line N is visible.
        _insert_many(LogLine, ["run_id", "seq", "step", "stream", "level", "text", "at"], batch.lines)
        _insert_many(Metric, ["run_id", "step_id", "seq", "name", "value", "step_index", "at"], batch.metrics)

    def _insert_artifacts(self, artifacts: list[ArtifactRow]) -> dict[str, int]:
        """Insert the artifacts; their ids by URI (unique within a run)."""
        if not artifacts:
            return {}
        adapt = _timestamp_adapter()
        as_json = Artifact._meta.get_field("preview").get_db_prep_value
        quote = connection.ops.quote_name
        created: dict[str, int] = {}
        with connection.cursor() as cursor:
            for start in range(0, len(artifacts), _ARTIFACTS_PER_INSERT):
                chunk = artifacts[start : start + _ARTIFACTS_PER_INSERT]
                placeholders = ", ".join([f"({', '.join(['%s'] * len(_ARTIFACT_COLUMNS))})"] * len(chunk))
                cursor.execute(
                    f"INSERT INTO {quote(Artifact._meta.db_table)} ({', '.join(quote(c) for c in _ARTIFACT_COLUMNS)}) "
                    f"VALUES {placeholders} RETURNING {quote('id')}, {quote('uri')}",
                    [
                        value
                        for a in chunk
                        for value in (
                            self.run_id,
                            a.step,
                            a.name,
                            a.uri,
                            a.size,
                            a.digest,
                            a.type,
                            a.data,
                            None if a.preview is None else as_json(a.preview, connection),
                            adapt(a.created_at),
                        )  # fmt: skip
                    ],
                )
                created.update((uri, pk) for pk, uri in cursor.fetchall())
        return created

    def committed(self, batch: Batch) -> bool:
        """After a failed commit: whether the batch is durable all the same (its answer was lost, not its work)."""
        if batch.lines:
            done = LogLine.objects.filter(run_id=self.run_id, seq=batch.first_seq).exists()
        elif batch.artifacts:
            done = Artifact.objects.filter(run_id=self.run_id, uri=batch.artifacts[0].uri).exists()
        elif batch.metrics:
            done = Metric.objects.filter(run_id=self.run_id, seq=batch.metrics[0][2]).exists()
        else:
            moves = {c.step_id: c.status for c in batch.changes if c.status != c.initial}
            current = dict(StepRun.objects.filter(pk__in=moves).values_list("pk", "status"))
            done = bool(moves) and current == moves
        if done:
            uris = [artifact.uri for artifact in batch.artifacts]
            batch.artifact_ids = dict(
                Artifact.objects.filter(run_id=self.run_id, uri__in=uris).values_list("uri", "pk")
            )
            ids = [c.step_id for c in batch.changes]
            batch.step_states = dict(StepRun.objects.filter(pk__in=ids).values_list("pk", "status"))
        return done

    def advance(self, batch: Batch) -> None:
        """The batch committed: what it wrote is now what the next one builds on."""
        self.next_seq = batch.next_seq
        self.next_metric_seq = batch.next_metric_seq
        self.artifact_ids.update(batch.artifact_ids)
        self.step_states.update(batch.step_states)

    def _save_steps(self, changes: list[_StepChange], artifact_ids: dict[str, int]) -> dict[int, str]:
        """One statement for all the batch's step changes, each conditional on the step's last state.

        Returns the states it wrote.
        """
        if not changes:
            return {}
        rows = [change.row(artifact_ids) for change in changes]
        with connection.cursor() as cursor:
            cursor.executemany(_UPDATE_STEP_SQL, rows)
            written = cursor.rowcount
        if written != len(rows):
            # Someone else (the reaper) ended some of these steps: record only what really changed.
            current = dict(StepRun.objects.filter(pk__in=[c.step_id for c in changes]).values_list("pk", "status"))
            changes = [c for c in changes if current.get(c.step_id) == c.status]
        adapt = _timestamp_adapter()
        events = [
            (self.run_id, change.step_id, old, new, reason, adapt(at))
            for change in changes
            for old, new, reason, at in change.transitions
        ]
        _insert_many(RunEvent, ["run_id", "step_id", "old_status", "new_status", "reason", "at"], events)
        return {change.step_id: change.status for change in changes}


def sanitized_preview(preview: Any, sanitize: Sanitizer) -> Any:
    """The preview with every text in it (keys too) through the run's sanitiser: it is text the run stores."""
    if isinstance(preview, str):
        return sanitize(preview)
    if isinstance(preview, list):
        return [sanitized_preview(item, sanitize) for item in preview]
    if isinstance(preview, dict):
        return {sanitize(str(key)): sanitized_preview(item, sanitize) for key, item in preview.items()}
    return preview


def _timestamp_adapter() -> Callable[[Any], Any]:
    """What a line's time becomes as a query parameter: Django's own adapter, but on SQLite in UTC
    the same text without its generic checks, which cost more than the rest of a line's writing."""
    adapt = connection.ops.adapt_datetimefield_value
    if connection.vendor != "sqlite" or connection.timezone_name != "UTC":
        return adapt

    def utc_text(at: Any) -> Any:
        # Django stores str() of the naive UTC time; a UTC time's isoformat is that plus "+00:00".
        text = at.isoformat(" ")
        return text[:-6] if text.endswith("+00:00") else adapt(at)

    return utc_text


_ARTIFACT_COLUMNS = ["run_id", "step", "name", "uri", "size", "digest", "type", "data", "preview", "created_at"]
# Well under SQLite's limit of 32,766 parameters in one statement.
_ARTIFACTS_PER_INSERT = 500


def _insert_many(model: type[Any], columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """A plain multi-row INSERT: the ORM's per-object work costs more than the database's."""
    if not rows:
        return
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


_UPDATE_STEP_SQL = (
    f"UPDATE {StepRun._meta.db_table} SET status = %s, attempts = COALESCE(%s, attempts), "
    "started_at = COALESCE(started_at, %s), finished_at = COALESCE(%s, finished_at), "
    "duration_seconds = COALESCE(%s, duration_seconds), cached = COALESCE(%s, cached), "
    "skipped = COALESCE(%s, skipped), error = COALESCE(%s, error), cache_key = COALESCE(%s, cache_key), "
    "output_artifact_id = COALESCE(%s, output_artifact_id) WHERE id = %s AND status = %s"
)


class _StepChange:
    """Everything one batch says about one step, written as a single conditional UPDATE."""

    def __init__(self, step_id: int, status: str) -> None:
        self.step_id = step_id
        self.initial = status
        self.status = status
        self.fields: dict[str, Any] = {}
        self.transitions: list[tuple[str, str, str, Any]] = []
        self.artifact_uri: str | None = None
        self.cached_artifact_id: int | None = None

    def start(self, attempt: int, at: Any) -> None:
        self.fields["attempts"] = attempt
        if self.status == StepStatus.PENDING:
            self.fields.update(status=StepStatus.RUNNING, started_at=at)
            self.transitions.append((self.status, StepStatus.RUNNING, "started", at))
            self.status = StepStatus.RUNNING
        else:
            self.transitions.append((self.status, self.status, f"attempt {attempt}", at))

    def finish(self, result: ExecutionResult, at: Any, sanitize: Sanitizer, cached_artifacts: dict[str, int]) -> None:
        status = step_status(result)
        error = sanitize(result.error or "", limit=_ERROR_CHARS)
        self.fields.update(
            status=status,
            finished_at=at,
            duration_seconds=result.duration_seconds,
            cached=result.cached,
            skipped=result.skipped,
            error=error,
            cache_key=result.cache_key or "",
        )
        if self.status == StepStatus.PENDING:
            # Cached and skipped steps never start: they began when they ended, less their duration.
            self.fields["started_at"] = at - timedelta(seconds=result.duration_seconds)
        self.artifact_uri = result.artifact_uri
        if result.cached and result.cache_key:
            self.cached_artifact_id = cached_artifacts.get(result.cache_key)
        if result.cached:
            reason = "served from cache"
        else:
            reason = error.strip().splitlines()[-1][:_REASON_CHARS] if error.strip() else ""
        self.transitions.append((self.status, status, reason, at))
        self.status = status

    def row(self, artifact_ids: dict[str, int]) -> tuple[Any, ...]:
        """Parameters for _UPDATE_STEP_SQL; None leaves a column as it is."""
        adapt = _timestamp_adapter()
        f = self.fields
        started_at, finished_at = f.get("started_at"), f.get("finished_at")
        return (
            f.get("status", self.status),
            f.get("attempts"),
            None if started_at is None else adapt(started_at),
            None if finished_at is None else adapt(finished_at),
            f.get("duration_seconds"),
            f.get("cached"),
            f.get("skipped"),
            f.get("error"),
            f.get("cache_key"),
            artifact_ids.get(self.artifact_uri) if self.artifact_uri else self.cached_artifact_id,
            self.step_id,
            self.initial,
        )


def artifact_root() -> Path:
    return Path(settings.FLOWSITE_ARTIFACT_ROOT).resolve()


def path_of(uri: str) -> Path:
    """The file behind an artifact URI, refusing anything outside the artifact root."""
    path = Path(uri.removeprefix("file://")).resolve()
    if not uri.startswith("file://") or not path.is_relative_to(artifact_root()):
        raise ValueError(f"{uri!r} is not an artifact file of this control plane")
    return path


def load_artifact(uri: str, data: bytes | None) -> Any:
    """The object an artifact holds, from the database or from its file."""
    if data is not None:
        return pickle.loads(data)
    with open(path_of(uri), "rb") as f:
        return pickle.load(f)


class RunArtifactStore:
    """Pickles step outputs: small ones into the database, others under FLOWSITE_ARTIFACT_ROOT."""

    def __init__(self, recorder: RunRecorder) -> None:
        self.recorder = recorder
        self.root = artifact_root()
        self.last_uri: dict[str, str] = {}

    def materialize(self, obj: Any, name: str, run_id: str, step_name: str, project_name: str = "default") -> str:
        payload = pickle.dumps(obj, protocol=5)
        where = f"{safe_segment(project_name)}/{safe_segment(run_id)}/{safe_segment(step_name)}/{safe_segment(name)}"
        data: bytes | None = payload
        if len(payload) <= INLINE_ARTIFACT_BYTES:
            uri = f"inline:{where}"
        else:
            data = None
            path = self.root / f"{where}.pkl"
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            partial.write_bytes(payload)
            partial.replace(path)
            uri = path.as_uri()
        self.recorder.artifact(
            ArtifactRow(
                step=step_name,
                name=name,
                uri=uri,
                size=len(payload),
                digest=hashlib.sha256(payload).hexdigest(),
                type=f"{type(obj).__module__}.{type(obj).__qualname__}",
                data=data,
                created_at=timezone.now(),
                preview=preview_of(obj),
            )
        )
        self.last_uri[step_name] = uri
        return uri


class RunCacheStore:
    """Step results reused across runs: CacheEntry rows pointing at artifacts."""

    def __init__(
        self, recorder: RunRecorder, artifacts: RunArtifactStore, outputs: dict[str, list[str]], lookups: bool = True
    ) -> None:
        self.recorder = recorder
        # False for a fresh run: nothing is served from the cache, though what the run makes is stored in it.
        self.lookups = lookups
        self.artifacts = artifacts
        # Each step's declared outputs: a step with several stores one artifact per output.
        self.outputs = outputs
        self._written: dict[str, Any] = {}
        self._remote: Any = None

    def get(self, key: str) -> Any:
        if key in self._written:
            return self._written[key]
        if not self.lookups:
            return None
        entry = CacheEntry.objects.filter(key=key).select_related("artifact__run__stack").first()
        if entry is None:
            return None
        artifact = entry.artifact
        try:
            value = self._stored_outputs(artifact.run, entry.step) or self._load(
                artifact.uri, artifact.data, artifact.run
            )
        except DatabaseError:
            raise  # the recorder's own trouble, handled as such (replayed, or the run's recording lost)
        except Exception as exc:
            # Any failure to read (a file gone, a bucket this worker may not read, Google unreachable) costs
            # the step a run, never a wrong result; what it was is logged.
            logger.warning("cache entry %s points at an unreadable artifact %s (%s: %s); running the step",
                           key[:12], artifact.uri, type(exc).__name__, exc)  # fmt: skip
            return None
        artifact_id = artifact.pk
        # The step served from cache then links the artifact it was served, and so the run that made it.
        self.recorder.writer.cached_artifacts[key] = artifact_id
        return value

    def _stored_outputs(self, run: Run, step: str) -> dict[str, Any] | None:
        """A step with several outputs, as the run that made them stored them: one artifact each, given
        back by name (which the engine hands on as it would the step's own result)."""
        names = self.outputs.get(step, [])
        if len(names) < 2:
            return None
        stored = Artifact.objects.filter(run=run, step=step, name__in=names).values_list("name", "uri", "data")
        return {name: self._load(uri, data, run) for name, uri, data in stored} or None

    def _load(self, uri: str, data: bytes | None, run: Run) -> Any:
        """An entry's output wherever its run stored it: here, or under a remote stack's artifact_uri, read
        with that stack's own client (a remote unit's entry serves a local run)."""
        from .remote_artifacts import StackArtifacts

        if self._remote is None:
            self._remote = StackArtifacts()
        return self._remote.value(uri, bytes(data) if data is not None else None, run.stack)

    def set_value(self, key: str, value: Any, step_name: str, code_hash: str) -> None:
        uri = self.artifacts.last_uri.get(step_name)
        if uri is None:
            return
        self._written[key] = value
        self.recorder.cache_entry(key, step_name, code_hash, uri)
