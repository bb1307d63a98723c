"""What executing a step produced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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


class StopExecution(Exception):
    """Raised inside a running step when its run is asked to stop. Never retried."""
