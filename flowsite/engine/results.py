"""What executing a step produced."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .metrics import Metric


@dataclass
class ExecutionResult:
    step_name: str
    success: bool
    output: Any = None
    error: str | None = None
    duration_seconds: float = 0.0
    cached: bool = False
    skipped: bool = False
    artifact_uri: str | None = None
    retries: int = 0
    cache_key: str | None = None
    # What the step recorded with log_metric, in order, over all its attempts.
    metrics: list[Metric] = field(default_factory=list)


class StopExecution(Exception):
    """Raised inside a running step when its run is asked to stop. Never retried."""
