"""Pipelines, runs and everything a run leaves behind (projects and their members are in accounts).

Every status change is a conditional UPDATE that reports whether it won, and writes a
RunEvent; that is what keeps two workers, a cancel and the reaper from trampling each other.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, models, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Membership, Project


class PipelineDef(models.Model):
    """A pipeline as registered from code: one row per name and code version."""

    name = models.CharField(max_length=200)
    module = models.CharField(max_length=200)
    code_version = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    dag = models.JSONField(default=dict)
    parameters = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "code_version"], name="one_def_per_code_version")]
        indexes = [models.Index(fields=["name", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} @ {self.code_version}"


class WorkerCode(models.Model):
    """The version of a pipeline a worker host has on disk, as it last said (at start, at sync, at each run)."""

    host = models.CharField(max_length=255)
    pipeline = models.CharField(max_length=200)
    code_version = models.CharField(max_length=64)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["host", "pipeline"], name="one_code_version_per_host")]
        indexes = [models.Index(fields=["pipeline", "code_version"])]

    def __str__(self) -> str:
        return f"{self.pipeline} @ {self.code_version} on {self.host}"


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD = "dead"


FINAL_RUN_STATES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.DEAD})
ACTIVE_RUN_STATES = frozenset({RunStatus.PROVISIONING, RunStatus.RUNNING, RunStatus.CANCELLING})


class StepStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    CACHED = "cached"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STEP_STATES = frozenset(
    {StepStatus.COMPLETED, StepStatus.CACHED, StepStatus.SKIPPED, StepStatus.FAILED, StepStatus.CANCELLED}
)


class FailureReason(models.TextChoices):
    STEP_FAILED = "step_failed"
    CANCELLED = "cancelled"
    HEARTBEAT_LOST = "heartbeat_lost"
    PROCESS_DIED = "process_died"
    PIPELINE_MISSING = "pipeline_missing"
    STACK_ERROR = "stack_error"
    REMOTE_JOB_FAILED = "remote_job_failed"
    REMOTE_JOB_GONE = "remote_job_gone"
    INTERNAL_ERROR = "internal_error"
    RECORDING_LOST = "recording_lost"
    CODE_MISMATCH = "code_mismatch"
    # A remote job ended well, but its runner did not report every step ending well.
    REMOTE_STEPS_UNFINISHED = "remote_steps_unfinished"


class RunStateError(Exception):
    """The run is in a state where this action makes no sense (cancelling a finished run)."""

    def __init__(self, run: Run, message: str) -> None:
        super().__init__(message)
        self.run = run


class RunQuerySet(models.QuerySet["Run"]):
    def visible_to(self, user: Any) -> RunQuerySet:
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        # IN (the user's projects), not a join through them: joined, SQLite (with statistics) read the runs
        # project by project and sorted them all for a page of the newest (280 ms at 100,000 runs), where
        # the subquery lets it walk the newest-first index and stop at a page (1 ms).
        return self.filter(project_id__in=Membership.objects.filter(user=user).values("project_id"))

    def active(self) -> RunQuerySet:
        return self.filter(status__in=ACTIVE_RUN_STATES)

    def search(self, term: str) -> RunQuerySet:
        """Runs whose id is `term` (42 or #42), or whose pipeline's name or parameters (as JSON) contain it,
        ignoring case; every run for a blank term."""
        term = term.strip()
        if not term:
            return self
        # The pipelines looked up first (a few rows), so that every condition is on the runs table's own columns
        # with an index each, and PostgreSQL estimates them well: a subquery there read as half of all runs.
        pipelines = list(PipelineDef.objects.filter(name__icontains=term).values_list("pk", flat=True))
        matches = _params_containing(term, self.db)
        if pipelines:
            matches |= Q(pipeline_id__in=pipelines)
        number = term.removeprefix("#")
        if number.isdigit() and len(number) < 19:
            matches |= Q(pk=int(number))
        return self.filter(matches)

    def trigger(self, **kwargs: Any) -> Run:
        """Validate and queue a run: see `runs.triggering.trigger_run`."""
        from .triggering import trigger_run

        return trigger_run(**kwargs)


# Runs whose parameters match a search, at most, that the runs list looks up by id rather than by reading runs.
FEW_PARAM_MATCHES = 1000


def _params_containing(term: str, using: str) -> Q:
    """The runs whose parameters contain `term`: on SQLite by id when they are few, else by their text.

    No index serves a search inside a text on SQLite, and the runs list, newest first, read the runs through its
    index one by one until a page was full: for a rare text, every run (60 ms and more at 100,000 runs). Read in
    the order they are stored instead (from an index of the parameters alone, migration 0019), and given up at
    a few more matches than an id list should hold, they cost some 10 ms for all (bench/api.py); a text that more
    runs match fills a page after a few of the newest, as it did. PostgreSQL finds the few runs by its trigram
    index (0013) within the one query: the lookup there only added its own few ms.
    """
    condition = Q(params__icontains=term)
    if connections[using].vendor != "sqlite":
        return condition
    ids = list(
        Run.objects.using(using).filter(condition).order_by().values_list("pk", flat=True)[: FEW_PARAM_MATCHES + 1]
    )
    return Q(pk__in=ids) if len(ids) <= FEW_PARAM_MATCHES else condition


class Run(models.Model):
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="runs")
    pipeline = models.ForeignKey(PipelineDef, on_delete=models.PROTECT, related_name="runs")
    stack = models.ForeignKey("stacks.Stack", on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    params = models.JSONField(default=dict, blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    failure_reason = models.CharField(max_length=32, choices=FailureReason.choices, blank=True)
    failure_message = models.TextField(blank=True)
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.IntegerField(null=True, blank=True)
    process_group = models.IntegerField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    remote_job_name = models.CharField(max_length=500, blank=True)
    remote_console_url = models.URLField(max_length=1000, blank=True)
    remote_cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # Reconcile passes in a row on which the provider refused for good to report the job (reset by an answer).
    remote_refusals = models.PositiveIntegerField(default=0)
    # Names the run outside this database (a remote job's labels): unlike the pk, never reused,
    # not after a database reset, not by another control plane.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    # Set when retention deleted its log, step events and artifacts (runs.pruning); the outcome stays.
    pruned_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    # False for a fresh run: every step executes, none is served from the cache (what it makes is cached).
    use_cache = models.BooleanField(default=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "-created_at", "-id"], name="run_project_recent"),
            models.Index(fields=["status", "-created_at", "-id"], name="run_status_recent"),
            models.Index(fields=["pipeline", "-created_at", "-id"], name="run_pipeline_recent"),
            models.Index(fields=["-created_at", "-id"], name="run_recent"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="one_run_per_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.pipeline.name} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINAL_RUN_STATES

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()

    def transition(
        self,
        allowed: frozenset[str] | set[str] | tuple[str, ...],
        new: str,
        reason: str = "",
        actor: Any = None,
        condition: Q | None = None,
        **fields: Any,
    ) -> bool:
        """Move to `new` if the run is still in one of `allowed` (and meets `condition`); True if this call won.

        The old status is part of the statement's condition, so the event records the
        state that was actually left.
        """
        reason = self.sanitize(reason)
        if "failure_message" in fields:
            fields["failure_message"] = self.sanitize(fields["failure_message"])
        for old in allowed:
            rows = Run.objects.filter(pk=self.pk, status=old)
            if condition is not None:
                rows = rows.filter(condition)
            # The change and its event commit together: a connection lost between them must not
            # leave a state that history cannot explain.
            with transaction.atomic():
                changed = rows.update(status=new, **fields)
                if changed:
                    RunEvent.objects.create(run_id=self.pk, old_status=old, new_status=new, reason=reason, actor=actor)
                    if new in FINAL_RUN_STATES:
                        # Notifications are created with the run's end, and sent after it commits,
                        # by another process: a receiver never holds up a run.
                        from notifications.dispatch import record_run_end

                        record_run_end(self.pk, self.project_id, new)
            if changed:
                self.status = new
                for name, value in fields.items():
                    setattr(self, name, value)
                return True
        return False

    def cancel(self, by: Any = None) -> Run:
        """Queued: cancelled at once. Running: cancelling, which the executor turns into a stop."""
        now = timezone.now()
        actor = by if by is not None and by.is_authenticated else None
        if self.transition(
            (RunStatus.QUEUED,),
            RunStatus.CANCELLED,
            reason="cancelled before it started",
            actor=actor,
            cancel_requested_at=now,
            cancelled_by=actor,
            finished_at=now,
            failure_reason=FailureReason.CANCELLED,
            failure_message="Cancelled before it started",
        ):
            self.end_steps((StepStatus.PENDING,), StepStatus.CANCELLED, "run cancelled before it started", actor)
            return self
        if self.transition(
            (RunStatus.RUNNING, RunStatus.PROVISIONING),
            RunStatus.CANCELLING,
            reason="cancel requested",
            actor=actor,
            cancel_requested_at=now,
            cancelled_by=actor,
        ):
            from stacks.registry import remote_kinds

            if self.stack.kind in remote_kinds():
                from .remote_runs import start_reconcile_loop

                # The loop passes the cancel on to the job at once, rather than at its next pass.
                transaction.on_commit(start_reconcile_loop)
            return self
        self.refresh_from_db()
        if self.status == RunStatus.CANCELLING:
            return self
        raise RunStateError(self, f"run {self.pk} is already {self.status}; there is nothing to cancel")

    def retry(self, by: Any = None) -> Run:
        """A new run of the same pipeline, stack and parameters; steps that completed come from the cache."""
        from .triggering import trigger_run

        if self.status not in FINAL_RUN_STATES:
            raise RunStateError(self, f"run {self.pk} is still {self.status}; wait for it to finish or cancel it")
        if self.status == RunStatus.COMPLETED:
            raise RunStateError(self, f"run {self.pk} completed; there is nothing to retry")
        return trigger_run(
            project=self.project,
            pipeline=self.pipeline.name,
            stack=self.stack,
            params=self.params,
            user=by,
            retry_of=self,
        )

    def end_steps(
        self, from_statuses: tuple[str, ...], to: str, reason: str = "", actor: Any = None, **fields: Any
    ) -> int:
        """Move this run's steps that are still in `from_statuses` to `to`, each with a RunEvent.

        Used when the run ends around its steps (cancelled, dead, crashed); returns how many moved.
        """
        reason = self.sanitize(reason)
        if "error" in fields:
            fields["error"] = self.sanitize(fields["error"])
        rows = list(StepRun.objects.filter(run_id=self.pk, status__in=from_statuses).values_list("pk", "status"))
        moved: list[tuple[int, str]] = []
        with transaction.atomic():
            for old in {status for _, status in rows}:
                ids = [pk for pk, status in rows if status == old]
                if StepRun.objects.filter(pk__in=ids, status=old).update(status=to, **fields) == len(ids):
                    moved.extend((pk, old) for pk in ids)
                else:
                    # Some ended meanwhile by another hand: account only for those now in `to`.
                    now_to = set(StepRun.objects.filter(pk__in=ids, status=to).values_list("pk", flat=True))
                    moved.extend((pk, old) for pk in ids if pk in now_to)
            at = timezone.now()
            RunEvent.objects.bulk_create(
                RunEvent(run_id=self.pk, step_id=pk, old_status=old, new_status=to, reason=reason, actor=actor, at=at)
                for pk, old in moved
            )
        return len(moved)

    def sanitize(self, text: str) -> str:
        """Text the run stores about itself (reasons, failure messages), with its stack's secrets masked.

        Errors quote what user code said, and user code can see the secrets: every run-level text
        passes here, as every log line and step error passes the recorder's sanitiser.
        """
        sanitizer = getattr(self, "_sanitizer", None)
        if sanitizer is None:
            from .logsanitize import Sanitizer

            secrets = self.stack.secret_values() if self.stack_id is not None else []
            sanitizer = self._sanitizer = Sanitizer(secrets)
        return sanitizer(text)

    def refresh_status(self) -> str:
        self.status = Run.objects.values_list("status", flat=True).get(pk=self.pk)
        return self.status


class StepRun(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=200)
    group = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    cached = models.BooleanField(default=False)
    skipped = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    cache_key = models.CharField(max_length=64, blank=True)
    output_artifact = models.ForeignKey("Artifact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="one_step_run_per_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class RunnerReport(models.Model):
    """The last batch of events each remote runner of a run reported: a batch sent again because its answer
    was lost is recorded once. Kept per runner, not per run: a run placed per unit has a runner per job,
    each numbering its own batches from 1, and their reports interleave."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="runner_reports")
    runner = models.CharField(max_length=32)
    batch = models.PositiveBigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "runner"], name="one_report_cursor_per_runner")]

    def __str__(self) -> str:
        return f"runner {self.runner} of run {self.run_id}: batch {self.batch}"

    @classmethod
    def is_new(cls, run_id: int, runner: str, batch: int) -> bool:
        """Note the runner's batch; False if the runner reported it (or a later one) before. Called with
        the run's row locked, which holds the run's reports one at a time."""
        if cls.objects.filter(run_id=run_id, runner=runner, batch__lt=batch).update(batch=batch):
            return True
        if cls.objects.filter(run_id=run_id, runner=runner).exists():
            return False
        cls.objects.create(run_id=run_id, runner=runner, batch=batch)
        return True


class RunEvent(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    step = models.ForeignKey(StepRun, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    old_status = models.CharField(max_length=16, blank=True)
    new_status = models.CharField(max_length=16)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "at", "id"]
        indexes = [models.Index(fields=["run", "at"])]

    def __str__(self) -> str:
        return f"{self.old_status or '-'} -> {self.new_status}"


class LogStream(models.TextChoices):
    """Where a log line came from: the step's stdout, its stderr, or a `logging` record."""

    STDOUT = "stdout"
    STDERR = "stderr"
    LOGGING = "logging"


class LogLine(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="log_lines")
    step = models.CharField(max_length=200, blank=True)
    seq = models.PositiveBigIntegerField()
    stream = models.CharField(max_length=16)
    level = models.CharField(max_length=16)
    text = models.TextField()
    at = models.DateTimeField()

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="one_log_line_per_seq")]

    def __str__(self) -> str:
        return f"{self.seq} {self.step}: {self.text[:80]}"


class MetricQuerySet(models.QuerySet["Metric"]):
    def last_values(self) -> MetricQuerySet:
        """Each run's last value of each metric (a series ends where its last point is): what a run "scored"."""
        last = Metric.objects.filter(run=models.OuterRef("run"), name=models.OuterRef("name")).order_by("-seq")
        return self.filter(seq=models.Subquery(last.values("seq")[:1]))


class Metric(models.Model):
    """A number a step recorded with `log_metric`; `step_index` places it in a series (an epoch)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metrics")
    step = models.ForeignKey(StepRun, on_delete=models.CASCADE, related_name="metrics")
    # The run's order of recording, which makes a batch written again after a lost answer recognisable.
    seq = models.PositiveBigIntegerField()
    name = models.CharField(max_length=100)
    value = models.FloatField()
    step_index = models.PositiveIntegerField(null=True, blank=True)
    at = models.DateTimeField()

    objects = MetricQuerySet.as_manager()

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="one_metric_per_seq")]
        indexes = [models.Index(fields=["run", "name", "seq"])]

    def __str__(self) -> str:
        return f"{self.name}={self.value:g}"


class Artifact(models.Model):
    """A step's output. Small ones live in `data` (uri `inline:...`); larger ones in files or buckets.

    `preview` is what the web tier shows of it (made by the runner, which had the value in memory):
    the artifact itself is a pickle, which only a worker ever loads.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="artifacts")
    step = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    uri = models.CharField(max_length=1000)
    data = models.BinaryField(null=True, blank=True, editable=False)
    size = models.PositiveBigIntegerField(default=0)
    digest = models.CharField(max_length=64, blank=True)
    type = models.CharField(max_length=200, blank=True)
    preview = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "created_at", "id"]
        indexes = [models.Index(fields=["run", "step"])]

    def __str__(self) -> str:
        return f"{self.step}/{self.name}"


class CacheEntry(models.Model):
    key = models.CharField(max_length=64, unique=True)
    step = models.CharField(max_length=200)
    code_hash = models.CharField(max_length=64)
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="cache_entries")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "cache entries"

    def __str__(self) -> str:
        return f"{self.step} {self.key[:12]}"


class RunToken(models.Model):
    """The remote runner's credential: it reports on this one run, and only while the run is active."""

    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="token")
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    # Besides ending with its run: a token copied out of a job's spec is worthless after the longest run.
    expires_at = models.DateTimeField(null=True, blank=True)

    @classmethod
    def issue(cls, run: Run) -> str:
        secret = secrets.token_urlsafe(32)
        now = timezone.now()
        expires_at = now + timedelta(seconds=settings.FLOWSITE_MAX_RUN_SECONDS)
        cls.objects.update_or_create(
            run=run, defaults={"key_hash": _sha256(secret), "created_at": now, "expires_at": expires_at}
        )
        return f"fsr_{run.pk}_{secret}"

    @classmethod
    def authenticate(cls, key: str) -> RunToken | None:
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != "fsr" or not parts[1].isdigit():
            return None
        token = cls.objects.select_related("run").filter(run_id=int(parts[1])).first()
        if token is None or not hmac.compare_digest(token.key_hash, _sha256(parts[2])):
            return None
        if token.expires_at is not None and token.expires_at <= timezone.now():
            return None
        return token


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Installation(models.Model):
    """This control plane's identity, made once per database: remote jobs are labelled with it, so
    jobs of another control plane in the same cloud project, or of this one before its database
    was reset, are never taken for ours. Kept in the database rather than in a setting because
    it must change exactly when the run ids it qualifies start again, and a setting is easily copied."""

    uid = models.UUIDField(default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    @classmethod
    def current_id(cls) -> str:
        # One row, pk 1: two processes creating it at once agree on the winner's.
        return cls.objects.get_or_create(pk=1)[0].uid.hex


class Lease(models.Model):
    """A named job only one process should do at a time (the reconcile loop), held until it expires."""

    name = models.CharField(max_length=100, primary_key=True)
    holder = models.CharField(max_length=200)
    expires_at = models.DateTimeField()

    @classmethod
    def acquire(cls, name: str, holder: str, seconds: float) -> bool:
        now = timezone.now()
        until = now + timedelta(seconds=seconds)
        if cls.objects.filter(Q(expires_at__lt=now) | Q(holder=holder), name=name).update(
            holder=holder, expires_at=until
        ):
            return True
        try:
            with transaction.atomic():
                cls.objects.create(name=name, holder=holder, expires_at=until)
        except IntegrityError:
            return False
        return True

    @classmethod
    def release(cls, name: str, holder: str) -> None:
        cls.objects.filter(name=name, holder=holder).delete()
