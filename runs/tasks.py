"""django-q2 entry points: thin, so tests can call the functions behind them directly."""

from __future__ import annotations

from . import execution, reaper, remote_runs, sweeper


def execute_run(run_id: int) -> str:
    return execution.execute_run(run_id)


def reap_dead_runs() -> str:
    """The reaper's schedule: runs whose worker vanished are dead; queued runs with no task are handed over."""
    dead = reaper.reap()
    handed = sweeper.sweep()
    outcome = f"{len(dead)} dead run(s): {dead}" if dead else "no dead runs"
    return f"{outcome}; handed over again: {handed}" if handed else outcome


def reconcile_remote_runs() -> str:
    passes = remote_runs.reconcile_loop()
    return f"{passes} reconcile pass(es)"
