"""Credentials per stack: two Vertex stacks in different GCP projects, each with its own service-account
key, run side by side in one process, and neither's token ever reaches the other's servers."""

from __future__ import annotations

import base64
import json
import pickle

import pytest
from rest_framework.test import APIClient

from runs.execution import execute_run
from runs.models import Run
from runs.remote_runs import reconcile_once
from stacks.models import Stack
from stacks.registry import ConfigError, parse_config
from tests.factories import make_stack
from tests.runs.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def servers():
    from tests.fake_gcs import FakeGCS
    from tests.fake_oauth import FakeOAuth
    from tests.fake_vertex import FakeVertex

    made = {"oauth": FakeOAuth(), "gcs": FakeGCS(), "alpha": FakeVertex(), "beta": FakeVertex()}
    yield made
    for server in made.values():
        server.stop()


def keyed_stack(name: str, servers) -> Stack:
    email = f"runner@{name}-project.iam.gserviceaccount.com"
    return make_stack(
        name=name, kind="vertex", is_default=False,
        config={
            "project_id": f"{name}-project", "staging_bucket": f"gs://{name}-staging", "image": "flowsite:1",
            "api_endpoint": servers[name].url, "storage_endpoint": servers["gcs"].url,
            "artifact_uri": f"gs://{name}-artifacts/runs", "credentials": "key",
        },
        secrets={"GOOGLE_SERVICE_ACCOUNT_KEY": servers["oauth"].service_account_key(email), "PLAIN": "visible"},
    )  # fmt: skip


def account(authorization: str) -> str:
    """Whose credentials a request carried: a token from the fake OAuth server names its account, and a
    self-signed JWT (what Google's clients send for a key where they can) has it as its issuer."""
    token = authorization.removeprefix("Bearer ")
    if token.startswith("token-for-"):
        return token.removeprefix("token-for-")
    claims = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["iss"]


def test_per_stack_credentials_do_not_mix(vertex_project, servers):
    alpha, beta = keyed_stack("alpha", servers), keyed_stack("beta", servers)
    runs = [Run.objects.trigger(project=vertex_project, pipeline="arithmetic", stack=stack) for stack in (alpha, beta)]
    for run in runs:
        execute_run(run.pk)

    def both_finished() -> bool:
        reconcile_once()  # one pass follows both stacks' jobs, in this one process
        return all(Run.objects.get(pk=run.pk).is_finished for run in runs)

    wait_for(both_finished, 60, "both runs to end")
    for run in runs:
        run.refresh_from_db()
        assert run.status == "completed", run.failure_message

    for name in ("alpha", "beta"):
        accounts = {account(header) for header in servers[name].authorizations}
        assert accounts == {f"runner@{name}-project.iam.gserviceaccount.com"}, name
        assert all(f"/projects/{name}-project/" in path for _, path in servers[name].requests)

    # The API streams each output from its stack's bucket with that stack's own key.
    client = APIClient()
    client.force_authenticate(vertex_project.memberships.get().user)
    for run, name in zip(runs, ("alpha", "beta")):
        total = run.artifacts.get(step="add_up")
        assert total.uri.startswith(f"gs://{name}-artifacts/runs/remote/{run.pk}/")
        response = client.get(f"/api/artifacts/{total.pk}/download/")
        assert response.status_code == 200 and pickle.loads(b"".join(response.streaming_content)) == 3
    control_plane = {
        (path.split("/b/")[1].split("/")[0], account(auth)) for _, path, auth in servers["gcs"].requests if auth
    }
    assert control_plane == {
        ("alpha-artifacts", "runner@alpha-project.iam.gserviceaccount.com"),
        ("beta-artifacts", "runner@beta-project.iam.gserviceaccount.com"),
    }


def test_the_key_stays_with_the_control_plane(vertex_project, servers):
    stack = keyed_stack("alpha", servers)
    assert stack.job_secrets() == {"PLAIN": "visible"}
    run = Run.objects.trigger(project=vertex_project, pipeline="arithmetic", stack=stack)
    execute_run(run.pk)
    job = next(iter(servers["alpha"].jobs.values()))
    assert "BEGIN PRIVATE KEY" not in str(job.body)


def test_credentials_settings_are_checked_and_impersonation_names_its_account(monkeypatch):
    with pytest.raises(ConfigError) as caught:
        parse_config("vertex", {"project_id": "p", "credentials": "impersonate"})
    assert "impersonate_service_account: required" in caught.value.errors["config"]
    from google.auth.credentials import AnonymousCredentials

    from stacks.kinds.vertex.credentials import stack_credentials

    monkeypatch.setattr("google.auth.default", lambda scopes=None: (AnonymousCredentials(), "p"))
    config = parse_config(
        "vertex", {"project_id": "p", "credentials": "impersonate", "impersonate_service_account": "deployer@p.iam"}
    )
    credentials = stack_credentials(config, {})
    assert credentials.service_account_email == "deployer@p.iam"
    with pytest.raises(ValueError, match="no secret GOOGLE_SERVICE_ACCOUNT_KEY"):
        stack_credentials(parse_config("vertex", {"project_id": "p", "credentials": "key"}), {})
