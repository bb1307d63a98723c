"""The vertex stack kind without a server: config, state mapping, machine and pool specs."""

from __future__ import annotations

import subprocess
import sys

import pytest
from google.cloud.aiplatform_v1.types import JobState

from flowsite.engine import DockerConfig, ExecutionStatus, ResourceConfig
from stacks.kinds.vertex.orchestrator import VertexAIOrchestrator, accelerator_type, machine_type_for
from stacks.kinds.vertex.states import status_for
from stacks.registry import ConfigError, parse_config
from tests.cluster import ROOT

EXPECTED = {
    "JOB_STATE_UNSPECIFIED": None,
    "JOB_STATE_QUEUED": ExecutionStatus.PROVISIONING,
    "JOB_STATE_PENDING": ExecutionStatus.PROVISIONING,
    "JOB_STATE_RUNNING": ExecutionStatus.RUNNING,
    "JOB_STATE_SUCCEEDED": ExecutionStatus.COMPLETED,
    "JOB_STATE_FAILED": ExecutionStatus.FAILED,
    "JOB_STATE_CANCELLING": ExecutionStatus.CANCELLING,
    "JOB_STATE_CANCELLED": ExecutionStatus.CANCELLED,
    "JOB_STATE_PAUSED": ExecutionStatus.RUNNING,
    "JOB_STATE_EXPIRED": ExecutionStatus.FAILED,
    "JOB_STATE_UPDATING": ExecutionStatus.RUNNING,
    "JOB_STATE_PARTIALLY_SUCCEEDED": ExecutionStatus.FAILED,
}


@pytest.mark.parametrize("state", list(JobState), ids=lambda s: s.name)
def test_every_job_state_of_the_sdk_maps_as_specified(state):
    assert state.name in EXPECTED, f"the SDK has a state the mapping does not know: {state.name}"
    assert status_for(state) == EXPECTED[state.name]
    assert status_for(int(state)) == EXPECTED[state.name]
    assert status_for(state.name) == EXPECTED[state.name]


def test_cancelled_never_becomes_failed_and_unknown_states_are_not_failures():
    assert status_for(JobState.JOB_STATE_CANCELLED) is ExecutionStatus.CANCELLED
    assert status_for(99) is None and status_for("JOB_STATE_SOMETHING_NEW") is None and status_for(None) is None


@pytest.mark.parametrize(
    ("config", "field", "reason"),
    [
        ({}, "project_id", "Field required"),
        ({"project_id": ""}, "project_id", "at least 1 character"),
        ({"project_id": "p", "zone": "x"}, "zone", "unknown setting for this kind of stack"),
        ({"project_id": "p", "staging_bucket": "s3://b"}, "staging_bucket", "must start with gs://"),
        ({"project_id": "p", "artifact_uri": "/tmp/x"}, "artifact_uri", "must start with gs:// or file://"),
    ],
)
def test_config_errors_name_the_field(config, field, reason):
    with pytest.raises(ConfigError) as caught:
        parse_config("vertex", config)
    assert reason in caught.value.errors[field]


@pytest.mark.e2e
def test_validating_a_config_does_not_import_the_sdk():
    code = (
        "import django, sys; django.setup(); from stacks.registry import parse_config; "
        "parse_config('vertex', {'project_id': 'p', 'region': 'europe-west4'}); "
        "print('google.cloud.aiplatform' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "flowsite.settings"},
    )  # fmt: skip
    assert out.stdout.strip() == "False", out.stderr


def test_validate_and_to_dict_follow_the_seed(monkeypatch):
    with pytest.raises(ValueError, match="^project_id is required for VertexAIOrchestrator$"):
        VertexAIOrchestrator().validate()
    orchestrator = VertexAIOrchestrator(project_id="p", staging_bucket="gs://b", service_account="sa@p", network="n")
    assert orchestrator.validate() is True
    assert orchestrator.to_dict() == {
        "name": "vertex_ai", "type": "vertex_ai", "project_id": "p", "region": "us-central1",
        "service_account": "sa@p", "network": "n",
    }  # fmt: skip
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "google.cloud.aiplatform" else real_find_spec(name, *a),
    )
    with pytest.raises(ImportError, match="pip install google-cloud-aiplatform"):
        orchestrator.validate()


@pytest.mark.parametrize(
    ("cpu", "memory", "machine"),
    [("1", "2Gi", "n1-standard-2"), ("4", "8Gi", "n1-standard-4"), ("4", "20Gi", "n1-standard-8"),
     ("2", "50Gi", "n1-standard-16"), ("500m", "1Gi", "n1-standard-2")],
)  # fmt: skip
def test_machine_type_is_the_smallest_that_fits(cpu, memory, machine):
    assert machine_type_for(ResourceConfig(cpu=cpu, memory=memory)) == machine


@pytest.mark.parametrize(
    ("gpu", "vertex_name"),
    [("T4", "NVIDIA_TESLA_T4"), ("nvidia-tesla-t4", "NVIDIA_TESLA_T4"), ("a100", "NVIDIA_TESLA_A100"),
     ("NVIDIA_L4", "NVIDIA_L4"), ("TPU_V5", "TPU_V5")],
)  # fmt: skip
def test_accelerator_names(gpu, vertex_name):
    assert accelerator_type(gpu) == vertex_name


def test_worker_pool_spec_from_resources_and_docker_config():
    orchestrator = VertexAIOrchestrator(project_id="p", staging_bucket="gs://b", image="stack-image")
    resources = ResourceConfig(cpu="8", memory="16Gi", gpu="T4", gpu_count=2, disk_size="200Gi")
    docker = DockerConfig(image="step-image", env_vars={"A": "1"}, args=["--verbose"])
    [spec] = orchestrator.worker_pool_specs(resources, docker, env={"FLOWSITE_RUN_ID": "7"})
    assert spec["machine_spec"] == {
        "machine_type": "n1-standard-8",
        "accelerator_type": "NVIDIA_TESLA_T4",
        "accelerator_count": 2,
    }
    assert spec["replica_count"] == 1
    assert spec["disk_spec"]["boot_disk_size_gb"] == 200
    container = spec["container_spec"]
    assert container["image_uri"] == "step-image"
    assert container["command"] == ["python", "-m", "flowsite.remote"] and container["args"] == ["--verbose"]
    assert container["env"] == [{"name": "A", "value": "1"}, {"name": "FLOWSITE_RUN_ID", "value": "7"}]
    explicit = VertexAIOrchestrator(project_id="p", image="i", machine_type="a2-highgpu-1g").worker_pool_specs()
    assert explicit[0]["machine_spec"]["machine_type"] == "a2-highgpu-1g"
    with pytest.raises(ValueError, match="no container image"):
        VertexAIOrchestrator(project_id="p").worker_pool_specs()


def test_a_units_job_timeout_covers_each_attempt_of_each_step_and_the_start():
    from flowsite.engine import Step
    from runs.remote_units import STARTUP_SECONDS, unit_timeout

    def work() -> None:
        return None

    timed = [Step(work, name="a", timeout=60, retry=2, retry_delay=5), Step(work, name="b", timeout=30)]
    # a: three attempts of 60 s and backoffs of 5 s and 10 s; b: one attempt of 30 s.
    assert unit_timeout(timed) == 3 * 60 + 5 + 10 + 30 + STARTUP_SECONDS
    assert unit_timeout([*timed, Step(work, name="c")]) is None, "a step without a timeout: Vertex's own limit"


def test_the_stacks_capacity_settings_reach_the_jobs_scheduling():
    from google.cloud.aiplatform_v1.types import Scheduling

    config = parse_config("vertex", {"project_id": "p", "staging_bucket": "gs://b", "image": "i",
                                     "scheduling_strategy": "flex-start", "max_wait_seconds": 1800,
                                     "restart_job_on_worker_restart": True})  # fmt: skip
    job = VertexAIOrchestrator.for_stack(config, {}).custom_job("j", [], {}, timeout_seconds=900)
    scheduling = job.job_spec.scheduling
    assert scheduling.strategy == Scheduling.Strategy.FLEX_START
    assert scheduling.max_wait_duration.total_seconds() == 1800 and scheduling.timeout.total_seconds() == 900
    assert scheduling.restart_job_on_worker_restart is True
    with pytest.raises(ConfigError) as caught:
        parse_config("vertex", {"project_id": "p", "scheduling_strategy": "cheap"})
    assert "scheduling_strategy" in caught.value.errors
