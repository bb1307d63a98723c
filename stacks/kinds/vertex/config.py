from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class VertexConfig(BaseModel):
    """Settings of a Vertex AI stack. Validating them imports nothing from Google."""

    model_config = ConfigDict(extra="forbid")

    project_id: str = Field(min_length=1, description="Google Cloud project that runs the jobs.")
    region: str = Field("us-central1", min_length=1)
    staging_bucket: str | None = Field(None, description="gs://bucket for the SDK's staging files.")
    service_account: str | None = Field(None, description="Service account the job runs as.")
    network: str | None = Field(None, description="VPC network, projects/NUMBER/global/networks/NAME.")
    encryption_key: str | None = Field(None, description="Customer-managed encryption key for the job.")
    image: str | None = Field(None, description="Container image holding the project's code and Flowsite.")
    machine_type: str | None = Field(None, description="Machine type; chosen from the steps' resources if empty.")
    api_endpoint: str | None = Field(
        None, description="Private or test endpoint: host[:port] over TLS, or http://host:port (no credentials)."
    )
    artifact_uri: str | None = Field(None, description="Where remote steps write outputs: gs://... or file://...")
    storage_endpoint: str | None = Field(
        None, description="Private or test Cloud Storage endpoint, https://host or http://host:port (no credentials)."
    )
    credentials: Literal["default", "key", "impersonate"] = Field(
        "default",
        description="default: the machine's credentials; key: the service-account key in the secret "
        "credentials_secret; impersonate: act as impersonate_service_account.",
    )
    credentials_secret: str = Field(
        "GOOGLE_SERVICE_ACCOUNT_KEY", min_length=1, description="The secret holding the key (credentials key)."
    )
    impersonate_service_account: str | None = Field(None, description="Service account to act as (impersonate).")
    logging_endpoint: str | None = Field(
        None, description="Private or test Cloud Logging endpoint, https://host or http://host:port (no credentials)."
    )
    # Stacks made before placement existed were given "run" by a migration (unitjobs 0002), so they keep
    # their single job; a new stack places each unit on its own machine.
    placement: Literal["unit", "run"] = Field(
        "unit",
        description="unit: a CustomJob per step or step group, on the machine its resources ask for, branches "
        "in parallel; run: one CustomJob for the whole run, sized to its largest step.",
    )
    scheduling_strategy: Literal["standard", "spot", "flex-start"] = Field(
        "standard",
        description="standard: on-demand machines; spot: cheaper, may be preempted; flex-start: "
        "queued until the machines are free, up to max_wait_seconds.",
    )
    max_wait_seconds: int | None = Field(
        None,
        ge=60,
        le=7 * 24 * 3600,
        description="How long a job may wait for capacity before it fails (spot, flex-start).",
    )
    restart_job_on_worker_restart: bool = Field(False, description="Vertex restarts the job if its machine restarts.")
    capacity_retries: int = Field(
        3, ge=0, le=20, description="Times a unit lost to preemption or a stockout is submitted again (placement unit)."
    )
    capacity_backoff_seconds: float = Field(
        30.0, ge=0, le=3600, description="Wait before the first resubmission; doubled for each one after."
    )
    max_concurrent_jobs: int = Field(
        8, ge=1, le=1000, description="Jobs of one run that may be live at once (placement unit)."
    )

    @field_validator("staging_bucket")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("gs://"):
            raise ValueError("must start with gs://")
        return value

    @field_validator("artifact_uri")
    @classmethod
    def _artifacts(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("gs://", "file://")):
            raise ValueError("must start with gs:// or file://")
        return value

    @model_validator(mode="after")
    def _impersonation(self) -> VertexConfig:
        if self.credentials == "impersonate" and not self.impersonate_service_account:
            raise ValueError("impersonate_service_account: required when credentials is impersonate")
        return self

    @field_validator("storage_endpoint", "logging_endpoint")
    @classmethod
    def _storage_endpoint(cls, value: str | None) -> str | None:
        if value is not None and _URL.fullmatch(value) is None:
            raise ValueError("must be https://host[:port] or http://host:port, with nothing after the port")
        return value

    @field_validator("api_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return value
        # What the JobService client can use: a host name, reached over TLS with gRPC and Google
        # credentials, or http://host:port, plain HTTP without credentials (a local test server).
        plain = value.removeprefix("http://")
        if "://" in plain:
            scheme = plain.split("://", 1)[0]
            raise ValueError(
                f"{scheme}:// is not supported: give the host name alone "
                "(e.g. europe-west4-aiplatform.googleapis.com), which is reached over TLS, "
                "or http://host:port for a local server"
            )
        found = _HOST_PORT.fullmatch(plain)
        if found is None or (found["port"] is not None and not 0 < int(found["port"]) < 65536):
            raise ValueError(
                "must be host or host:port (e.g. europe-west4-aiplatform.googleapis.com), or http://host:port "
                "for a local server, with nothing after the port"
            )
        return value


_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_URL = re.compile(rf"https?://(?:{_HOST}(?:\.{_HOST})*|\[[0-9A-Fa-f:.]+\])(?::\d{{1,5}})?")
_HOST_PORT = re.compile(rf"(?:{_HOST}(?:\.{_HOST})*|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{{1,5}}))?")
