"""django-q2 entry points: thin, so tests can call the functions behind them directly."""

from __future__ import annotations

from . import execution, reaper, remote_runs


def execute_run(run_id: int) -> str:
    return execution.execute_run(run_id)


def reap_dead_runs() -> str:
    dead = reaper.reap()
    return f"{len(dead)} dead run(s): {dead}" if dead else "no dead runs"


def reconcile_remote_runs() -> str:
    passes = remote_runs.reconcile_loop()
    return f"{passes} reconcile pass(es)"
