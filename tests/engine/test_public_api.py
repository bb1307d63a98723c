"""The engine's public names, its independence from Django, and its small value types."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import flowsite.engine
from flowsite.engine import (
    Context,
    DockerConfig,
    ExecutionResult,
    ExecutionStatus,
    Executor,
    LocalExecutor,
    Pipeline,
    PipelineResult,
    RemoteOrchestrator,
    ResourceConfig,
    Step,
    StepGroup,
    StopExecution,
    SubmissionResult,
    step,
)

PUBLIC_NAMES = [
    "step",
    "Step",
    "Pipeline",
    "PipelineResult",
    "Context",
    "StepGroup",
    "Executor",
    "LocalExecutor",
    "ExecutionResult",
    "ExecutionStatus",
    "StopExecution",
    "RemoteOrchestrator",
    "SubmissionResult",
    "ResourceConfig",
    "DockerConfig",
    "log_metric",
    "MetricError",
]


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_engine_exports_the_public_name(name):
    assert getattr(flowsite.engine, name) is not None


def test_public_names_are_what_they_claim_to_be():
    assert callable(step)
    assert isinstance(step(lambda: 1), Step)
    assert issubclass(LocalExecutor, Executor)
    assert issubclass(StopExecution, Exception)
    for cls in (
        Step,
        Pipeline,
        PipelineResult,
        Context,
        StepGroup,
        ExecutionResult,
        RemoteOrchestrator,
        SubmissionResult,
        ResourceConfig,
        DockerConfig,
    ):
        assert isinstance(cls, type)


def test_top_level_package_exports_step_pipeline_and_context():
    from flowsite import Context as C
    from flowsite import Pipeline as P
    from flowsite import step as s

    assert s is step
    assert P is Pipeline
    assert C is Context


def test_execution_result_fields():
    result = ExecutionResult(step_name="s", success=True)
    assert result.output is None
    assert result.error is None
    assert result.duration_seconds == 0.0
    assert result.cached is False
    assert result.skipped is False
    assert result.artifact_uri is None
    assert result.retries == 0


_NO_DJANGO_SCRIPT = textwrap.dedent(
    """
    import sys
    import flowsite.engine
    from flowsite.engine import Pipeline, step

    @step(outputs=["n"])
    def produce():
        print("producing")
        return 2

    @step(inputs=["n"])
    def consume(n):
        return n * 21

    result = Pipeline("check", [produce, consume]).run(run_id="r1")
    assert result.success, result.error
    assert result["consume"] == 42
    print("DJANGO:", sorted(m for m in sys.modules if m.startswith("django")))
    """
)


def test_engine_runs_a_pipeline_without_importing_django():
    repo_root = Path(__file__).resolve().parents[2]
    completed = subprocess.run(
        [sys.executable, "-c", _NO_DJANGO_SCRIPT],
        capture_output=True,
        text=True,
        cwd=repo_root,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "DJANGO: []" in completed.stdout, completed.stdout


# --- ExecutionStatus -------------------------------------------------------------------

ALL_STATUSES = [
    "initializing",
    "provisioning",
    "running",
    "completed",
    "cached",
    "failed",
    "stopped",
    "cancelled",
    "stopping",
    "cancelling",
    "dead",
]
FINISHED = {"completed", "cached", "failed", "stopped", "cancelled"}
SUCCESSFUL = {"completed", "cached"}


def test_execution_status_has_exactly_the_documented_values():
    assert sorted(s.value for s in ExecutionStatus) == sorted(ALL_STATUSES)


@pytest.mark.parametrize("value", ALL_STATUSES)
def test_execution_status_is_a_str_enum_with_finished_and_successful(value):
    status = ExecutionStatus(value)
    assert isinstance(status, str)
    assert status == value
    assert status.is_finished is (value in FINISHED)
    assert status.is_successful is (value in SUCCESSFUL)


# --- remote orchestration -------------------------------------------------------------


def test_submission_result_without_wait_function_raises_naming_the_job():
    with pytest.raises(RuntimeError, match="job-1"):
        SubmissionResult("job-1").wait()


def test_submission_result_waits_with_the_given_function():
    waited = []
    result = SubmissionResult("job-2", wait_for_completion=lambda: waited.append(True), metadata={"k": "v"})
    result.wait()
    assert waited == [True]
    assert result.job_id == "job-2"
    assert result.metadata == {"k": "v"}


def test_submission_result_metadata_defaults_to_empty():
    assert SubmissionResult("job-3").metadata == {}


def test_remote_orchestrator_stop_run_is_not_implemented_naming_the_class():
    with pytest.raises(NotImplementedError, match="RemoteOrchestrator"):
        RemoteOrchestrator("x").stop_run("j")


def test_remote_orchestrator_subclass_stop_run_names_the_subclass():
    class KubeOrchestrator(RemoteOrchestrator):
        pass

    with pytest.raises(NotImplementedError, match="KubeOrchestrator"):
        KubeOrchestrator("k8s").stop_run("job-9")


def test_remote_orchestrator_subclass_can_support_stopping():
    stopped = []

    class Stoppable(RemoteOrchestrator):
        def stop_run(self, job_id, graceful=True):
            stopped.append((job_id, graceful))

    Stoppable("s").stop_run("job-1", graceful=False)
    assert stopped == [("job-1", False)]


# --- resources -----------------------------------------------------------------------


def test_resource_config_defaults():
    r = ResourceConfig()
    assert r.cpu == "1"
    assert r.memory == "2Gi"
    assert r.gpu is None
    assert r.gpu_count == 0
    assert r.disk_size == "10Gi"
    assert r.machine_type is None


def test_docker_config_defaults():
    d = DockerConfig()
    assert d.image is None
    assert d.env_vars == {}
    assert d.command is None
    assert d.args is None


def test_docker_config_env_vars_are_not_shared_between_instances():
    a, b = DockerConfig(), DockerConfig()
    a.env_vars["TOKEN"] = "x"
    assert b.env_vars == {}


# --- Context -------------------------------------------------------------------------


def test_context_attribute_and_item_access():
    ctx = Context(a=1, b="two")
    assert ctx.a == 1
    assert ctx["a"] == 1
    assert ctx.b == "two"
    assert ctx["b"] == "two"


def test_context_missing_parameter_raises():
    ctx = Context(a=1)
    with pytest.raises(AttributeError, match="missing"):
        ctx.missing  # noqa: B018
    with pytest.raises(KeyError):
        ctx["missing"]


def test_context_inject_params_gives_only_named_parameters():
    ctx = Context(a=1, b=2, c=3)

    def uses_a_and_c(a, c, d=4):
        return a + c

    def uses_nothing():
        return 0

    def takes_any(a, **rest):
        return a

    assert ctx.inject_params(uses_a_and_c) == {"a": 1, "c": 3}
    assert ctx.inject_params(uses_nothing) == {}
    assert ctx.inject_params(takes_any) == {"a": 1}


# --- the base Executor -----------------------------------------------------------------


def test_base_executor_methods_are_not_implemented():
    s = step(name="s")(lambda: 1)
    executor = Executor()
    with pytest.raises(NotImplementedError):
        executor.execute_step(s, {}, {})
    with pytest.raises(NotImplementedError):
        executor.execute_step_group(StepGroup("g", [s], ["s"]), {})
