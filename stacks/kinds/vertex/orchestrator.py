"""VertexAIOrchestrator: the seed's contract, on google-cloud-aiplatform 2.7, imported only when used.

Every call goes through the stack's own GAPIC JobService client (endpoint, credentials, transport)
with a CustomJob message built here from the stack's settings: the SDK's `aiplatform.init` is
process-wide, so with it a job for one stack could go to another stack's endpoint with its key.
"""

from __future__ import annotations

import importlib.util
import re
import time
from datetime import datetime
from typing import IO, Any

from flowsite.engine import (
    Capacity,
    DockerConfig,
    ExecutionStatus,
    RemoteOrchestrator,
    ResourceConfig,
    SubmissionResult,
)
from flowsite.engine.capacity import unit_capacity
from flowsite.engine.resources import parse_bytes, parse_cpu

from ..protocol import CancelRefused, JobGone, JobLookupError, JobLookupRefused, JobRefused, JobReport, JobSpec
from .states import status_for
from .storage import StackStorage

RUN_LABEL = "flowsite-run"
RUNNER_COMMAND = ["python", "-m", "flowsite.remote"]
WAIT_POLL_SECONDS = 15
LOOKUP_TIMEOUT_SECONDS = 10
SUBMIT_TIMEOUT_SECONDS = 30
# What a run shows of a job whose runner never reported: its last entries, each cut to this length.
LOG_ENTRIES = 20
LOG_ENTRY_CHARS = 500

# Vertex's names for common accelerators, keyed by how people write them.
_ACCELERATORS = {
    "T4": "NVIDIA_TESLA_T4",
    "V100": "NVIDIA_TESLA_V100",
    "P100": "NVIDIA_TESLA_P100",
    "P4": "NVIDIA_TESLA_P4",
    "K80": "NVIDIA_TESLA_K80",
    "A100": "NVIDIA_TESLA_A100",
    "A100_80GB": "NVIDIA_A100_80GB",
    "L4": "NVIDIA_L4",
    "H100": "NVIDIA_H100_80GB",
}
_N1_SIZES = (2, 4, 8, 16, 32, 64, 96)
_STRATEGIES = {"standard": "STANDARD", "spot": "SPOT", "flex-start": "FLEX_START"}  # Scheduling.Strategy
_CAPACITY_CODES = frozenset({8, 14})  # google.rpc.Code RESOURCE_EXHAUSTED, UNAVAILABLE
_GIB = 2**30


def accelerator_type(gpu: str) -> str:
    key = gpu.strip().upper().replace("-", "_")
    for prefix in ("NVIDIA_TESLA_", "NVIDIA_"):
        if key.startswith(prefix) and key[len(prefix) :] in _ACCELERATORS:
            return _ACCELERATORS[key[len(prefix) :]]
    return _ACCELERATORS.get(key, key)


def machine_type_for(resources: ResourceConfig) -> str:
    """The smallest n1 machine with enough cores and memory (highmem when memory dominates)."""
    if resources.machine_type:
        return resources.machine_type
    cores = float(parse_cpu(resources.cpu))
    memory_gib = parse_bytes(resources.memory) / _GIB
    for family, gib_per_core in (("n1-standard", 3.75), ("n1-highmem", 6.5)):
        for size in _N1_SIZES:
            if size >= cores and size * gib_per_core >= memory_gib:
                return f"{family}-{size}"
    raise ValueError(f"no n1 machine has {resources.cpu} cores and {resources.memory}; set machine_type")


class VertexAIOrchestrator(RemoteOrchestrator):
    """Submits runs as Vertex AI CustomJobs, reports their state and cancels them."""

    def __init__(
        self,
        name: str = "vertex_ai",
        project_id: str | None = None,
        region: str = "us-central1",
        service_account: str | None = None,
        network: str | None = None,
        encryption_key: str | None = None,
        staging_bucket: str | None = None,
        image: str | None = None,
        machine_type: str | None = None,
        api_endpoint: str | None = None,
        artifact_uri: str | None = None,
        storage_endpoint: str | None = None,
        logging_endpoint: str | None = None,
        placement: str = "run",
        scheduling_strategy: str = "standard",
        max_wait_seconds: int | None = None,
        restart_job_on_worker_restart: bool = False,
        capacity_retries: int = 3,
        capacity_backoff_seconds: float = 30.0,
        max_concurrent_jobs: int = 8,
        credentials: Any = None,
    ) -> None:
        super().__init__(name)
        self.project_id = project_id
        self.region = region
        self.service_account = service_account
        self.network = network
        self.encryption_key = encryption_key
        self.staging_bucket = staging_bucket
        self.image = image
        self.machine_type = machine_type
        self.api_endpoint = api_endpoint
        self.artifact_uri = artifact_uri
        self.placement = placement
        self.storage = StackStorage(project_id, credentials, storage_endpoint)
        self.logging_endpoint = logging_endpoint
        self.max_concurrent_jobs = max_concurrent_jobs
        self.scheduling_strategy = scheduling_strategy
        self.max_wait_seconds = max_wait_seconds
        self.restart_job_on_worker_restart = restart_job_on_worker_restart
        self.capacity_retries = capacity_retries
        self.capacity_backoff_seconds = capacity_backoff_seconds
        self.credentials = credentials
        # Set by for_stack(): exported to the job's environment like a local stack's.
        self.secrets: dict[str, str] = {}
        self._client: Any = None

    @classmethod
    def for_stack(cls, config: Any, secrets: dict[str, str]) -> VertexAIOrchestrator:
        from .credentials import stack_credentials

        settings = config.model_dump(exclude={"credentials", "credentials_secret", "impersonate_service_account"})
        orchestrator = cls(**settings, credentials=stack_credentials(config, secrets))
        orchestrator.secrets = dict(secrets)
        return orchestrator

    @staticmethod
    def control_plane_secrets(config: Any) -> set[str]:
        """Secrets the control plane keeps to itself: the key it authenticates with never goes to a job."""
        return {config.credentials_secret} if config.credentials != "default" else set()

    def validate(self) -> bool:
        if not self.project_id:
            raise ValueError("project_id is required for VertexAIOrchestrator")
        if not self.staging_bucket:
            raise ValueError("staging_bucket is required for VertexAIOrchestrator: jobs write their outputs there")
        if importlib.util.find_spec("google.cloud.aiplatform") is None:
            raise ImportError(
                "google-cloud-aiplatform is required for VertexAIOrchestrator. "
                "Install with: pip install google-cloud-aiplatform"
            )
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": "vertex_ai",
            "project_id": self.project_id,
            "region": self.region,
            "service_account": self.service_account,
            "network": self.network,
        }

    def console_url(self, job_name: str) -> str:
        job_id = job_name.rsplit("/", 1)[-1]
        return (
            f"https://console.cloud.google.com/vertex-ai/locations/{self.region}/training/{job_id}/cpu"
            f"?project={self.project_id}"
        )

    def worker_pool_specs(
        self,
        resources: ResourceConfig | None = None,
        docker_config: DockerConfig | None = None,
        env: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        resources = resources or ResourceConfig()
        docker_config = docker_config or DockerConfig()
        image = docker_config.image or self.image
        if not image:
            raise ValueError("no container image: set the stack's image or DockerConfig.image")
        machine_spec: dict[str, Any] = {
            "machine_type": self.machine_type
            if self.machine_type and not resources.machine_type
            else machine_type_for(resources)
        }
        if resources.gpu and resources.gpu_count:
            machine_spec["accelerator_type"] = accelerator_type(resources.gpu)
            machine_spec["accelerator_count"] = resources.gpu_count
        environment = {**docker_config.env_vars, **(env or {})}
        container: dict[str, Any] = {
            "image_uri": image,
            "command": list(docker_config.command or RUNNER_COMMAND),
            "env": [{"name": name, "value": value} for name, value in sorted(environment.items())],
        }
        if docker_config.args:
            container["args"] = list(docker_config.args)
        return [
            {
                "machine_spec": machine_spec,
                "replica_count": 1,
                "disk_spec": {
                    "boot_disk_type": "pd-ssd",
                    "boot_disk_size_gb": max(100, parse_bytes(resources.disk_size) // _GIB),
                },
                "container_spec": container,
            }
        ]

    @property
    def parent(self) -> str:
        return f"projects/{self.project_id}/locations/{self.region}"

    @property
    def capacity(self) -> Capacity:
        """The stack's capacity settings: what a job gets where its steps ask nothing else."""
        return Capacity(self.scheduling_strategy, self.max_wait_seconds, self.restart_job_on_worker_restart)

    def scheduling(self, timeout_seconds: int | None = None, capacities: tuple[Capacity | None, ...] = ()) -> Any:
        """How Vertex schedules a job: capacity strategy, wait for capacity, timeout, restarts; the stack's
        settings, overridden by what the job's steps ask (for a group of steps, what satisfies them all)."""
        from google.cloud.aiplatform_v1.types import Scheduling
        from google.protobuf.duration_pb2 import Duration

        capacity = unit_capacity(capacities, self.capacity)
        scheduling = Scheduling(
            strategy=Scheduling.Strategy[_STRATEGIES[capacity.strategy or "standard"]],
            restart_job_on_worker_restart=bool(capacity.restart_job_on_worker_restart),
        )
        if timeout_seconds:
            scheduling.timeout = Duration(seconds=timeout_seconds)
        if capacity.max_wait_seconds:
            scheduling.max_wait_duration = Duration(seconds=capacity.max_wait_seconds)
        return scheduling

    def custom_job(
        self,
        display_name: str,
        worker_pool_specs: list[dict[str, Any]],
        labels: dict[str, str],
        timeout_seconds: int | None = None,
        capacities: tuple[Capacity | None, ...] = (),
    ) -> Any:
        """The CustomJob message, from this stack's settings only (the SDK's CustomJob would fill gaps
        from `aiplatform.init`, which is process-wide and so carries one stack's settings into another's)."""
        from google.cloud.aiplatform_v1.types import CustomJob, CustomJobSpec, EncryptionSpec, GcsDestination

        # Where the SDK would put the job's outputs, so a bucket's layout stays what it was.
        stamp = datetime.now().isoformat(sep="-", timespec="milliseconds")
        return CustomJob(
            display_name=display_name,
            job_spec=CustomJobSpec(
                worker_pool_specs=worker_pool_specs,
                base_output_directory=GcsDestination(
                    output_uri_prefix=f"{(self.staging_bucket or '').rstrip('/')}/aiplatform-custom-job-{stamp}"
                ),
                service_account=self.service_account or "",
                network=self.network or "",
                scheduling=self.scheduling(timeout_seconds, capacities),
            ),
            labels=labels,
            encryption_spec=EncryptionSpec(kms_key_name=self.encryption_key) if self.encryption_key else None,
        )

    def run_pipeline(
        self,
        pipeline: Any,
        run_id: str,
        resources: ResourceConfig | None = None,
        docker_config: DockerConfig | None = None,
        inputs: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> SubmissionResult:
        """Submit one CustomJob for the run and return at once; `wait()` polls it to the end."""
        labels = {RUN_LABEL: run_id, **kwargs.get("labels", {})}
        display_name = f"{_label(pipeline.name)}-{_label(run_id)[:8]}"
        capacities = tuple(getattr(step, "capacity", None) for step in getattr(pipeline, "steps", ()))
        job_id = self.submit(
            JobSpec(display_name, labels, kwargs.get("env") or {}, resources, docker_config, capacities=capacities)
        )

        def wait_for_completion() -> None:
            while True:
                try:
                    status = self.get_run_status(job_id)
                except JobGone:
                    raise
                except JobLookupError:
                    status = None
                if status is not None and status.is_finished:
                    if not status.is_successful:
                        raise RuntimeError(f"Vertex AI job {job_id} ended {status}")
                    return
                time.sleep(WAIT_POLL_SECONDS)

        return SubmissionResult(
            job_id=job_id,
            wait_for_completion=wait_for_completion,
            metadata={
                "platform": "vertex_ai",
                "project": self.project_id,
                "region": self.region,
                "job_name": display_name,
                "console_url": self.console_url(job_id),
            },
        )

    def submit(self, job: JobSpec) -> str:
        """Create the CustomJob and return its name; JobRefused if Vertex refuses it for good."""
        from google.api_core import exceptions as google_errors

        self.validate()
        labels = {key: _label(value) for key, value in job.labels.items()}
        pools = self.worker_pool_specs(job.resources, job.docker, job.env)
        message = self.custom_job(job.display_name, pools, labels, job.timeout_seconds, job.capacities)
        try:
            # Never retried: a create whose answer was lost may have made the job, which find_job then finds.
            return (
                self._job_client()
                .create_custom_job(parent=self.parent, custom_job=message, retry=None, timeout=SUBMIT_TIMEOUT_SECONDS)
                .name
            )
        except (google_errors.InvalidArgument, google_errors.PermissionDenied, google_errors.NotFound,
                google_errors.FailedPrecondition, google_errors.Unauthenticated) as exc:  # fmt: skip
            raise JobRefused(f"Vertex AI refused the job: {exc.message}") from None

    def job_environment(self) -> dict[str, str]:
        """What every job of this stack is given besides the run's own settings: where its storage is."""
        return {"FLOWSITE_STORAGE_ENDPOINT": self.storage.endpoint} if self.storage.endpoint else {}

    def open_artifact(self, uri: str) -> IO[bytes]:
        return self.storage.open(uri)

    def read_artifact(self, uri: str) -> bytes:
        return self.storage.read(uri)

    def write_artifact(self, uri: str, data: bytes) -> None:
        self.storage.write(uri, data)

    def delete_artifact(self, uri: str) -> None:
        self.storage.delete(uri)

    def job_logs(self, job_name: str, limit: int = LOG_ENTRIES) -> list[str]:
        """The job's last log entries in Cloud Logging, oldest first: what its container said when its
        runner never reported (an image that cannot start, a wrong entrypoint)."""
        from google.cloud import logging_v2

        options: dict[str, Any] = {"project": self.project_id, "credentials": self.credentials, "_use_grpc": False}
        if self.logging_endpoint:
            options["client_options"] = {"api_endpoint": self.logging_endpoint}
            if self.logging_endpoint.startswith("http://") and self.credentials is None:
                from google.auth.credentials import AnonymousCredentials

                options["credentials"] = AnonymousCredentials()
        job_id = job_name.rsplit("/", 1)[-1]
        entries = logging_v2.Client(**options).list_entries(
            resource_names=[f"projects/{self.project_id}"],
            filter_=f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"',
            order_by=logging_v2.DESCENDING,
            max_results=limit,
        )
        lines = [f"{entry.severity or 'DEFAULT'}: {_payload(entry.payload)}" for entry in entries]
        return lines[::-1]

    def _job_client(self) -> Any:
        """This stack's JobService client, made once per orchestrator, for every call: its endpoint,
        credentials and transport are its own, never process-wide state another stack could change.
        Calls pass their own timeout and no retry: the client's default retrying lasts minutes, which
        would stall a reconcile pass."""
        if self._client is None:
            from google.api_core.client_options import ClientOptions
            from google.cloud.aiplatform_v1.services.job_service import JobServiceClient

            endpoint = self.api_endpoint or f"{self.region}-aiplatform.googleapis.com"
            options: dict[str, Any] = {"client_options": ClientOptions(api_endpoint=endpoint)}
            if endpoint.startswith("http://"):
                from google.auth.credentials import AnonymousCredentials

                # A local endpoint (a test server): REST over plain HTTP, no Google credential lookup.
                options.update(transport="rest", credentials=self.credentials or AnonymousCredentials())
            elif self.credentials is not None:
                options["credentials"] = self.credentials
            self._client = JobServiceClient(**options)
        return self._client

    def report(self, job_id: str) -> JobReport:
        """The job's state, our status for it and Vertex's error message; JobLookupError when unknown."""
        from google.api_core import exceptions as google_errors

        try:
            job = self._job_client().get_custom_job(name=job_id, retry=None, timeout=LOOKUP_TIMEOUT_SECONDS)
        except google_errors.NotFound as exc:
            raise JobGone(f"Vertex AI has no job {job_id}: {exc.message}") from None
        except _lasting_refusals() as exc:
            raise JobLookupRefused(f"Vertex AI refused to report job {job_id}: {_refusal(exc)}") from None
        except Exception as exc:
            raise JobLookupError(f"could not look up {job_id}: {exc}") from None
        state = job.state
        error = job.error.message if job.error else ""
        status = status_for(state)
        # Our reading of how Vertex says a job lost its machines rather than failed on its own: the
        # google.rpc codes for a stockout or quota (RESOURCE_EXHAUSTED) and for a preempted or lost
        # machine (UNAVAILABLE), or an error that says it was preempted.
        lost = (
            status == ExecutionStatus.FAILED
            and bool(job.error)
            and (job.error.code in _CAPACITY_CODES or "preempt" in error.lower())
        )
        return JobReport(status=status, state=getattr(state, "name", str(state)), error=error, capacity_lost=lost)

    def get_run_status(self, job_id: str) -> ExecutionStatus:
        status = self.report(job_id).status
        if status is None:
            raise JobLookupError(f"Vertex AI gave no state for {job_id}")
        return status

    def stop_run(self, job_id: str, graceful: bool = True) -> None:
        """Ask Vertex to cancel the job; it goes CANCELLING, then CANCELLED (or ends on its own first).
        CancelRefused says what Vertex answered instead."""
        from google.api_core import exceptions as google_errors

        try:
            self._job_client().cancel_custom_job(name=job_id, retry=None, timeout=LOOKUP_TIMEOUT_SECONDS)
        except google_errors.NotFound as exc:
            raise CancelRefused(f"Vertex AI has no job {job_id} ({exc.message})") from None
        except google_errors.GoogleAPICallError as exc:
            if _google_status(exc) == "FAILED_PRECONDITION":
                raise CancelRefused(f"the job had already ended ({exc.message})") from None
            if isinstance(exc, _lasting_refusals()):
                raise CancelRefused(f"the stack may not cancel the job: {_refusal(exc)}") from None
            raise CancelRefused(f"Vertex AI answered {_refusal(exc)}") from None

    def find_job(self, labels: dict[str, str]) -> str | None:
        """The job carrying all these labels, if there is one: a job submitted earlier for the same run."""
        wanted = {key: _label(value) for key, value in labels.items()}
        request = {"parent": self.parent, "filter": " AND ".join(f'labels.{k}="{v}"' for k, v in wanted.items())}
        jobs = self._job_client().list_custom_jobs(request=request, retry=None, timeout=LOOKUP_TIMEOUT_SECONDS)
        for job in jobs:
            # The filter is a request, not a guarantee: a job is taken only if its own labels say so.
            if all(job.labels.get(key) == value for key, value in wanted.items()):
                return job.name
        return None


def _payload(payload: object) -> str:
    text = payload.get("message", str(payload)) if isinstance(payload, dict) else str(payload)
    return text.rstrip()[:LOG_ENTRY_CHARS]


def _label(value: object) -> str:
    """A Vertex label value: lowercase letters, digits, - and _, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "-", str(value).lower())[:63]


def _lasting_refusals() -> tuple[type[Exception], ...]:
    """Answers that asking again will not change until someone changes the stack: no permission, credentials
    Google rejects or cannot find, a request it calls invalid (a wrong project, region or endpoint)."""
    from google.api_core import exceptions as google_errors
    from google.auth import exceptions as auth_errors

    # Over REST, Google's answers come as the HTTP classes (Forbidden, Unauthorized, BadRequest), of which the
    # gRPC ones (PermissionDenied, Unauthenticated, InvalidArgument) are subclasses.
    return (
        google_errors.Forbidden, google_errors.Unauthorized, google_errors.BadRequest,
        auth_errors.DefaultCredentialsError, auth_errors.RefreshError,
    )  # fmt: skip


def _google_status(exc: Exception) -> str:
    """Google's own status of an error ("FAILED_PRECONDITION"), from gRPC or from a REST answer's body."""
    code = getattr(exc, "grpc_status_code", None)
    if code is not None:
        return code.name
    try:
        return exc.response.json()["error"]["status"]  # type: ignore[attr-defined]
    except Exception:
        return ""


def _refusal(exc: Exception) -> str:
    return f"{_google_status(exc) or type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
