"""Inside a run's own process: run the pipeline through the engine and record what happens."""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from dataclasses import dataclass

from django.conf import settings

from flowsite.engine import LocalExecutor, Pipeline, PipelineResult

from . import registry
from .finishing import fail, finish
from .local_runner_io import FdCapture
from .models import FailureReason, Run, StepRun
from .recording import RecordingLost, RunArtifactStore, RunCacheStore, RunRecorder

logger = logging.getLogger(__name__)

# The child's exit code when the database would not take its record: the worker fails the run with
# reason recording_lost (EX_TEMPFAIL).
RECORDING_LOST_EXIT = 75


@dataclass
class Prepared:
    """What the run's process needs, read by the worker before it forks."""

    run: Run
    step_ids: dict[str, int]
    next_seq: int


def prepare(run: Run) -> Prepared:
    return Prepared(
        run=run,
        step_ids=dict(StepRun.objects.filter(run=run).values_list("name", "pk")),
        # A run executes once, and only its own process writes its log.
        next_seq=1,
    )


def execute_in_child(prepared: Prepared, stop_signal: int) -> int:
    run = prepared.run
    pipeline = _code_for(run)
    if pipeline is None:
        return 0
    _diagnostics_to_worker_log()
    recorder = RunRecorder(run.pk, prepared.step_ids, prepared.next_seq, secrets=run.stack.secret_values())
    signal.signal(stop_signal, lambda signum, frame: recorder.request_stop())
    # The worker blocked the stop signal across the fork; one sent meanwhile arrives now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {stop_signal})
    fd_capture = FdCapture(recorder)
    fd_capture.start()
    recorder.before_step_ends = fd_capture.drain
    artifacts = RunArtifactStore(recorder)
    result: PipelineResult | None = None
    crash = ""
    try:
        result = pipeline.run(
            dict(run.params),
            executor=LocalExecutor(observer=recorder),
            cache_store=RunCacheStore(
                recorder, artifacts, {step.name: step.outputs for step in pipeline.steps}, lookups=run.use_cache
            ),
            artifact_store=artifacts,
            run_id=str(run.pk),
            project_name=run.project.slug,
        )
    except Exception:
        crash = traceback.format_exc()
        recorder.log_line("", "stderr", "ERROR", crash)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        fd_capture.stop()
    # On the recorder's own connection, after its last batch: one connection for the whole child.
    try:
        recorder.close(then=lambda: finish(run, result, crash, steps_left=recorder.unfinished_steps()))
    except RecordingLost as exc:
        logger.error("run %s: %s; the run is stopped", run.pk, exc)
        return RECORDING_LOST_EXIT
    return 0


def _code_for(run: Run) -> Pipeline | None:
    """The pipeline as it is on disk now, if it is the version the run was triggered for; else the run fails saying why."""
    name, wanted = run.pipeline.name, run.pipeline.code_version
    try:
        found, fresh = registry.as_on_disk()
    except Exception as exc:
        return _refuse(run, FailureReason.PIPELINE_MISSING, f"this worker cannot import its pipelines: {exc}")
    if fresh:
        registry.note_worker_code(found)
    if name not in found:
        modules = ", ".join(settings.FLOWSITE_PIPELINES) or "none"
        return _refuse(
            run,
            FailureReason.PIPELINE_MISSING,
            f"pipeline {name!r} is not in this worker's FLOWSITE_PIPELINES ({modules})",
        )
    pipeline = found[name][0]
    if pipeline.code_version() != wanted:
        return _refuse(
            run,
            FailureReason.CODE_MISMATCH,
            f"worker {settings.FLOWSITE_WORKER_NAME} has code version {pipeline.code_version()} of pipeline {name!r}, "
            f"but the run was triggered for version {wanted}: ship that code to the worker, or run "
            "sync_pipelines where the code changed and trigger again",
        )
    return pipeline


def _refuse(run: Run, reason: str, message: str) -> None:
    fail(run, reason, message)
    return None


def _diagnostics_to_worker_log() -> None:
    """Point this process's own log handlers at the worker's stderr.

    File descriptor 2 is about to carry the steps' output into the run's log. What the steps log is
    captured by the engine; anything else logged here (the recorder's database tracebacks, a driver's
    warnings) is the operator's business and goes where the worker's own log goes.
    """
    stream = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    root = logging.getLogger()
    handlers = [h for h in root.handlers if type(h) is logging.StreamHandler]
    for handler in handlers:
        handler.setStream(stream)
    if not handlers:
        root.addHandler(logging.StreamHandler(stream))
