"""How a control plane watches and steers a run without the engine knowing who it is."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .results import ExecutionResult


class RunObserver:
    """Receives a run's step events and log lines, and may ask it to stop.

    Subclass and override what you need; every method defaults to doing nothing.
    `log_line` is called from the step's thread (or a thread it started); `should_stop`
    is polled about every 100 ms from a supervisor thread, so it must be cheap and
    thread-safe.
    """

    def step_started(self, step_name: str, attempt: int) -> None:
        """An attempt (1 for the first) of `step_name` begins."""

    def log_line(self, step_name: str, stream: str, level: str, text: str) -> None:
        """One line of output, without its newline; `stream` is stdout, stderr or logging."""

    def log_metric(self, step_name: str, name: str, value: float, step_index: int | None) -> None:
        """A step recorded a metric (checked already: a short printable name, a finite value)."""

    def step_finished(self, result: ExecutionResult) -> None:
        """A step ended: ran, failed, was served from cache, or was skipped."""

    def should_stop(self) -> bool:
        """True once the run has been asked to stop."""
        return False
