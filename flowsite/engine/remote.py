"""Orchestrators that hand a whole run to another system, and what they hand back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .resources import DockerConfig, ResourceConfig
from .status import ExecutionStatus


class SubmissionResult:
    """A submitted remote job: its id, how to wait for it, and what the platform said."""

    def __init__(
        self,
        job_id: str,
        wait_for_completion: Callable[[], None] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.job_id = job_id
        self.wait_for_completion = wait_for_completion
        self.metadata = metadata or {}

    def wait(self) -> None:
        if self.wait_for_completion is None:
            raise RuntimeError(f"no way to wait for job {self.job_id!r}: its orchestrator gave no wait function")
        self.wait_for_completion()

    def __repr__(self) -> str:
        return f"SubmissionResult({self.job_id!r})"


class RemoteOrchestrator:
    """Base of orchestrators that submit a run elsewhere and report on it by job id."""

    def __init__(self, name: str) -> None:
        self.name = name

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
        raise NotImplementedError(f"{type(self).__name__} does not implement run_pipeline")

    def get_run_status(self, job_id: str) -> ExecutionStatus:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_run_status")

    def stop_run(self, job_id: str, graceful: bool = True) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not support stopping runs")

    def validate(self) -> bool:
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": type(self).__name__}
