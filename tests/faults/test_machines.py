"""Several worker machines sharing the database and the broker, and one of them lost whole mid-run.

Each "machine" is a process tree of its own: its own session, working directory and copy of the
pipeline code (`machine_pipeline.py`, copied there as a checkout would be), its own
FLOWSITE_WORKER_NAME and its own qcluster, all on the test database and broker (the database itself
on SQLite, Redis when REDIS_URL is set). This test process is the web tier: it triggers runs as the
API does and reads their record. A machine is lost as to a power cut: SIGKILL to every process group
of its session at once, the runs' own groups included, so nothing of it can tidy up after itself.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django_q.brokers import get_broker
from django_q.tasks import async_task, result

from accounts.models import Project
from runs.models import FailureReason, Run, RunEvent, RunStatus, StepStatus, WorkerCode
from tests.cluster import Cluster
from tests.conftest import ledger_entries
from tests.runs.helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MODULE = "flowsite_machine_pipeline"
# Short, through the real setting, so that a lost machine's runs die within the test: three of the
# supervisor's two-second heartbeats and a margin, so the surviving machine's runs never look lost.
HEARTBEAT_TIMEOUT = 8.0


def session_groups(session: int) -> set[int]:
    """The process groups with a live process in the session: everything a machine still runs."""
    groups = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # ended meanwhile
        # After the command name, in parentheses that may hold anything: state, ppid, pgrp, session.
        state, _, group, sid = stat.rsplit(")", 1)[1].split()[:4]
        if int(sid) == session and state not in "ZX":
            groups.add(int(group))
    return groups


class Machine:
    """A worker machine: a folder with its own copy of the pipeline code, and a qcluster started there."""

    def __init__(self, name: str, home: Path, workers: int) -> None:
        self.name = name
        folder = home / name
        folder.mkdir()
        shutil.copy(Path(__file__).with_name("machine_pipeline.py"), folder / f"{MODULE}.py")
        self.cluster = Cluster(
            workers=workers,
            cwd=folder,
            env={
                "PYTHONPATH": str(folder),
                "FLOWSITE_PIPELINES": MODULE,
                "FLOWSITE_WORKER_NAME": name,
                "FLOWSITE_HEARTBEAT_TIMEOUT": f"{HEARTBEAT_TIMEOUT:g}",
                "FLOWSITE_REQUEUE_SECONDS": "1",
            },
        )
        # qcluster started a session of its own: the machine is everything in it.
        self.session = self.cluster.process.pid
        wait_for(
            lambda: WorkerCode.objects.filter(host=name, pipeline="relay").exists(),
            what=f"{name} to record the code it has",
        )

    def lose(self) -> None:
        """Kill the whole machine at once, as a power cut would."""

        def gone() -> bool:
            groups = session_groups(self.session)
            for group in groups:
                try:
                    os.killpg(group, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return not groups

        wait_for(gone, timeout=10, what=f"every process of {self.name} to die")
        self.cluster.stop()

    def stop(self) -> None:
        self.cluster.stop()
        self.lose()  # whatever a failed test left running in it


@pytest.fixture
def machines(tmp_path: Path, ready: Project) -> Iterator[Callable[[str, int], Machine]]:
    started: list[Machine] = []

    def start(name: str, workers: int) -> Machine:
        started.append(Machine(name, tmp_path, workers))
        return started[-1]

    yield start
    for machine in started:
        machine.stop()


def on_a_worker(func: str, *args: Any) -> Any:
    """Hand a task to the shared broker, as django-q2's scheduler does with the reaper's schedule, and
    wait for whichever machine takes it to finish it; returns what it returned."""
    task_id = async_task(func, *args, save=True)
    return wait_for(lambda: result(task_id), timeout=30, what=f"a worker to run {func}")


def claims(run: Run) -> int:
    return RunEvent.objects.filter(
        run=run, step=None, old_status=RunStatus.QUEUED, new_status=RunStatus.RUNNING
    ).count()


def test_a_machine_lost_mid_run_leaves_its_runs_dead_and_the_other_machine_serving(machines, ready, tmp_path):
    def trigger(label: str, gate: str = "") -> Run:
        params = {"ledger": str(tmp_path / f"{label}.ledger"), "gate": gate}
        return Run.objects.trigger(project=ready, pipeline="relay", params=params)

    def ledger(run: Run) -> list[str]:
        return ledger_entries(run.params["ledger"])

    def status(run: Run) -> tuple[str, str]:
        row = Run.objects.filter(pk=run.pk).values("status", "worker_host").get()
        return row["status"], row["worker_host"]

    # Machine A alone, with one worker: it claims the first run and holds it; the second it takes off
    # the broker (django-q2 fetches ahead) but cannot start while its one worker is busy.
    a = machines("machine-a", 1)
    held = trigger("held", gate=str(tmp_path / "never-opens"))
    wait_for(lambda: ledger(held) == ["begin", "hold"], what="machine A to start holding the first run")
    wait_for(lambda: Run.objects.get(pk=held.pk).process_group, what="machine A to record the run's process group")
    taken = trigger("taken", gate=str(tmp_path / "taken-may-end"))
    broker = get_broker()
    wait_for(lambda: broker.queue_size() == 0, what="machine A to take the second run off the broker")
    held.refresh_from_db()
    assert (held.status, held.worker_host) == (RunStatus.RUNNING, "machine-a")
    assert held.process_group in session_groups(a.session), "the run's own process group is part of machine A"
    assert status(taken) == (RunStatus.QUEUED, "")

    b = machines("machine-b", 2)
    a.lose()
    after = trigger("after")

    # The reaper's schedule is a task on the shared broker: machine B, the one left, runs it.
    reaps = []

    def reaped() -> bool:
        reaps.append(on_a_worker("runs.tasks.reap_dead_runs"))
        return Run.objects.get(pk=held.pk).status == RunStatus.DEAD

    wait_for(reaped, timeout=HEARTBEAT_TIMEOUT + 15, what="the reaper to declare machine A's run dead")
    held.refresh_from_db()
    assert held.failure_reason == FailureReason.HEARTBEAT_LOST
    assert f"(limit {HEARTBEAT_TIMEOUT:g} s): worker machine-a pid {held.worker_pid} stopped looking after it" in (
        held.failure_message
    )
    assert held.events.filter(new_status=RunStatus.DEAD, reason=held.failure_message).count() == 1
    assert held.finished_at - held.heartbeat_at >= timedelta(seconds=HEARTBEAT_TIMEOUT), "not declared dead early"
    assert dict(held.steps.values_list("name", "status")) == {
        "begin": StepStatus.COMPLETED,
        "hold": StepStatus.FAILED,
        "end": StepStatus.CANCELLED,
    }
    assert held.steps.get(name="hold").error.startswith("Run declared dead: no heartbeat for")

    # The run machine A took but never started went back to the broker, and B is running it: its
    # heartbeats keep it alive through the reaps that found A's run dead.
    wait_for(lambda: status(taken) == (RunStatus.RUNNING, "machine-b"), what="machine B to run the run A took")
    assert any("handed over again" in outcome for outcome in reaps), reaps
    on_a_worker("runs.tasks.reap_dead_runs")
    assert status(taken) == (RunStatus.RUNNING, "machine-b")
    (tmp_path / "taken-may-end").touch()

    # A second delivery of the dead run (a broker that re-delivers, a sweeper racing) starts nothing.
    assert on_a_worker("runs.tasks.execute_run", held.pk) == f"run {held.pk} was not queued (dead); nothing to do"

    for run in (taken, after):
        wait_for(lambda: Run.objects.get(pk=run.pk).is_finished, what=f"run {run.pk} to end")
        run.refresh_from_db()
        assert (run.status, run.worker_host) == (RunStatus.COMPLETED, "machine-b"), run.failure_message
        assert ledger(run) == ["begin", "hold", "end"]
    held.refresh_from_db()
    assert held.status == RunStatus.DEAD
    assert ledger(held) == ["begin", "hold"], "nothing of the dead run executed again"
    assert [claims(run) for run in (held, taken, after)] == [1, 1, 1]
    assert b.cluster.process.poll() is None


def test_a_run_whose_worker_process_is_killed_stops_executing(machines, ready, tmp_path):
    """Only the qcluster dies (an OOM kill, kill -9), the machine stays up: the run's process must not
    go on executing a run the record will call dead."""
    machine = machines("machine-a", 1)
    gate = tmp_path / "gate"
    params = {"ledger": str(tmp_path / "orphan.ledger"), "gate": str(gate)}
    run = Run.objects.trigger(project=ready, pipeline="relay", params=params)
    wait_for(lambda: ledger_entries(params["ledger"]) == ["begin", "hold"], what="the run to hold")
    group = wait_for(lambda: Run.objects.get(pk=run.pk).process_group, what="the run's process group")
    for other in session_groups(machine.session) - {group}:
        os.killpg(other, signal.SIGKILL)
    wait_for(lambda: group not in session_groups(machine.session), timeout=10, what="the run's processes to die")
    gate.touch()
    assert ledger_entries(params["ledger"]) == ["begin", "hold"], "no step ran after its worker died"
