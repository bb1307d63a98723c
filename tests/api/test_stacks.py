"""/api/stacks/: everyone signed in reads those their projects may use (never their secrets); staff with the
stacks permissions manage them. Who may use which stack: tests/security/test_stack_grants.py."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from stacks.models import Stack
from tests.factories import make_stack

from .helpers import error, trigger

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-value-never-shown"


@pytest.fixture
def gpu(db):
    return make_stack(
        "gpu",
        is_default=False,
        description="GPU box",
        config={"env": {"CUDA_VISIBLE_DEVICES": "0"}},
        secrets={"HF_TOKEN": SECRET, "AWS_SECRET": "another-" + SECRET},
    )


@pytest.mark.parametrize("who", ["owner", "viewer", "outsider", "staff"])
def test_any_signed_in_user_lists_stacks_without_secret_values(request, api, stack, gpu, who):
    response = api(request.getfixturevalue(who), auth="token").get("/api/stacks/")
    assert response.status_code == 200
    assert SECRET not in response.content.decode()
    stacks = response.json()
    assert [s["name"] for s in stacks] == ["gpu", "local"]
    listed = stacks[0]
    assert "secrets" not in listed
    assert listed["secrets_set"] == ["AWS_SECRET", "HF_TOKEN"]
    assert {k: listed[k] for k in ("id", "kind", "description", "config", "is_default")} == {
        "id": gpu.pk,
        "kind": "local",
        "description": "GPU box",
        "config": {"env": {"CUDA_VISIBLE_DEVICES": "0"}},
        "is_default": False,
    }
    assert stacks[1]["secrets_set"] == [] and stacks[1]["is_default"] is True


def test_retrieve_shows_secret_names_only(api, gpu, viewer, project):
    response = api(viewer).get(f"/api/stacks/{gpu.pk}/")
    assert response.status_code == 200
    assert SECRET not in response.content.decode()
    assert response.json()["secrets_set"] == ["AWS_SECRET", "HF_TOKEN"]
    assert "secrets" not in response.json()


def test_anonymous_gets_401(api, gpu):
    assert api().get("/api/stacks/").status_code == 401
    assert api().get(f"/api/stacks/{gpu.pk}/").status_code == 401
    assert api().post("/api/stacks/", {"name": "x", "kind": "local"}, format="json").status_code == 401
    assert api().post(f"/api/stacks/{gpu.pk}/validate/").status_code == 401
    assert api().delete(f"/api/stacks/{gpu.pk}/").status_code == 401


def test_staff_create_a_stack_and_its_secrets_stay_hidden(api, staff, stack):
    response = api(staff, auth="token").post(
        "/api/stacks/",
        {
            "name": "cpu",
            "kind": "local",
            "description": "Spare CPUs",
            "config": {"env": {"OMP_NUM_THREADS": "4"}},
            "secrets": {"DB_PASSWORD": SECRET},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert SECRET not in response.content.decode()
    body = response.json()
    assert (body["name"], body["secrets_set"], body["config"], body["is_default"]) == (
        "cpu",
        ["DB_PASSWORD"],
        {"env": {"OMP_NUM_THREADS": "4"}},
        False,
    )
    created = Stack.objects.get(name="cpu")
    assert created.secrets == {"DB_PASSWORD": SECRET}
    assert created.description == "Spare CPUs"


def test_staff_update_a_stack_and_secrets_are_replaced_when_given(api, staff, gpu):
    client = api(staff)
    response = client.patch(f"/api/stacks/{gpu.pk}/", {"description": "Two GPUs"}, format="json")
    assert response.status_code == 200, response.content
    gpu.refresh_from_db()
    assert gpu.description == "Two GPUs"
    assert gpu.secrets["HF_TOKEN"] == SECRET, "secrets untouched when not given"
    response = client.patch(f"/api/stacks/{gpu.pk}/", {"secrets": {"NEW": "value"}}, format="json")
    assert response.json()["secrets_set"] == ["NEW"]
    gpu.refresh_from_db()
    assert gpu.secrets == {"NEW": "value"}


def test_a_secret_too_short_to_be_masked_is_a_400_naming_it(api, staff, gpu):
    response = api(staff).patch(f"/api/stacks/{gpu.pk}/", {"secrets": {"PIN": "123"}}, format="json")
    assert response.status_code == 400
    assert "PIN: too short to be masked in what runs store (at least 4 characters)" in str(response.json())
    gpu.refresh_from_db()
    assert gpu.secrets["HF_TOKEN"] == SECRET


def test_making_a_stack_the_default_hands_the_flag_over(api, staff, stack, gpu):
    response = api(staff).patch(f"/api/stacks/{gpu.pk}/", {"is_default": True}, format="json")
    assert response.status_code == 200, response.content
    assert Stack.default() == gpu
    stack.refresh_from_db()
    assert stack.is_default is False


def test_a_new_stack_can_be_created_as_the_default(api, staff, stack):
    response = api(staff).post("/api/stacks/", {"name": "cpu", "kind": "local", "is_default": True}, format="json")
    assert response.status_code == 201, response.content
    assert Stack.default().name == "cpu"
    stack.refresh_from_db()
    assert stack.is_default is False


def test_staff_delete_a_stack_without_runs(api, staff, gpu):
    response = api(staff).delete(f"/api/stacks/{gpu.pk}/")
    assert response.status_code == 204
    assert not Stack.objects.filter(pk=gpu.pk).exists()


@pytest.mark.parametrize("who", ["owner", "member", "viewer", "outsider"])
def test_non_staff_get_403_on_every_write(request, api, project, gpu, who):
    client = api(request.getfixturevalue(who))
    responses = [
        ("add", client.post("/api/stacks/", {"name": "mine", "kind": "local"}, format="json")),
        ("change", client.patch(f"/api/stacks/{gpu.pk}/", {"description": "mine"}, format="json")),
        ("change", client.put(f"/api/stacks/{gpu.pk}/", {"name": "gpu", "kind": "local"}, format="json")),
        ("delete", client.delete(f"/api/stacks/{gpu.pk}/")),
    ]
    for needed, response in responses:
        assert response.status_code == 403
        message = f"managing stacks takes staff status and the permission stacks.{needed}_stack"
        assert error(response)["message"] == message
    validate = client.post(f"/api/stacks/{gpu.pk}/validate/")
    assert validate.status_code == 403
    gpu.refresh_from_db()
    assert gpu.description == "GPU box"
    assert list(Stack.objects.values_list("name", flat=True)) == ["gpu"]


def test_an_unknown_config_setting_is_named(api, staff):
    response = api(staff).post("/api/stacks/", {"name": "x", "kind": "local", "config": {"bogus": 1}}, format="json")
    assert response.status_code == 400
    err = error(response)
    assert err["fields"] == {"config.bogus": "unknown setting for this kind of stack"}
    assert err["message"] == "config.bogus: unknown setting for this kind of stack"
    assert not Stack.objects.exists()


def test_a_mistyped_config_setting_is_named(api, staff, gpu):
    response = api(staff).patch(f"/api/stacks/{gpu.pk}/", {"config": {"env": "PATH=/bin"}}, format="json")
    assert response.status_code == 400
    fields = error(response)["fields"]
    assert list(fields) == ["config.env"]
    assert "dictionary" in fields["config.env"]
    gpu.refresh_from_db()
    assert gpu.config == {"env": {"CUDA_VISIBLE_DEVICES": "0"}}


def test_a_nested_config_error_names_the_key(api, staff):
    response = api(staff).post(
        "/api/stacks/", {"name": "x", "kind": "local", "config": {"env": {"N": 3}}}, format="json"
    )
    assert response.status_code == 400
    assert list(error(response)["fields"]) == ["config.env.N"]


def test_an_unknown_kind_is_a_400_naming_kind(api, staff):
    response = api(staff).post("/api/stacks/", {"name": "k", "kind": "kubernetes"}, format="json")
    assert response.status_code == 400
    fields = error(response)["fields"]
    assert list(fields) == ["kind"]
    assert "kubernetes" in fields["kind"]
    assert not Stack.objects.exists()


def test_a_duplicate_name_is_a_400_naming_name(api, staff, gpu):
    response = api(staff).post("/api/stacks/", {"name": "gpu", "kind": "local"}, format="json")
    assert response.status_code == 400
    assert list(error(response)["fields"]) == ["name"]


def test_staff_validate_a_stack(api, staff, gpu):
    response = api(staff).post(f"/api/stacks/{gpu.pk}/validate/")
    assert response.status_code == 200
    assert response.json() == {"valid": True, "problem": ""}


def test_validating_an_unknown_stack_is_404(api, staff):
    assert api(staff).post("/api/stacks/999999/validate/").status_code == 404


def test_a_stack_with_runs_cannot_be_deleted(api, staff, ready, stack):
    trigger(ready)
    response = api(staff).delete(f"/api/stacks/{stack.pk}/")
    assert response.status_code == 409
    err = error(response)
    assert (err["code"], err["message"]) == ("conflict", "stack 'local' has runs; it cannot be deleted")
    assert Stack.objects.filter(pk=stack.pk).exists()


def test_secrets_never_appear_in_any_stack_response(api, staff, gpu):
    client = api(staff)
    bodies = [
        client.get("/api/stacks/"),
        client.get(f"/api/stacks/{gpu.pk}/"),
        client.patch(f"/api/stacks/{gpu.pk}/", {"description": "d"}, format="json"),
        client.post(f"/api/stacks/{gpu.pk}/validate/"),
    ]
    for response in bodies:
        assert response.status_code == 200
        assert SECRET not in json.dumps(response.json())


def test_the_stack_list_takes_constant_queries(api, viewer, project, stack, django_assert_num_queries):
    client = api(viewer)
    client.get("/api/stacks/")
    with CaptureQueriesContext(connection) as few:
        assert len(client.get("/api/stacks/").json()) == 1
    queries = len(few)
    for i in range(20):
        make_stack(f"extra-{i}", is_default=False, secrets={"K": "v"})
    with django_assert_num_queries(queries):
        assert len(client.get("/api/stacks/").json()) == 21
