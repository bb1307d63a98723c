"""What `runs/` asks of a remote kind of stack: submit a unit of work, poll it, cancel it, find it again,
fetch its logs, and reach the outputs its jobs wrote.

Execution has one direction: `runs/` drives the kinds, and a kind imports nothing from `runs/`
(tests/test_import_direction.py holds that). A kind knows its config, its client and its provider's
states; what a run is, and when a unit may start, is the control plane's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Protocol

from flowsite.engine import Capacity, DockerConfig, ExecutionStatus, ResourceConfig


class JobLookupError(Exception):
    """The provider could not be asked, or did not say; ask again later. Never a reason to fail a run."""


class JobGone(JobLookupError):
    """The provider says the job does not exist."""


class JobLookupRefused(JobLookupError):
    """The provider refuses to say, and will go on refusing until someone changes the stack (no permission,
    credentials it rejects, a request it calls invalid): asking again every pass heals nothing."""


class CancelRefused(Exception):
    """The provider did not take a cancel; the message says why (the job had ended, no permission...)."""


class JobRefused(Exception):
    """The provider refused to create the job for good (a bad machine type, no permission): sending the
    same request again would be refused again."""


@dataclass(frozen=True)
class JobSpec:
    """One job to submit: a whole run (placement `run`) or one execution unit (placement `unit`).

    `labels` say whose the job is, so that a job submitted by a worker that died before recording it
    can be found again; `env` is what the job's container is given.
    """

    display_name: str
    labels: dict[str, str]
    env: dict[str, str]
    resources: ResourceConfig | None = None
    docker: DockerConfig | None = None
    # Seconds the job may run before the provider stops it; None: the provider's default.
    timeout_seconds: int | None = None
    # What each of the job's steps asks of its capacity (None: as the stack says); the kind decides
    # what the job gets (flowsite.engine.capacity.unit_capacity).
    capacities: tuple[Capacity | None, ...] = ()


@dataclass
class JobReport:
    """A job's state as the provider names it, our status for it (None: the provider does not say) and its error."""

    status: ExecutionStatus | None
    state: str
    error: str
    # The job failed because it lost its machines (preempted, a stockout), not for its own reasons.
    capacity_lost: bool = False


class RemoteEngine(Protocol):
    """A remote kind's orchestrator, as `runs/` uses it."""

    def submit(self, job: JobSpec) -> str:
        """Submit the job and return its name (never retried: a lost answer may still have made it).

        JobRefused when the provider will never accept it; any other error may have made the job."""

    def report(self, job_name: str) -> JobReport:
        """The job's state; JobGone if the provider has no such job, JobLookupError if it could not say."""

    def stop_run(self, job_name: str, graceful: bool = True) -> None:
        """Ask the provider to cancel the job."""

    def find_job(self, labels: dict[str, str]) -> str | None:
        """The job carrying all these labels, if the provider has one."""

    def console_url(self, job_name: str) -> str:
        """Where a person can look at the job."""

    def job_logs(self, job_name: str) -> list[str]:
        """The job's last log lines, oldest first, as the provider's logging has them."""

    def job_environment(self) -> dict[str, str]:
        """What every job of the stack is given besides the run's settings (where its storage is)."""

    def open_artifact(self, uri: str) -> IO[bytes]:
        """A reader of an output a job wrote under the stack's artifact_uri; FileNotFoundError if gone."""

    def read_artifact(self, uri: str) -> bytes:
        """The bytes of an output a job wrote; FileNotFoundError if gone."""

    def write_artifact(self, uri: str, data: bytes) -> None:
        """Store bytes under the stack's artifact_uri, for its jobs to read (a local output a unit is served)."""

    def delete_artifact(self, uri: str) -> None:
        """Delete an output a job wrote; one already gone is no error."""
