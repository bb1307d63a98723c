"""POST /api/runs/ with an Idempotency-Key: a replay returns the same run, marked as a replay; the key
reused for a different request is a 422; two requests racing with one key make one run."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from runs.models import Run
from tests.factories import make_stack

from .helpers import error

pytestmark = pytest.mark.django_db

BODY = {"project": "ml", "pipeline": "arithmetic", "params": {"n": 4}}


def post(client, body, key: str | None = "ci-build-42"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post("/api/runs/", body, format="json", **headers)


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 201), ("member", 201), ("viewer", 403), ("outsider", 400), ("anonymous", 401)]
)
def test_a_replay_returns_the_same_run_marked_as_a_replay(as_, ready, other_project, who, status):
    client = as_(who)
    first = post(client, BODY)
    assert first.status_code == status, first.content
    if status != 201:
        error(first)
        assert not Run.objects.exists()
        return
    assert "Idempotent-Replayed" not in first
    again = post(client, BODY)
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Run.objects.count() == 1


def test_the_same_request_after_resolution_is_a_replay(as_, ready):
    client = as_("member")
    first = post(client, BODY)
    # The stack named, and the defaults spelled out: still the request that started the run.
    spelled_out = {**BODY, "stack": "local", "params": {"n": 4, "gate": "", "ledger": ""}}
    again = post(client, spelled_out)
    assert again.status_code == 201, again.content
    assert (again.json()["id"], again["Idempotent-Replayed"]) == (first.json()["id"], "true")
    assert Run.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({"params": {"n": 5}}, "params"),
        ({"params": {}}, "params"),
        ({"pipeline": "greeting", "params": {}}, "pipeline and params"),
        ({"stack": "gpu"}, "stack"),
        ({"cache": False}, "cache"),
    ],
)
def test_the_key_reused_for_a_different_request_is_a_422(as_, ready, change, differs):
    make_stack("gpu", is_default=False)
    client = as_("member")
    first = post(client, BODY)
    assert first.status_code == 201
    response = post(client, {**BODY, **change})
    assert response.status_code == 422, response.content
    err = error(response)
    run_id = first.json()["id"]
    assert err["code"] == "idempotency_key_reused"
    assert err["message"] == (
        f"the Idempotency-Key 'ci-build-42' already started run {run_id} with a different {differs}; "
        "use a new key for a different request"
    )
    assert err["fields"] == {"Idempotency-Key": f"already used for run {run_id}"}
    assert "Idempotent-Replayed" not in response
    assert Run.objects.count() == 1
    # The request it was first used for still replays.
    assert post(client, BODY).json()["id"] == run_id


def test_a_key_of_200_characters_is_taken_and_one_of_201_refused(as_, ready):
    client = as_("member")
    assert post(client, BODY, key="k" * 200).status_code == 201
    response = post(client, BODY, key="k" * 201)
    assert response.status_code == 400
    assert error(response)["fields"] == {"Idempotency-Key": "at most 200 characters"}
    assert Run.objects.count() == 1


def test_a_blank_key_is_no_key(as_, ready):
    client = as_("member")
    first, second = post(client, BODY, key="  "), post(client, BODY, key="  ")
    assert first.json()["id"] != second.json()["id"]
    assert "Idempotent-Replayed" not in second


@pytest.mark.django_db(transaction=True)
def test_two_requests_racing_with_one_key_make_one_run(api, ready, member):
    for attempt in range(5):
        key = f"race-{attempt}"
        start = threading.Barrier(2)
        responses: list = [None, None]

        def send(index: int) -> None:
            client = api(member, auth="token")
            try:
                start.wait(timeout=10)
                responses[index] = post(client, BODY, key=key)
            finally:
                connection.close()

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert [getattr(r, "status_code", None) for r in responses] == [201, 201], responses
        assert responses[0].json()["id"] == responses[1].json()["id"]
        assert sorted(r.get("Idempotent-Replayed", "") for r in responses) == ["", "true"]
        assert Run.objects.filter(idempotency_key=key).count() == 1


def test_the_schema_documents_the_key_the_replay_header_and_the_422(api, owner):
    operation = api(owner).get("/api/schema/", {"format": "json"}).json()["paths"]["/api/runs/"]["post"]
    key = next(p for p in operation["parameters"] if p["in"] == "header" and p["name"] == "Idempotency-Key")
    assert key["schema"] == {"type": "string", "maxLength": 200}
    assert "422" in operation["responses"]
    error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    assert operation["responses"]["422"]["content"] == error_body
    assert "Idempotent-Replayed" in operation["responses"]["201"]["headers"]
