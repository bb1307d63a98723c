"""Inside a run's own process: run the pipeline through the engine and record what happens."""

from __future__ import annotations

import signal
import sys
import traceback
from dataclasses import dataclass

from flowsite.engine import LocalExecutor, Pipeline, PipelineResult

from . import registry
from .finishing import fail, finish
from .local_runner_io import FdCapture
from .models import FailureReason, Run, RunEvent, StepRun
from .recording import RunArtifactStore, RunCacheStore, RunRecorder


@dataclass
class Prepared:
    """What the run's process needs, read by the worker before it forks."""

    run: Run
    pipeline: Pipeline | None
    step_ids: dict[str, int]
    next_seq: int


def prepare(run: Run) -> Prepared:
    pipeline = registry.get_pipeline(run.pipeline.name)
    if pipeline is not None and pipeline.code_version() != run.pipeline.code_version:
        _adopt_current_code(run, pipeline)
    return Prepared(
        run=run,
        pipeline=pipeline,
        step_ids=dict(StepRun.objects.filter(run=run).values_list("name", "pk")),
        # A run executes once, and only its own process writes its log.
        next_seq=1,
    )


def execute_in_child(prepared: Prepared, stop_signal: int) -> int:
    run, pipeline = prepared.run, prepared.pipeline
    if pipeline is None:
        message = f"pipeline {run.pipeline.name!r} is not among this worker's FLOWSITE_PIPELINES"
        fail(run, FailureReason.PIPELINE_MISSING, message)
        return 0
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
            cache_store=RunCacheStore(recorder, artifacts),
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
    recorder.close(then=lambda: finish(run, result, crash, steps_left=recorder.unfinished_steps()))
    return 0


def _adopt_current_code(run: Run, pipeline: Pipeline) -> None:
    """The worker's code differs from the version the run was triggered for: record what really runs."""
    module = registry.pipelines()[run.pipeline.name][1]
    definition = registry.record(pipeline, module)
    RunEvent.objects.create(
        run=run,
        old_status=run.status,
        new_status=run.status,
        reason=f"runs code version {definition.code_version}, not {run.pipeline.code_version} it was triggered for",
    )
    Run.objects.filter(pk=run.pk).update(pipeline=definition)
    existing = set(run.steps.values_list("name", flat=True))
    StepRun.objects.bulk_create(
        StepRun(run=run, name=node["name"], group=node.get("group") or "", position=position)
        for position, node in enumerate(definition.dag["nodes"])
        if node["name"] not in existing
    )
    run.pipeline = definition
