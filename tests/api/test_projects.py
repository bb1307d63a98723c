"""/api/projects/ and /api/projects/{slug}/members/: who sees, creates (staff), edits and staffs a project."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership, Project, Role
from tests.factories import make_project, make_user

from .helpers import add_member, error

pytestmark = pytest.mark.django_db

MEMBERS = "/api/projects/ml/members/"


# --- projects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "role"), [("owner", "owner"), ("member", "member"), ("viewer", "viewer")])
def test_the_list_shows_only_your_projects_with_your_role(request, api, project, other_project, who, role):
    response = api(request.getfixturevalue(who), auth="token").get("/api/projects/")
    assert response.status_code == 200
    assert [(p["slug"], p["name"], p["role"]) for p in response.json()] == [("ml", "Machine learning", role)]


def test_an_outsider_sees_only_the_project_they_belong_to(api, project, other_project, outsider):
    response = api(outsider).get("/api/projects/")
    assert [(p["slug"], p["role"]) for p in response.json()] == [("lab", "owner")]
    assert api(outsider).get("/api/projects/ml/").status_code == 404


def test_a_user_in_no_project_gets_an_empty_list(api, project, staff):
    response = api(staff).get("/api/projects/")
    assert response.status_code == 200
    assert response.json() == []


def test_retrieve_shows_the_project_and_your_role(api, project, viewer):
    response = api(viewer).get("/api/projects/ml/")
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("slug", "name", "description", "role")} == {
        "slug": "ml",
        "name": "Machine learning",
        "description": "",
        "role": "viewer",
    }
    assert body["created_at"]


def test_staff_who_create_a_project_own_it(api, staff):
    response = api(staff, auth="token").post(
        "/api/projects/", {"slug": "vision", "name": "Vision", "description": "Images"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["slug"] == "vision"
    assert response.json()["role"] == "owner"
    project = Project.objects.get(slug="vision")
    assert (project.name, project.description) == ("Vision", "Images")
    assert list(project.memberships.values_list("user__username", "role")) == [("stella", "owner")]
    listed = api(staff).get("/api/projects/").json()
    assert [(p["slug"], p["role"]) for p in listed] == [("vision", "owner")]


def test_a_duplicate_slug_is_a_400_naming_slug(api, project, staff):
    response = api(staff).post("/api/projects/", {"slug": "ml", "name": "Mine"}, format="json")
    assert response.status_code == 400
    err = error(response)
    assert err["code"] == "invalid"
    assert list(err["fields"]) == ["slug"]
    assert "slug already exists" in err["fields"]["slug"]
    assert not Membership.objects.filter(user__username="stella").exists()


def test_an_invalid_slug_and_a_missing_name_are_named(api, staff):
    response = api(staff).post("/api/projects/", {"slug": "not a slug!"}, format="json")
    assert response.status_code == 400
    fields = error(response)["fields"]
    assert set(fields) == {"slug", "name"}
    assert fields["name"] == "This field is required."
    assert not Project.objects.exists()


def test_the_owner_updates_the_project(api, project, owner):
    response = api(owner).patch("/api/projects/ml/", {"name": "ML team", "description": "models"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["role"]) == ("ML team", "owner")
    project.refresh_from_db()
    assert (project.name, project.description) == ("ML team", "models")
    replaced = api(owner).put("/api/projects/ml/", {"name": "Again"}, format="json")
    assert replaced.status_code == 200
    assert Project.objects.get(slug="ml").name == "Again"


def test_the_slug_cannot_be_changed_by_an_update(api, project, owner):
    response = api(owner).patch("/api/projects/ml/", {"slug": "renamed"}, format="json")
    assert response.status_code == 200
    assert response.json()["slug"] == "ml"
    assert Project.objects.filter(slug="ml").exists() and not Project.objects.filter(slug="renamed").exists()


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_members_and_viewers_cannot_update_the_project(request, api, project, who):
    response = api(request.getfixturevalue(who)).patch("/api/projects/ml/", {"name": "Hijacked"}, format="json")
    assert response.status_code == 403
    err = error(response)
    assert err["code"] == "permission_denied"
    assert err["message"] == "your role in this project does not allow this"
    assert Project.objects.get(slug="ml").name == "Machine learning"


def test_an_outsider_updating_the_project_gets_404(api, project, outsider):
    response = api(outsider).patch("/api/projects/ml/", {"name": "Hijacked"}, format="json")
    assert response.status_code == 404
    assert error(response)["code"] == "not_found"
    assert Project.objects.get(slug="ml").name == "Machine learning"


def test_projects_cannot_be_deleted_through_the_api(api, project, owner):
    assert api(owner).delete("/api/projects/ml/").status_code == 405
    assert Project.objects.filter(slug="ml").exists()


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/projects/"),
        ("post", "/api/projects/"),
        ("get", "/api/projects/ml/"),
        ("patch", "/api/projects/ml/"),
        ("put", "/api/projects/ml/"),
        ("get", MEMBERS),
        ("post", MEMBERS),
        ("patch", MEMBERS + "marco/"),
        ("delete", MEMBERS + "marco/"),
    ],
)
def test_anonymous_requests_are_401(anonymous, project, method, url):
    body = {"slug": "x", "name": "x", "username": "vera", "role": "owner"}
    response = getattr(anonymous, method)(url, body, format="json")
    assert response.status_code == 401
    err = error(response)
    assert (err["code"], err["message"]) == ("not_authenticated", "Authentication credentials were not provided.")
    assert response["WWW-Authenticate"] == 'Token realm="api"'
    assert Project.objects.count() == 1
    assert Membership.objects.filter(project=project).count() == 3


# --- members ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "member", "viewer"])
def test_everyone_in_the_project_lists_its_members(request, api, project, who):
    response = api(request.getfixturevalue(who)).get(MEMBERS)
    assert response.status_code == 200
    assert response.json() == [
        {"username": "marco", "role": "member"},
        {"username": "olivia", "role": "owner"},
        {"username": "vera", "role": "viewer"},
    ]


def test_an_outsider_gets_404_for_members_read_or_write(api, project, other_project, outsider):
    client = api(outsider)
    assert client.get(MEMBERS).status_code == 404
    assert client.post(MEMBERS, {"username": "oscar", "role": "owner"}, format="json").status_code == 404
    assert client.patch(MEMBERS + "vera/", {"role": "owner"}, format="json").status_code == 404
    assert client.delete(MEMBERS + "olivia/").status_code == 404
    assert not Membership.objects.filter(project=project, user=outsider).exists()


def test_members_of_an_unknown_project_are_404(api, project, owner):
    assert api(owner).get("/api/projects/nope/members/").status_code == 404


def test_the_owner_adds_a_member(api, project, owner, outsider):
    response = api(owner, auth="token").post(MEMBERS, {"username": "oscar", "role": "viewer"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json() == {"username": "oscar", "role": "viewer"}
    assert Membership.objects.get(project=project, user=outsider).role == Role.VIEWER
    # Now oscar is in: he sees the project.
    assert api(outsider).get("/api/projects/ml/").json()["role"] == "viewer"


def test_the_owner_changes_a_role(api, project, owner, member):
    response = api(owner).patch(MEMBERS + "marco/", {"role": "owner"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"username": "marco", "role": "owner"}
    assert Membership.objects.get(project=project, user=member).role == Role.OWNER


def test_the_owner_removes_a_member(api, project, owner, viewer):
    response = api(owner).delete(MEMBERS + "vera/")
    assert response.status_code == 204
    assert response.content == b""
    assert not Membership.objects.filter(project=project, user=viewer).exists()
    assert api(viewer).get("/api/projects/ml/").status_code == 404


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_members_and_viewers_cannot_change_members(request, api, project, outsider, who):
    client = api(request.getfixturevalue(who))
    responses = [
        client.post(MEMBERS, {"username": "oscar", "role": "viewer"}, format="json"),
        client.patch(MEMBERS + "vera/", {"role": "owner"}, format="json"),
        client.delete(MEMBERS + "olivia/"),
    ]
    for response in responses:
        assert response.status_code == 403
        assert error(response)["message"] == "only the project's owners manage its members"
    assert sorted(project.memberships.values_list("user__username", "role")) == [
        ("marco", "member"),
        ("olivia", "owner"),
        ("vera", "viewer"),
    ]


def test_adding_an_unknown_username_is_a_400_naming_username(api, project, owner):
    response = api(owner).post(MEMBERS, {"username": "nobody", "role": "member"}, format="json")
    assert response.status_code == 400
    err = error(response)
    assert err["fields"] == {"username": "no active user with that username"}


def test_adding_an_existing_member_is_a_400_naming_username(api, project, owner):
    response = api(owner).post(MEMBERS, {"username": "vera", "role": "owner"}, format="json")
    assert response.status_code == 400
    assert error(response)["fields"] == {"username": "vera is a member already"}
    assert Membership.objects.get(project=project, user__username="vera").role == Role.VIEWER


def test_an_unknown_role_is_a_400_naming_role(api, project, owner, outsider):
    added = api(owner).post(MEMBERS, {"username": "oscar", "role": "admin"}, format="json")
    assert added.status_code == 400
    assert error(added)["fields"] == {"role": '"admin" is not a valid choice.'}
    changed = api(owner).patch(MEMBERS + "vera/", {"role": "god"}, format="json")
    assert changed.status_code == 400
    assert list(error(changed)["fields"]) == ["role"]


def test_changing_or_removing_someone_not_in_the_project_is_404(api, project, owner, outsider):
    assert api(owner).patch(MEMBERS + "oscar/", {"role": "owner"}, format="json").status_code == 404
    assert api(owner).delete(MEMBERS + "nobody/").status_code == 404


def test_the_last_owner_can_be_neither_removed_nor_demoted(api, project, owner):
    client = api(owner)
    removed = client.delete(MEMBERS + "olivia/")
    assert removed.status_code == 409
    err = error(removed)
    assert (err["code"], err["message"]) == ("conflict", "a project must keep at least one owner")
    demoted = client.patch(MEMBERS + "olivia/", {"role": "member"}, format="json")
    assert demoted.status_code == 409
    assert error(demoted)["message"] == "a project must keep at least one owner"
    assert Membership.objects.get(project=project, user=owner).role == Role.OWNER


def test_with_a_second_owner_one_may_step_down(api, project, owner, member):
    client = api(owner)
    assert client.patch(MEMBERS + "marco/", {"role": "owner"}, format="json").status_code == 200
    assert client.patch(MEMBERS + "olivia/", {"role": "viewer"}, format="json").status_code == 200
    assert Membership.objects.get(project=project, user=owner).role == Role.VIEWER
    # olivia is a viewer now: she manages no one any more.
    assert client.delete(MEMBERS + "vera/").status_code == 403
    # marco, now the last owner, cannot leave.
    assert api(member).delete(MEMBERS + "marco/").status_code == 409


def test_an_owner_in_one_project_manages_no_other(api, project, other_project, owner, outsider):
    add_member(other_project, owner, "viewer")
    response = api(owner).post("/api/projects/lab/members/", {"username": "marco", "role": "owner"}, format="json")
    assert response.status_code == 403
    assert not Membership.objects.filter(project=other_project, user__username="marco").exists()


def test_a_username_with_dots_and_an_at_sign_is_managed_by_its_url(api, project, owner):
    make_user("ana.lee@corp")
    client = api(owner)
    assert client.post(MEMBERS, {"username": "ana.lee@corp", "role": "viewer"}, format="json").status_code == 201
    changed = client.patch(MEMBERS + "ana.lee@corp/", {"role": "member"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json() == {"username": "ana.lee@corp", "role": "member"}
    assert client.delete(MEMBERS + "ana.lee@corp/").status_code == 204
    assert not project.memberships.filter(user__username="ana.lee@corp").exists()


def test_the_project_and_member_lists_take_constant_queries(api, project, owner, django_assert_num_queries):
    client = api(owner)
    client.get("/api/projects/")  # warm up
    with CaptureQueriesContext(connection) as projects_few:
        assert len(client.get("/api/projects/").json()) == 1
    with CaptureQueriesContext(connection) as members_few:
        assert len(client.get(MEMBERS).json()) == 3
    projects_queries, members_queries = len(projects_few), len(members_few)
    for i in range(20):
        make_project(f"extra-{i}", members={"viewer": owner})
        add_member(project, make_user(f"extra{i}"), "viewer")
    with django_assert_num_queries(projects_queries):
        assert len(client.get("/api/projects/").json()) == 21
    with django_assert_num_queries(members_queries):
        assert len(client.get(MEMBERS).json()) == 23
