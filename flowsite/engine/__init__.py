"""Flowsite's pipeline engine: pure Python, no Django.

Steps are functions; a Pipeline wires them by output and input names; an Executor runs
them; a step records numbers about itself with `log_metric`. The control plane plugs in through three small protocols: a cache store (`get`,
`set_value`), an artifact store (`materialize`) and a `RunObserver`.
"""

from .capacity import Capacity
from .context import Context
from .executor import Executor, LocalExecutor
from .groups import StepGroup
from .metrics import MetricError, log_metric
from .observer import RunObserver
from .pipeline import Pipeline, PipelineResult
from .remote import RemoteOrchestrator, SubmissionResult
from .resources import DockerConfig, ResourceConfig
from .results import ExecutionResult, StopExecution
from .status import ExecutionStatus
from .step import Step, step
from .stores import FileArtifactStore, MemoryCacheStore

__all__ = [
    "Capacity",
    "Context",
    "DockerConfig",
    "ExecutionResult",
    "ExecutionStatus",
    "Executor",
    "FileArtifactStore",
    "LocalExecutor",
    "MemoryCacheStore",
    "MetricError",
    "Pipeline",
    "PipelineResult",
    "RemoteOrchestrator",
    "ResourceConfig",
    "RunObserver",
    "Step",
    "StepGroup",
    "StopExecution",
    "SubmissionResult",
    "log_metric",
    "step",
]
