"""Inside a run's own process: run the pipeline through the engine and record what happens."""

from __future__ import annotations

import signal
import sys
import traceback

from flowsite.engine import LocalExecutor, PipelineResult

from . import registry
from .local_runner_io import FdCapture
from .finishing import fail, finish
from .models import FailureReason, Run, RunEvent, RunStatus, StepRun
from .recording import RunArtifactStore, RunCacheStore, RunRecorder


def execute_in_child(run_id: int, stop_signal: int) -> int:
    run = Run.objects.select_related("pipeline", "project", "stack", "cancelled_by").get(pk=run_id)
    pipeline = registry.get_pipeline(run.pipeline.name)
    if pipeline is None:
        message = f"pipeline {run.pipeline.name!r} is not among this worker's FLOWSITE_PIPELINES"
        fail(run, FailureReason.PIPELINE_MISSING, message)
        return 0
    if pipeline.code_version() != run.pipeline.code_version:
        _adopt_current_code(run, pipeline)

    recorder = RunRecorder(run, secrets=run.stack.secret_values())
    signal.signal(stop_signal, lambda signum, frame: recorder.request_stop())
    if run.refresh_status() == RunStatus.CANCELLING:
        recorder.request_stop()
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
        recorder.close()
    finish(run, result, crash)
    return 0


def _adopt_current_code(run: Run, pipeline: object) -> None:
    """The worker's code differs from the version the run was triggered for: record what really runs."""
    module = registry.pipelines()[run.pipeline.name][1]
    definition = registry.record(pipeline, module)  # type: ignore[arg-type]
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
