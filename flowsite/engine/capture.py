"""Line-exact capture of what a step prints and logs, delivered to a run observer.

While any capture is active, sys.stdout and sys.stderr are routers: a write from a
thread that is running a captured step goes to that step's capture, and a write from
any other thread goes to the original stream, unless exactly one capture is active,
in which case threads the step started are captured too. The original streams are put
back when the last capture ends, whatever the step did.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from .observer import RunObserver

Emit = Callable[[str], None]
_MAX_PARTIAL = 1 << 20

_lock = threading.Lock()
_active: dict[int, LogCapture] = {}
_originals: dict[str, TextIO] = {}
# Set while a thread hands a line to the observer: anything the observer itself prints
# or logs then goes to the original streams instead of back into the capture.
_delivering = threading.local()


_uncaptured = threading.local()


def never_capture_this_thread() -> None:
    """What this thread prints or logs belongs to the process, never to a step (an observer's writer thread).

    Without it, a lone step's capture also takes other threads' output, which is right for threads
    the step starts and wrong for the observer's own diagnostics.
    """
    _uncaptured.active = True


def _capture_for(thread_id: int) -> LogCapture | None:
    if getattr(_delivering, "active", False) or getattr(_uncaptured, "active", False):
        return None
    capture = _active.get(thread_id)
    if capture is None and len(_active) == 1:
        for capture in _active.values():
            return capture
    return capture


def is_captured(record: logging.LogRecord) -> bool:
    """True if a step's capture already delivered this record, so another handler may drop it."""
    return bool(_active) and _capture_for(record.thread or 0) is not None


class _LineWriter:
    """Buffers text until a newline and emits each complete line once."""

    __slots__ = ("_emit", "_partial")

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self._partial = ""

    def write(self, text: str) -> int:
        if "\n" not in text:
            self._partial += text
            if len(self._partial) > _MAX_PARTIAL:
                # Output with no newline in sight (a progress bar): deliver it rather than hoard it.
                self.finish()
            return len(text)
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        emit = self._emit
        for line in lines:
            emit(line[:-1] if line.endswith("\r") else line)
        return len(text)

    def finish(self) -> None:
        if self._partial:
            partial, self._partial = self._partial, ""
            self._emit(partial)


class _StreamRouter:
    def __init__(self, original: TextIO, stream: str) -> None:
        self._original = original
        self._stream = stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        capture = _capture_for(threading.get_ident())
        if capture is None:
            return self._original.write(text)
        return capture.writers[self._stream].write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


class _RoutingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        capture = _capture_for(record.thread or 0)
        if capture is None:
            return
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        for line in text.split("\n"):
            capture.emit("logging", record.levelname, line)


_handler = _RoutingHandler()


class LogCapture:
    """Captures one step's output for as long as it is started."""

    def __init__(self, step_name: str, observer: RunObserver) -> None:
        self.step_name = step_name
        self.observer = observer
        self.writers = {
            "stdout": _LineWriter(lambda line: self.emit("stdout", "INFO", line)),
            "stderr": _LineWriter(lambda line: self.emit("stderr", "WARNING", line)),
        }
        self._thread_id = 0

    def emit(self, stream: str, level: str, text: str) -> None:
        _delivering.active = True
        try:
            self.observer.log_line(self.step_name, stream, level, text)
        finally:
            _delivering.active = False

    def emit_block(self, text: str, level: str = "ERROR") -> None:
        """A multi-line message such as a traceback, one line each, on stderr."""
        self.finish_lines()
        for line in text.rstrip("\n").split("\n"):
            self.emit("stderr", level, line)

    def finish_lines(self) -> None:
        for writer in self.writers.values():
            writer.finish()

    def start(self) -> None:
        self._thread_id = threading.get_ident()
        with _lock:
            if not _active:
                for stream in ("stdout", "stderr"):
                    original = getattr(sys, stream)
                    _originals[stream] = original
                    setattr(sys, stream, _StreamRouter(original, stream))
                logging.getLogger().addHandler(_handler)
            _active[self._thread_id] = self

    def stop(self) -> None:
        with _lock:
            if _active.get(self._thread_id) is self:
                del _active[self._thread_id]
            if not _active:
                logging.getLogger().removeHandler(_handler)
                for stream, original in _originals.items():
                    if isinstance(getattr(sys, stream), _StreamRouter):
                        setattr(sys, stream, original)
                _originals.clear()
        self.finish_lines()
