"""Execution states shared by executors and orchestrators."""

from __future__ import annotations

from enum import Enum


class ExecutionStatus(str, Enum):
    INITIALIZING = "initializing"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    COMPLETED = "completed"
    CACHED = "cached"
    FAILED = "failed"
    STOPPED = "stopped"
    CANCELLED = "cancelled"
    STOPPING = "stopping"
    CANCELLING = "cancelling"
    DEAD = "dead"

    def __str__(self) -> str:
        return self.value

    @property
    def is_finished(self) -> bool:
        return self in _FINISHED

    @property
    def is_successful(self) -> bool:
        return self in _SUCCESSFUL


_SUCCESSFUL = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.CACHED})
_FINISHED = _SUCCESSFUL | {ExecutionStatus.FAILED, ExecutionStatus.STOPPED, ExecutionStatus.CANCELLED}
