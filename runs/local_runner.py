"""Local stack: a run executes in a child of the worker, in a process group of its own.

The worker process forks the child and stays beside it as its supervisor: it writes the
run's heartbeat, notices a cancel request and passes it on (SIGUSR1, which the child turns
into StopExecution in the running step), kills the whole group once the cancel grace has
passed, and, when the child ends for any reason, kills whatever the steps left behind and
makes sure the run ends in a final state. So no step's subprocess outlives its run.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import signal
import sys
import traceback

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from .execution_child import RECORDING_LOST_EXIT, Prepared, execute_in_child, prepare
from .finishing import finish_cancelled
from .models import ACTIVE_RUN_STATES, FINAL_RUN_STATES, FailureReason, Run, RunEvent, RunStatus, StepStatus
from .reconnecting import reset_connection, until_it_holds

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 2.0
STOP_SIGNAL = signal.SIGUSR1
ORPHANED_SIGNAL = signal.SIGUSR2
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Loaded here, not in the forked child: loading a library there could wait on a loader lock that another
# thread of the worker held when it forked.
_LIBC = ctypes.CDLL(None, use_errno=True)


def run_in_process_group(run: Run, env: dict[str, str]) -> None:
    """Execute the claimed run in a forked child and supervise it until it has ended."""
    run_id = run.pk
    # Everything the child needs from the database is read here, once, before the fork.
    prepared = prepare(run)
    sys.stdout.flush()
    sys.stderr.flush()
    # Blocked across the fork, so a cancel that comes early waits for the child's handler.
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {STOP_SIGNAL})
    supervisor = os.getpid()
    pid = os.fork()
    if pid == 0:
        _child(prepared, env, supervisor)
    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    try:
        os.setpgid(pid, pid)
    except (PermissionError, ProcessLookupError):
        pass  # The child already made its own group, or is gone; both are fine.
    _supervise(run_id, pid)


# The parent's database connections, which the child must neither use nor close (closing a
# PostgreSQL one would end the parent's session); holding them keeps them from being collected.
_inherited_connections: list[object] = []


def _child(prepared: Prepared, env: dict[str, str], supervisor: int) -> None:
    code = 70
    try:
        os.setpgid(0, 0)
        _die_with_supervisor(supervisor)
        for connection in connections.all(initialized_only=True):
            if connection.connection is not None:
                _inherited_connections.append(connection.connection)
                connection.connection = None
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        os.environ.update(env)
        code = execute_in_child(prepared, STOP_SIGNAL)
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def _die_with_supervisor(supervisor: int) -> None:
    """Without its supervisor nobody heartbeats the run, passes a cancel on or kills it, and the reaper
    will call it dead: so when the supervisor is killed outright (an OOM kill, kill -9 of the worker),
    the run's whole process group, its steps' subprocesses too, ends with it."""
    signal.signal(ORPHANED_SIGNAL, lambda signum, frame: os.killpg(0, signal.SIGKILL))
    if _LIBC.prctl(_PR_SET_PDEATHSIG, ORPHANED_SIGNAL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != supervisor:
        os.killpg(0, signal.SIGKILL)  # it died before the kernel was asked to tell us


class _Supervision:
    """What the supervisor has done for one run's process so far."""

    def __init__(self, run_id: int, pid: int) -> None:
        self.run_id = run_id
        self.pid = pid
        self.group_recorded = self.stop_sent = self.killed = False
        self.last_beat = 0.0

    def record_group(self) -> None:
        if not self.group_recorded:
            Run.objects.filter(pk=self.run_id).update(process_group=self.pid)
            self.group_recorded = True

    def look_after(self) -> None:
        """One round: record the group, beat, pass a cancel on, kill what must not go on."""
        run_id, pid = self.run_id, self.pid
        self.record_group()
        now = timezone.now()
        row = Run.objects.filter(pk=run_id).values("status", "cancel_requested_at").first()
        if row is None or row["status"] in FINAL_RUN_STATES:
            # Declared over elsewhere (the reaper, an operator): nothing of it may keep running.
            _kill_group(pid)
            self.killed = True
            return
        if now.timestamp() - self.last_beat >= HEARTBEAT_SECONDS:
            Run.objects.filter(pk=run_id, status__in=ACTIVE_RUN_STATES).update(heartbeat_at=now)
            self.last_beat = now.timestamp()
        if row["status"] == RunStatus.CANCELLING:
            if not self.stop_sent:
                _signal(pid, STOP_SIGNAL)
                self.stop_sent = True
            grace = settings.FLOWSITE_CANCEL_GRACE
            requested = row["cancel_requested_at"] or now
            if not self.killed and (now - requested).total_seconds() >= grace:
                _kill_group(pid)
                self.killed = True
                RunEvent.objects.create(
                    run_id=run_id,
                    old_status=RunStatus.CANCELLING,
                    new_status=RunStatus.CANCELLING,
                    reason=f"still running {grace:g} s after the cancel request: process group killed",
                )


def _supervise(run_id: int, pid: int) -> None:
    pidfd = os.pidfd_open(pid)
    supervision = _Supervision(run_id, pid)
    status_code = 0
    try:
        # A full round at once, not only the group: a cancel that came between the claim and the fork
        # must reach the child before its first step starts.
        action = supervision.look_after
        while True:
            try:
                action()
            except DatabaseError:
                # The supervisor's own connection was cut: that is no reason to stop a healthy run.
                # Reconnect next round; if the database stays away, the reaper judges by the heartbeat.
                logger.warning(
                    "run %s: the supervisor lost its database connection; reconnecting", run_id, exc_info=True
                )
                reset_connection()
            ready, _, _ = select.select([pidfd], [], [], POLL_SECONDS)
            if ready:
                _, status_code = os.waitpid(pid, 0)
                break
    except BaseException:
        # The worker itself is being stopped (task timeout, shutdown): take the run down with it.
        _kill_group(pid)
        _, status_code = os.waitpid(pid, 0)
        raise
    finally:
        os.close(pidfd)
        # Steps' subprocesses may still be running in the group; they must not outlive the run.
        _kill_group(pid)
        until_it_holds(
            lambda: _settle(run_id, status_code),
            settings.FLOWSITE_RECORDING_DEADLINE,
            logger,
            f"settling run {run_id}",
        )
        _resume_notifications(run_id)


def _resume_notifications(run_id: int) -> None:
    """The run's notifications go out now even if its process was killed before it started sending them."""
    from notifications.dispatch import resume_delivery_loop

    try:
        resume_delivery_loop(run_id)
    except Exception:
        # The minute schedule sends what is pending: late, not lost.
        logger.warning("run %s: could not start its notifications' delivery loop", run_id, exc_info=True)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _settle(run_id: int, status_code: int) -> None:
    """If the child could not finish the run (killed, crashed), finish it from here."""
    run = Run.objects.filter(pk=run_id).only("status", "cancelled_by").first()
    if run is None or run.status in FINAL_RUN_STATES:
        return
    now = timezone.now()
    if run.status == RunStatus.CANCELLING:
        finish_cancelled(run, "cancelled: the run's processes were stopped")
        return
    reason = FailureReason.PROCESS_DIED
    if os.WIFSIGNALED(status_code):
        signum = os.WTERMSIG(status_code)
        message = f"the run's process was killed by signal {signum} ({signal.Signals(signum).name})"
    elif os.WEXITSTATUS(status_code) == RECORDING_LOST_EXIT:
        reason = FailureReason.RECORDING_LOST
        message = (
            f"the database did not take the run's record for {settings.FLOWSITE_RECORDING_DEADLINE:g} s; "
            "the run was stopped (see the worker's log)"
        )
    else:
        message = f"the run's process exited with code {os.WEXITSTATUS(status_code)} before finishing the run"
    with transaction.atomic():
        if run.transition(
            ACTIVE_RUN_STATES,
            RunStatus.FAILED,
            reason=message,
            finished_at=now,
            failure_reason=reason,
            failure_message=message,
        ):
            run.end_steps(
                (StepStatus.PENDING, StepStatus.RUNNING), StepStatus.FAILED, message, finished_at=now, error=message
            )
