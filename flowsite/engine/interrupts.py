"""Deliver timeouts and stop requests into the thread that runs a step.

A supervisor thread watches every step that has a deadline or an observer. When the
deadline passes, or the observer says the run should stop, it raises an exception in
the step's thread between two Python bytecodes. In the main thread it sends a signal
instead, so that a step blocked in C (`time.sleep`, a socket, a child process) is woken
too; in other threads only Python code can be interrupted, and a control plane that
must stop blocked C code kills the run's process group.

A step that swallows the exception is interrupted again every second until it ends, and
its attempt counts as timed out or stopped even if it then returns. Timeouts, and stop
requests from the second delivery on, are BaseExceptions so that `except Exception:` in
user code cannot swallow them; the first stop request is a `StopExecution`, which a step
may catch to clean up.
"""

from __future__ import annotations

import ctypes
import signal
import threading
import time
from typing import Any

from .observer import RunObserver
from .results import StopExecution


class StepTimeout(BaseException):
    """Raised inside a step that ran past its timeout."""


class ForcedStop(BaseException):
    """Raised again inside a step that went on running after a StopExecution."""


class _Withdrawn(BaseException):
    """Takes the place of an interrupt that a step ended before; raised and caught in `Supervisor.release`."""


POLL_SECONDS = 0.1
_REDELIVER_SECONDS = 1.0
_LINGER_SECONDS = 2.0
_SIGNAL = getattr(signal, "SIGRTMIN", None)
_SIGNAL = _SIGNAL + 3 if _SIGNAL is not None else signal.SIGUSR2


class Watch:
    __slots__ = ("thread_id", "deadline", "observer", "uses_signal", "armed", "fired", "fired_at")

    def __init__(self, deadline: float | None, observer: RunObserver | None, uses_signal: bool) -> None:
        self.thread_id = threading.get_ident()
        self.deadline = deadline
        self.observer = observer
        self.uses_signal = uses_signal
        self.armed = True
        self.fired: type[BaseException] | None = None
        self.fired_at = 0.0


# Watches of steps running in the main thread, innermost last (a step may run steps).
_main_watches: list[Watch] = []


def _raise_in_main_thread(signum: int, frame: Any) -> None:
    for watch in reversed(_main_watches):
        if watch.armed and watch.fired is not None:
            raise watch.fired()


def _can_signal_main_thread() -> bool:
    if threading.current_thread() is not threading.main_thread():
        return False
    current = signal.getsignal(_SIGNAL)
    if current is _raise_in_main_thread:
        return True
    if current in (signal.SIG_DFL, None):
        signal.signal(_SIGNAL, _raise_in_main_thread)
        return True
    return False


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


def _withdraw_pending_interrupt(thread_id: int) -> None:
    """Keep an interrupt not yet raised in this thread from hitting the executor after its step ended.

    It is replaced by one raised and caught here. Clearing it instead (SetAsyncExc with NULL) leaves
    CPython 3.11's eval breaker signalled for good: every thread then takes the slow path at each check,
    and under a tracer (coverage, a debugger) this thread spins without end.
    """
    try:
        _set_async_exc(thread_id, _Withdrawn)
        _delivery_point()
    except _Withdrawn:
        pass


def _delivery_point() -> None:
    """A Python call, at whose start the interpreter raises a pending interrupt."""


class Supervisor:
    def __init__(self) -> None:
        # A plain lock: its `with` has no Python frame in which an interrupt could land and leave it held.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._watches: set[Watch] = set()
        self._thread: threading.Thread | None = None
        self._idle = True
        self._wake_at = float("inf")
        self._last_busy = 0.0

    def watch(self, timeout: float | None, observer: RunObserver | None) -> Watch:
        deadline = time.monotonic() + timeout if timeout is not None else None
        watch = Watch(deadline, observer, _can_signal_main_thread())
        with self._cond:
            if watch.uses_signal:
                _main_watches.append(watch)
            self._watches.add(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="flowsite-step-supervisor", daemon=True)
                self._thread.start()
            elif self._idle or (deadline is not None and deadline < self._wake_at):
                self._cond.notify()
        return watch

    def release(self, watch: Watch) -> None:
        """Stop watching; once this returns, nothing more is raised for this watch.

        An interrupt can still land while this runs, so callers retry until it returns.
        """
        # First, before taking the lock: the signal handler checks this flag.
        watch.armed = False
        with self._lock:
            self._watches.discard(watch)
            if watch in _main_watches:
                _main_watches.remove(watch)
        if watch.fired is not None and not watch.uses_signal:
            _withdraw_pending_interrupt(watch.thread_id)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._sleep_until_due()
                watches = list(self._watches)
            now = time.monotonic()
            for watch in watches:
                exc = self._due(watch, now)
                if exc is not None:
                    self._fire(watch, exc, now)

    def _sleep_until_due(self) -> None:
        now = time.monotonic()
        if not self._watches and now - self._last_busy > _LINGER_SECONDS:
            self._idle = True
            self._wake_at = float("inf")
            self._cond.wait()
            self._idle = False
            return
        wait = POLL_SECONDS
        if self._watches:
            self._last_busy = now
            for watch in self._watches:
                if watch.deadline is not None and watch.fired is None:
                    wait = min(wait, max(0.0, watch.deadline - now))
        self._wake_at = now + wait
        self._cond.wait(wait)

    @staticmethod
    def _due(watch: Watch, now: float) -> type[BaseException] | None:
        if watch.fired is not None:
            if now - watch.fired_at < _REDELIVER_SECONDS:
                return None
            return ForcedStop if watch.fired is StopExecution else watch.fired
        if watch.observer is not None and watch.observer.should_stop():
            return StopExecution
        if watch.deadline is not None and now >= watch.deadline:
            return StepTimeout
        return None

    def _fire(self, watch: Watch, exc: type[BaseException], now: float) -> None:
        with self._cond:
            if not watch.armed:
                return
            watch.fired = exc
            watch.fired_at = now
            if watch.uses_signal:
                signal.pthread_kill(watch.thread_id, _SIGNAL)
            else:
                _set_async_exc(watch.thread_id, exc)


supervisor = Supervisor()
