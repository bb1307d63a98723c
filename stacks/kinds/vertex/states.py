"""Vertex AI's JobState, mapped to Flowsite's statuses in one place."""

from __future__ import annotations

from flowsite.engine import ExecutionStatus

# (value, name, status): by value and by name, so neither the SDK's enum nor its int encoding
# needs importing here. A None status means Vertex does not say: ask again, never "failed".
STATES: list[tuple[int, str, ExecutionStatus | None]] = [
    (0, "JOB_STATE_UNSPECIFIED", None),
    (1, "JOB_STATE_QUEUED", ExecutionStatus.PROVISIONING),
    (2, "JOB_STATE_PENDING", ExecutionStatus.PROVISIONING),
    (3, "JOB_STATE_RUNNING", ExecutionStatus.RUNNING),
    (4, "JOB_STATE_SUCCEEDED", ExecutionStatus.COMPLETED),
    (5, "JOB_STATE_FAILED", ExecutionStatus.FAILED),
    (6, "JOB_STATE_CANCELLING", ExecutionStatus.CANCELLING),
    (7, "JOB_STATE_CANCELLED", ExecutionStatus.CANCELLED),
    (8, "JOB_STATE_PAUSED", ExecutionStatus.RUNNING),
    (9, "JOB_STATE_EXPIRED", ExecutionStatus.FAILED),
    (10, "JOB_STATE_UPDATING", ExecutionStatus.RUNNING),
    (11, "JOB_STATE_PARTIALLY_SUCCEEDED", ExecutionStatus.FAILED),
]
_BY_VALUE = {value: status for value, _, status in STATES}
_BY_NAME = {name: status for _, name, status in STATES}


def status_for(state: object) -> ExecutionStatus | None:
    """Our status for a JobState given as the SDK's enum member, its int value or its name."""
    name = getattr(state, "name", None)
    if isinstance(name, str):
        return _BY_NAME.get(name)
    if isinstance(state, int):
        return _BY_VALUE.get(state)
    if isinstance(state, str):
        return _BY_NAME.get(state)
    return None
