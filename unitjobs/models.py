"""The jobs of a remote run placed per execution unit: one row per unit, in the database, so that any
worker or reconciler can carry the run on after a restart.

A unit (a step, or a step group whose steps run together) waits until the steps it takes inputs from
have ended well, then one job is submitted for it. Every change of state is a conditional UPDATE
from the state it was read in: two reconcilers, a worker and a cancel cannot move a unit twice.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from stacks.encryption import EncryptedSecretsField


class UnitState(models.TextChoices):
    WAITING = "waiting"  # for its inputs, or for a free slot under the stack's limit
    SUBMITTING = "submitting"  # claimed by one process, which is creating its job
    QUEUED = "queued"  # the job exists; the provider has not started it
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    NOT_RUN = "not_run"  # never submitted: the run ended first


LIVE_UNIT_STATES = frozenset({UnitState.SUBMITTING, UnitState.QUEUED, UnitState.RUNNING})
FINAL_UNIT_STATES = frozenset({UnitState.SUCCEEDED, UnitState.FAILED, UnitState.CANCELLED, UnitState.NOT_RUN})


class UnitPlan(models.Model):
    """Marks a run as placed per unit, and holds the run token its jobs are given.

    A run token is issued once per run (issuing again would end the one running jobs hold), so every
    process that submits a unit later needs it: kept encrypted like a stack's secrets.
    """

    run = models.OneToOneField("runs.Run", on_delete=models.CASCADE, primary_key=True, related_name="unit_plan")
    secrets = EncryptedSecretsField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    @property
    def token(self) -> str:
        return self.secrets["token"]


class UnitJob(models.Model):
    run = models.ForeignKey("runs.Run", on_delete=models.CASCADE, related_name="unit_jobs")
    unit = models.CharField(max_length=200, help_text="The step's name, or the step group's.")
    position = models.PositiveIntegerField()
    steps = models.JSONField(default=list, help_text="Names of the steps the unit runs, in order.")
    needs = models.JSONField(default=list, help_text="Names of the steps whose outputs the unit reads.")
    state = models.CharField(max_length=16, choices=UnitState.choices, default=UnitState.WAITING)
    attempt = models.PositiveIntegerField(default=0, help_text="Jobs submitted for the unit so far.")
    capacity_losses = models.PositiveIntegerField(default=0, help_text="Its jobs lost to preemption or a stockout.")
    lookup_refusals = models.PositiveIntegerField(
        default=0, help_text="Passes in a row the provider refused to report its job (no permission, bad credentials)."
    )
    job_name = models.CharField(max_length=500, blank=True)
    console_url = models.CharField(max_length=1000, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Not submitted again before this: the backoff after its job lost its capacity.
    retry_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # A run's FailureReason, for the run when this unit's failure ends it.
    failure_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "unit"], name="one_job_row_per_unit")]
        indexes = [models.Index(fields=["run", "state"])]

    def __str__(self) -> str:
        return f"{self.unit} ({self.state}, attempt {self.attempt})"

    def move(self, to: str, allowed: tuple[str, ...] | frozenset[str], **fields: object) -> bool:
        """Move to `to` if still in one of `allowed` (and at the same attempt); True if this call moved it."""
        won = bool(
            UnitJob.objects.filter(pk=self.pk, state__in=allowed, attempt=self.attempt).update(state=to, **fields)
        )
        if won:
            self.state = to
            for name, value in fields.items():
                setattr(self, name, value)
        return won
