"""Vertex stacks share nothing: each stack's calls use its own endpoint, project, location, key and
credentials, even when stacks take turns in one process. And an endpoint the client cannot use is
refused when the stack is saved, naming the field, not when a run is submitted."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from google.oauth2.credentials import Credentials
from rest_framework.test import APIClient

from runs.execution import execute_run
from runs.models import Run, RunStatus
from runs.registry import get_pipeline
from runs.remote_runs import reconcile_once
from stacks.kinds.vertex.orchestrator import VertexAIOrchestrator
from stacks.models import Stack
from tests.api.helpers import error
from tests.factories import give_stack_permissions, make_user
from tests.fake_vertex import FakeVertex
from tests.runs.helpers import wait_for

KEY = "projects/eu-project/locations/europe-west4/keyRings/flowsite/cryptoKeys/jobs"
RUNNER = "runner@eu-project.iam.gserviceaccount.com"


@pytest.fixture
def eu_server():
    server = FakeVertex(step_seconds=0.05)
    yield server
    server.stop()


@pytest.fixture
def eu_stack(vertex_stack, eu_server):
    """A second Vertex stack: its own server, project, region, key and service account."""
    config = {
        **vertex_stack.config, "project_id": "eu-project", "region": "europe-west4", "encryption_key": KEY,
        "service_account": RUNNER, "network": "projects/123/global/networks/eu", "api_endpoint": eu_server.url,
        "staging_bucket": "gs://eu-staging",
    }  # fmt: skip
    return Stack.objects.create(name="vertex-eu", kind="vertex", config=config, open_to_all_projects=True)


@pytest.mark.django_db(transaction=True)
def test_two_stacks_taking_turns_in_one_process_each_reach_only_their_own_vertex(
    vertex_project, vertex_stack, fake_vertex, eu_stack, eu_server
):
    runs = []
    for stack in (eu_stack, vertex_stack, eu_stack, vertex_stack):
        run = Run.objects.trigger(project=vertex_project, pipeline="greeting", stack=stack)
        execute_run(run.pk)
        runs.append(run)

    us_jobs, eu_jobs = list(fake_vertex.jobs.values()), list(eu_server.jobs.values())
    assert len(us_jobs) == len(eu_jobs) == 2
    for job in eu_jobs:
        assert job.name.startswith("projects/eu-project/locations/europe-west4/customJobs/")
        assert job.body["encryptionSpec"] == {"kmsKeyName": KEY}
        spec = job.body["jobSpec"]
        assert (spec["serviceAccount"], spec["network"]) == (RUNNER, "projects/123/global/networks/eu")
        assert spec["baseOutputDirectory"]["outputUriPrefix"].startswith("gs://eu-staging/")
    for job in us_jobs:
        # The first stack has no key, account or network: none of the other stack's may creep in.
        assert job.name.startswith("projects/test-project/locations/us-central1/customJobs/")
        assert "encryptionSpec" not in job.body
        assert "serviceAccount" not in job.body["jobSpec"] and "network" not in job.body["jobSpec"]
        assert job.body["jobSpec"]["baseOutputDirectory"]["outputUriPrefix"].startswith("gs://test-staging/")

    def all_finished() -> bool:
        reconcile_once()
        return all(Run.objects.get(pk=run.pk).is_finished for run in runs)

    wait_for(all_finished, timeout=60, what="the runs on both stacks to finish")
    assert [Run.objects.get(pk=run.pk).status for run in runs] == [RunStatus.COMPLETED] * 4
    assert all("/projects/test-project/locations/us-central1/" in path for _, path in fake_vertex.requests)
    assert all("/projects/eu-project/locations/europe-west4/" in path for _, path in eu_server.requests)


@pytest.mark.django_db
def test_each_stack_calls_with_its_own_credentials(pipelines):
    servers = {name: FakeVertex(step_seconds=3600) for name in ("a", "b")}
    try:
        orchestrators = {
            name: VertexAIOrchestrator(
                project_id=f"project-{name}", staging_bucket="gs://b", image="i", api_endpoint=server.url,
                credentials=Credentials(token=f"token-{name}"),
            )
            for name, server in servers.items()
        }  # fmt: skip
        for turn, name in enumerate(("a", "b", "a", "b")):
            orchestrator, labels = orchestrators[name], {"turn": str(turn)}
            job = orchestrator.run_pipeline(get_pipeline("greeting"), "7", env={}, labels=labels).job_id
            assert orchestrator.find_job(labels) == job
            assert orchestrator.report(job).state == "JOB_STATE_QUEUED"
            orchestrator.stop_run(job)
        for name, server in servers.items():
            assert server.authorizations == {f"Bearer token-{name}"}
            assert {method for method, _ in server.requests} == {"GET", "POST"} and len(server.requests) == 8
    finally:
        for server in servers.values():
            server.stop()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("endpoint", "says"),
    [
        ("https://europe-west4-aiplatform.googleapis.com", "https:// is not supported: give the host name alone"),
        ("grpc://europe-west4-aiplatform.googleapis.com", "grpc:// is not supported"),
        ("http://127.0.0.1:8080/v1", "with nothing after the port"),
        ("europe-west4-aiplatform.googleapis.com/v1", "with nothing after the port"),
        ("europe-west4-aiplatform.googleapis.com:99999", "must be host or host:port"),
        ("aiplatform googleapis com", "must be host or host:port"),
        ("", "must be host or host:port"),
    ],
)
def test_an_endpoint_the_client_cannot_use_is_a_400_on_the_field(endpoint, says):
    staff = APIClient()
    staff.force_authenticate(give_stack_permissions(make_user("stella", is_staff=True)))
    config = {"project_id": "p", "staging_bucket": "gs://b", "api_endpoint": endpoint}
    response = staff.post("/api/stacks/", {"name": "v", "kind": "vertex", "config": config}, format="json")
    assert response.status_code == 400
    fields = error(response)["fields"]
    assert list(fields) == ["config.api_endpoint"] and says in fields["config.api_endpoint"]
    assert not fields["config.api_endpoint"].startswith("Value error"), "the validator's words, not pydantic's"
    assert not Stack.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "endpoint",
    [
        "europe-west4-aiplatform.googleapis.com",
        "vertex.internal.example:8443",
        "http://127.0.0.1:8080",
        "http://[::1]:80",
    ],
)
def test_endpoints_the_client_can_use_are_accepted(endpoint):
    staff = APIClient()
    staff.force_authenticate(give_stack_permissions(make_user("stella", is_staff=True)))
    config = {"project_id": "p", "staging_bucket": "gs://b", "api_endpoint": endpoint}
    response = staff.post("/api/stacks/", {"name": "v", "kind": "vertex", "config": config}, format="json")
    assert response.status_code == 201, response.content
    assert Stack.objects.get().config["api_endpoint"] == endpoint


@pytest.mark.django_db
def test_the_admin_names_a_bad_endpoint_in_the_config_field(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@localhost", "pw"))
    config = '{"project_id": "p", "staging_bucket": "gs://b", "api_endpoint": "https://aiplatform.googleapis.com"}'
    response = client.post("/admin/stacks/stack/add/", {"name": "v", "kind": "vertex", "config": config})
    assert response.status_code == 200, "the form is shown again"
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["config"]
    assert errors["config"][0].startswith("api_endpoint: https:// is not supported")
    assert not Stack.objects.exists()
