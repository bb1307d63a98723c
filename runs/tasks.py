"""django-q2 entry points: thin, so tests can call the functions behind them directly."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from . import execution, health, planner, pruning, reaper, remote_runs, sweeper


def execute_run(run_id: int) -> str:
    return execution.execute_run(run_id)


def reap_dead_runs() -> str:
    """The reaper's schedule: runs whose worker vanished are dead; queued runs with no task are handed over."""
    health.note_worker_alive()
    dead = reaper.reap()
    handed = sweeper.sweep()
    outcome = f"{len(dead)} dead run(s): {dead}" if dead else "no dead runs"
    return f"{outcome}; handed over again: {handed}" if handed else outcome


def reconcile_remote_runs() -> str:
    passes = remote_runs.reconcile_loop()
    return f"{passes} reconcile pass(es)"


def prune_old_runs() -> str:
    """The daily retention schedule: nothing unless FLOWSITE_RETENTION_DAYS is set."""
    days = settings.FLOWSITE_RETENTION_DAYS
    if not days:
        return "retention is off (FLOWSITE_RETENTION_DAYS=0)"
    done = pruning.prune(timedelta(days=days), keep_failed=settings.FLOWSITE_RETENTION_KEEP_FAILED)
    return f"pruned {done.runs} run(s), {done.log_lines} log lines"


def refresh_planner_statistics() -> str:
    """The hourly schedule: SQLite's planner needs statistics refreshed as runs accumulate (runs.planner)."""
    if planner.refresh_statistics():
        return "planner statistics refreshed"
    return "nothing to do: the database keeps its own statistics"
