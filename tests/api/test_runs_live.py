"""The runs list for live clients: an ETag and 304 while the page would not change, and search by run id,
pipeline or parameter value."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership, Role
from flowsite.api_defaults import BAD_CURSOR
from runs.models import FEW_PARAM_MATCHES, PipelineDef, Run, RunStatus
from tests.runs.helpers import execute

from .helpers import error, trigger
from .test_runs import T0

pytestmark = pytest.mark.django_db


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [run["id"] for run in response.json()["results"]]


@pytest.mark.django_db(transaction=True)
def test_an_unchanged_page_is_a_304_and_each_kind_of_change_a_new_page(api, ready, owner, outsider, other_project):
    client = api(owner, auth="token")
    first = trigger(ready, "greeting", user=owner, name="one")
    response = client.get("/api/runs/")
    tag = response["ETag"]
    assert tag.startswith('W/"') and ids(response) == [first.pk]

    again = client.get("/api/runs/", HTTP_IF_NONE_MATCH=tag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == tag
    # Another project's run is not on this page: still unchanged.
    trigger(other_project, "greeting", user=outsider)
    assert client.get("/api/runs/", HTTP_IF_NONE_MATCH=tag).status_code == 304

    def changed_since(tag: str) -> str:
        response = client.get("/api/runs/", HTTP_IF_NONE_MATCH=tag)
        assert response.status_code == 200
        assert response["ETag"] != tag
        return response["ETag"]

    second = trigger(ready, "greeting", user=owner, name="two")  # a new run
    tag = changed_since(tag)
    second.cancel(by=owner)  # a status
    tag = changed_since(tag)
    execute(first)  # steps and the run's end
    tag = changed_since(tag)
    assert client.get("/api/runs/", HTTP_IF_NONE_MATCH=tag).status_code == 304

    # The same page under other filters, or for another user, has its own tag.
    assert client.get("/api/runs/?status=completed", HTTP_IF_NONE_MATCH=tag).status_code == 200
    Membership.objects.create(project=other_project, user=owner, role=Role.VIEWER)
    assert client.get("/api/runs/", HTTP_IF_NONE_MATCH=tag).status_code == 200


def test_an_unchanged_page_costs_one_query_and_a_page_without_a_tag_none_for_its_tag(api, ready, owner):
    # The portal polls every 2 s: its 304 must not read the page it does not send.
    client = api(owner)  # a session: the same two queries on every request
    for name in ("one", "two", "three"):
        trigger(ready, "greeting", user=owner, name=name)
    client.get("/api/runs/")  # warm up: first-request work is not the endpoint's
    with CaptureQueriesContext(connection) as signed_in:
        assert client.get("/api/runs/", {"page_size": 0}).status_code == 400  # refused before any run is read
    with CaptureQueriesContext(connection) as page:
        response = client.get("/api/runs/")
    with CaptureQueriesContext(connection) as poll:
        assert client.get("/api/runs/", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    assert len(poll) == len(signed_in) + 1
    # The page, its users and its step counts: the tag is read from the page's own rows.
    assert len(page) == len(signed_in) + 3


def test_a_malformed_cursor_is_still_a_400_with_a_tag_given(api, ready, owner):
    response = api(owner).get("/api/runs/?cursor=nonsense", HTTP_IF_NONE_MATCH='W/"x"')
    assert response.status_code == 400
    assert error(response)["fields"] == {"cursor": BAD_CURSOR}


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("arith", ["arithmetic"]),  # a pipeline's name, in part
        ("ARITHMETIC", ["arithmetic"]),  # in any case
        ("ada lovelace", ["ada"]),  # a parameter's value
        ("1234567", ["number"]),
        ("nothing like it", []),
    ],
)
def test_search_finds_runs_by_pipeline_and_parameter_value(api, ready, owner, search, expected):
    made = {
        "arithmetic": trigger(ready, "arithmetic", user=owner, n=2),
        "ada": trigger(ready, "greeting", user=owner, name="Ada Lovelace"),
        "number": trigger(ready, "greeting", user=owner, name="run 1234567"),
    }
    found = ids(api(owner).get("/api/runs/", {"search": search}))
    assert found == [made[name].pk for name in expected]


def test_search_finds_a_run_by_its_id_and_keeps_other_filters(api, ready, owner, outsider, other_project):
    runs = [trigger(ready, "greeting", user=owner) for _ in range(3)]
    theirs = trigger(other_project, "greeting", user=outsider)
    client = api(owner)
    assert ids(client.get("/api/runs/", {"search": str(runs[1].pk)})) == [runs[1].pk]
    assert ids(client.get("/api/runs/", {"search": f"#{runs[1].pk}"})) == [runs[1].pk]
    assert ids(client.get("/api/runs/", {"search": str(theirs.pk)})) == [], "another project's run stays hidden"
    runs[2].cancel(by=owner)
    assert ids(client.get("/api/runs/", {"search": "greeting", "status": RunStatus.CANCELLED})) == [runs[2].pk]
    assert ids(client.get("/api/runs/", {"search": "  "})) == [r.pk for r in reversed(runs)]


def test_a_parameter_matched_by_few_runs_or_by_many_finds_the_same_runs(
    api, ready, owner, outsider, other_project, stack
):
    # On SQLite up to FEW_PARAM_MATCHES runs are looked up by id, more by reading parameters newest first: either way the
    # runs visible to the user whose parameters contain the text, newest first, whatever other project has them.
    greeting = PipelineDef.objects.get(name="greeting")

    def run(project, i: int, name: str) -> Run:
        return Run(project=project, pipeline=greeting, stack=stack, params={"name": name}, created_at=T0 + timedelta(i))

    Run.objects.bulk_create(
        [run(ready, i, f"Common {i}") for i in range(FEW_PARAM_MATCHES)]
        + [run(other_project, FEW_PARAM_MATCHES + i, f"common, rare {i}") for i in range(3)]
        + [run(ready, FEW_PARAM_MATCHES + 3 + i, f"rare {i}") for i in range(2)]
    )
    mine = list(Run.objects.filter(project=ready).order_by("-created_at"))
    client = api(owner)
    for term, many in (("COMMON", True), ("rare", False)):
        assert (Run.objects.filter(params__icontains=term).count() > FEW_PARAM_MATCHES) is many
        expected = [r.pk for r in mine if term.lower() in r.params["name"].lower()]
        assert ids(client.get("/api/runs/", {"search": term, "page_size": 500})) == expected[:500]
    assert ids(client.get("/api/runs/", {"search": "rare", "status": RunStatus.COMPLETED})) == []


def test_a_search_longer_than_200_characters_is_a_400_naming_it(api, ready, owner):
    response = api(owner).get("/api/runs/", {"search": "x" * 201})
    assert response.status_code == 400
    assert set(error(response)["fields"]) == {"search"}
