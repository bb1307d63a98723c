"""Small helpers shared by the engine tests: observers and stores that record what they were told."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from flowsite.engine import RunObserver


class RecordingObserver(RunObserver):
    """Records every event; `should_stop` is backed by a threading.Event."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []
        self.finished: list[Any] = []
        self.lines: list[tuple[str, str, str, str]] = []
        self.metrics: list[tuple[str, str, float, int | None]] = []
        self.stop_event = threading.Event()
        self._lock = threading.Lock()

    def step_started(self, step_name: str, attempt: int) -> None:
        self.started.append((step_name, attempt))

    def log_line(self, step_name: str, stream: str, level: str, text: str) -> None:
        with self._lock:
            self.lines.append((step_name, stream, level, text))

    def log_metric(self, step_name: str, name: str, value: float, step_index: int | None) -> None:
        with self._lock:
            self.metrics.append((step_name, name, value, step_index))

    def step_finished(self, result: Any) -> None:
        self.finished.append(result)

    def should_stop(self) -> bool:
        return self.stop_event.is_set()

    def texts(self, stream: str | None = None) -> list[str]:
        return [text for _, s, _, text in self.lines if stream is None or s == stream]


class RecordingCacheStore:
    """A cache store that records `get` and `set_value` calls; `preset` answers `get`."""

    def __init__(self, preset: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(preset or {})
        self.gets: list[str] = []
        self.sets: list[tuple[Any, ...]] = []

    def get(self, key: str) -> Any:
        self.gets.append(key)
        return self.values.get(key)

    def set_value(self, key: str, value: Any, step_name: str, code_hash: str) -> None:
        self.sets.append((key, value, step_name, code_hash))
        self.values[key] = value


class ForbiddenStore:
    """A store that must never be touched: every method fails the test."""

    def get(self, *args: Any, **kwargs: Any) -> Any:
        pytest.fail(f"cache store get() called with {args} {kwargs}")

    def set_value(self, *args: Any, **kwargs: Any) -> None:
        pytest.fail(f"cache store set_value() called with {args} {kwargs}")

    def materialize(self, *args: Any, **kwargs: Any) -> Any:
        pytest.fail(f"store materialize() called with {args} {kwargs}")


class RecordingArtifactStore:
    def __init__(self, uri: str = "mem://artifact/1") -> None:
        self.uri = uri
        self.calls: list[dict[str, Any]] = []

    def materialize(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        return self.uri


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()
