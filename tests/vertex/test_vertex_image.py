"""The runner image must hold the Flowsite and the pipeline code the run asked for, or the run says so.

The fake Vertex runs a job's command in a directory standing for the image's files: here, copies of
this repository's Flowsite and pipelines, changed as a stale image would be.
"""

from __future__ import annotations

import shutil

import pytest

from runs.execution import execute_run
from runs.models import FailureReason, LogLine, Run, RunStatus
from runs.remote_runs import reconcile_once
from tests.cluster import ROOT
from tests.runs.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

IMAGE = "europe-docker.pkg.dev/test/stale:1"


@pytest.fixture
def stale_image(tmp_path, vertex_stack, fake_vertex):
    """`stale_image(edit)`: jobs run an image built from this repository, then changed by `edit(files)`."""

    def build(edit) -> None:
        files = tmp_path / "image"
        for package in ("flowsite", "examples", "tests"):
            shutil.copytree(ROOT / package, files / package, ignore=shutil.ignore_patterns("__pycache__", "test_*"))
        edit(files)
        fake_vertex.images[IMAGE] = files
        vertex_stack.config = {**vertex_stack.config, "image": IMAGE}
        vertex_stack.save()

    return build


def run_to_the_end(project) -> Run:
    run = Run.objects.trigger(project=project, pipeline="greeting")
    execute_run(run.pk)

    def finished() -> bool:
        reconcile_once()
        return Run.objects.get(pk=run.pk).is_finished

    wait_for(finished, 30, "the run to end")
    run.refresh_from_db()
    return run


def replace(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_an_image_with_another_flowsite_refuses_to_run_naming_both_versions(vertex_project, stale_image):
    import flowsite

    stale_image(lambda files: replace(files / "flowsite" / "__init__.py", f'"{flowsite.__version__}"', '"0.0.1"'))
    run = run_to_the_end(vertex_project)
    assert run.status == RunStatus.FAILED and run.failure_reason == FailureReason.REMOTE_JOB_FAILED
    lines = list(LogLine.objects.filter(run=run).values_list("text", flat=True))
    assert any(f"this image has Flowsite 0.0.1, but the control plane runs Flowsite {flowsite.__version__}" in line
               for line in lines), lines  # fmt: skip
    assert not LogLine.objects.filter(run=run, text__startswith="hello").exists(), "no step ran"


def test_an_image_with_other_pipeline_code_refuses_to_run_naming_both_code_versions(vertex_project, stale_image):
    from runs.models import PipelineDef

    stale_image(lambda files: replace(files / "tests" / "pipelines.py", 'print("second line")', 'print("2nd line")'))
    run = run_to_the_end(vertex_project)
    assert run.status == RunStatus.FAILED
    wanted = PipelineDef.objects.get(pk=run.pipeline_id).code_version
    [line] = LogLine.objects.filter(run=run, text__contains="this image has code version").values_list(
        "text", flat=True
    )
    assert f"but the run was triggered for version {wanted}" in line
    assert "of pipeline 'greeting'" in line


@pytest.mark.parametrize("placement", ["run", "unit"])
def test_a_job_whose_runner_never_speaks_shows_its_error_and_last_log_entries(
    vertex_project, vertex_stack, fake_vertex, tmp_path, placement
):
    files = tmp_path / "broken-image"
    (files / "flowsite").mkdir(parents=True)
    (files / "flowsite" / "__init__.py").write_text("")
    (files / "flowsite" / "remote.py").write_text(
        "import sys\nprint('starting the runner', flush=True)\n"
        "print('ModuleNotFoundError: No module named numpy', file=sys.stderr)\nsys.exit(3)\n"
    )
    fake_vertex.images["broken:1"] = files
    vertex_stack.config = {**vertex_stack.config, "image": "broken:1", "placement": placement}
    vertex_stack.save()
    run = run_to_the_end(vertex_project)
    assert run.status == RunStatus.FAILED and run.failure_reason == FailureReason.REMOTE_JOB_FAILED
    assert "exited with a non-zero status of 3" in run.failure_message
    assert run.failure_message.endswith(
        "; the last 2 entries of its log:\nERROR: starting the runner\n"
        "ERROR: ModuleNotFoundError: No module named numpy"
    )
    lookups = [path for method, path in fake_vertex.requests if path == "/v2/entries:list"]
    assert len(lookups) == 1, "the log is read once"


def test_the_runner_images_storage_client_is_the_one_the_control_plane_pins():
    pins = {line.split("==")[0]: line for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line}
    for line in (ROOT / "deploy" / "runner-requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            assert pins[line.split("==")[0]] == line
