"""What exists is told only to those who may know it: project slugs to staff, usernames as far as "addable"."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from accounts.models import Membership, Project
from runs.api.throttling import FAILED_LOOKUP_LIMIT
from tests.api.conftest import api, member, outsider, project, staff, viewer  # noqa: F401
from tests.api.helpers import error
from tests.factories import make_user

pytestmark = pytest.mark.django_db

MEMBERS = "/api/projects/ml/members/"


# --- creating projects -------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["ml", "fresh"], ids=["a taken slug", "a free slug"])
@pytest.mark.parametrize("auth", ["token", "session"])
def test_only_staff_create_projects_so_a_taken_slug_tells_others_nothing(api, project, outsider, slug, auth):
    response = api(outsider, auth=auth).post("/api/projects/", {"slug": slug, "name": "Mine"}, format="json")
    assert response.status_code == 403
    assert error(response) == {
        "status": 403,
        "code": "permission_denied",
        "message": "only staff create projects; ask a staff member to create one and add you to it",
        "fields": {},
    }
    assert list(Project.objects.values_list("slug", flat=True)) == ["ml"]
    assert not Membership.objects.filter(user=outsider).exists()


def test_staff_create_a_project_and_own_it_and_alone_learn_a_slug_is_taken(api, project, staff):
    client = api(staff, auth="token")
    created = client.post("/api/projects/", {"slug": "vision", "name": "Vision"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["role"] == "owner"
    assert Membership.objects.get(project__slug="vision").user == staff
    taken = client.post("/api/projects/", {"slug": "ml", "name": "Again"}, format="json")
    assert taken.status_code == 400
    assert list(error(taken)["fields"]) == ["slug"]


def test_an_owner_who_is_not_staff_still_edits_their_project(api, project, owner):
    response = api(owner).patch("/api/projects/ml/", {"name": "Renamed"}, format="json")
    assert response.status_code == 200
    assert Project.objects.get(slug="ml").name == "Renamed"


# --- adding members ----------------------------------------------------------------------------


@pytest.fixture
def gone(db: Any) -> Any:
    """A user who exists but was deactivated."""
    return make_user("gwen", is_active=False)


@pytest.mark.parametrize("username", ["nobody", "gwen"], ids=["a missing user", "an inactive user"])
def test_a_missing_and_an_inactive_user_get_the_same_answer(api, project, owner, gone, username):
    response = api(owner, auth="token").post(MEMBERS, {"username": username, "role": "viewer"}, format="json")
    assert response.status_code == 400
    assert error(response) == {
        "status": 400,
        "code": "invalid",
        "message": "username: no active user with that username",
        "fields": {"username": "no active user with that username"},
    }
    assert not Membership.objects.filter(project=project, user__username=username).exists()


def test_an_active_user_is_added(api, project, owner, outsider):
    response = api(owner).post(MEMBERS, {"username": "oscar", "role": "member"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json() == {"username": "oscar", "role": "member"}


def test_repeated_failed_lookups_are_throttled_for_the_owner_who_makes_them(api, project, owner, outsider, staff):
    client = api(owner, auth="token")
    for i in range(FAILED_LOOKUP_LIMIT):
        assert client.post(MEMBERS, {"username": f"guess{i}", "role": "viewer"}, format="json").status_code == 400
    # Throttled now even for a name that exists: a right guess tells the guesser nothing more.
    throttled = client.post(MEMBERS, {"username": "oscar", "role": "viewer"}, format="json")
    assert throttled.status_code == 429
    err = error(throttled)
    assert err["code"] == "throttled"
    assert err["message"] == "too many usernames that match no active user. Try again in 600 seconds."
    assert int(throttled["Retry-After"]) == 600
    assert not Membership.objects.filter(project=project, user=outsider).exists()
    # Another owner of the project is not held back by them.
    Membership.objects.create(project=project, user=staff, role="owner")
    added = api(staff).post(MEMBERS, {"username": "oscar", "role": "viewer"}, format="json")
    assert added.status_code == 201, added.content


def test_successful_adds_do_not_count_towards_the_limit(api, project, owner):
    client = api(owner)
    for i in range(FAILED_LOOKUP_LIMIT + 2):
        make_user(f"new{i}")
        assert client.post(MEMBERS, {"username": f"new{i}", "role": "viewer"}, format="json").status_code == 201


def test_the_admin_adds_no_inactive_user_to_a_project(client, project, gone):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    prefix = "memberships-"
    existing = list(project.memberships.order_by("pk"))
    form = {
        "slug": "ml", "name": "Machine learning", "description": "",
        f"{prefix}TOTAL_FORMS": str(len(existing) + 1), f"{prefix}INITIAL_FORMS": str(len(existing)),
        f"{prefix}MIN_NUM_FORMS": "0", f"{prefix}MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    for i, membership in enumerate(existing):
        form.update({
            f"{prefix}{i}-id": str(membership.pk), f"{prefix}{i}-project": str(project.pk),
            f"{prefix}{i}-user": str(membership.user_id), f"{prefix}{i}-role": membership.role,
        })  # fmt: skip
    new = len(existing)
    form.update({
        f"{prefix}{new}-project": str(project.pk), f"{prefix}{new}-user": str(gone.pk), f"{prefix}{new}-role": "viewer",
    })  # fmt: skip
    response = client.post(f"/admin/accounts/project/{project.pk}/change/", form)
    assert response.status_code == 200  # the form again, with the inline's error
    [inline] = response.context["inline_admin_formsets"]
    assert inline.formset.errors[new] == {
        "user": ["Select a valid choice. That choice is not one of the available choices."]
    }
    assert not Membership.objects.filter(project=project, user=gone).exists()
