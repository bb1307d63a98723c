from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator


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
_HOST_PORT = re.compile(rf"(?:{_HOST}(?:\.{_HOST})*|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{{1,5}}))?")
