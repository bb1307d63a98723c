"""Users in a project, API clients for each of them, and the objects the API tests act on.

The project "ml" has an owner (olivia), a member (marco) and a viewer (vera); oscar is an
outsider with a project of his own ("lab"); stella is staff with the stacks permissions (and no member of "ml").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken, Project
from tests.factories import give_stack_permissions, make_project, make_user


@pytest.fixture
def member(db: Any) -> Any:
    return make_user("marco")


@pytest.fixture
def viewer(db: Any) -> Any:
    return make_user("vera")


@pytest.fixture
def outsider(db: Any) -> Any:
    return make_user("oscar")


@pytest.fixture
def staff(db: Any) -> Any:
    return give_stack_permissions(make_user("stella", is_staff=True))


@pytest.fixture
def project(owner: Any, member: Any, viewer: Any) -> Project:
    return make_project("ml", name="Machine learning", members={"owner": owner, "member": member, "viewer": viewer})


@pytest.fixture
def other_project(outsider: Any) -> Project:
    """A project the outsider owns and nobody from "ml" belongs to."""
    return make_project("lab", members={"owner": outsider})


@pytest.fixture
def anonymous(db: Any) -> APIClient:
    """A client that is not signed in."""
    return APIClient()


@pytest.fixture
def api(db: Any) -> Callable[..., APIClient]:
    """`api(user, auth="session"|"token"|"bearer")`: an APIClient signed in as `user` (anonymous for None)."""

    def make(user: Any = None, auth: str = "session", csrf: bool = False) -> APIClient:
        client = APIClient(enforce_csrf_checks=csrf)
        if user is None:
            return client
        if auth == "session":
            client.force_login(user)
        else:
            _, key = ApiToken.issue(user, f"{auth} for tests")
            keyword = "Bearer" if auth == "bearer" else "Token"
            client.credentials(HTTP_AUTHORIZATION=f"{keyword} {key}")
        return client

    return make


# How each role's client signs in, so that every door is exercised somewhere.
AUTH = {"owner": "token", "member": "bearer", "viewer": "session", "outsider": "token"}


@pytest.fixture
def as_(request: Any, api: Callable[..., APIClient]) -> Callable[[str], APIClient]:
    """`as_("viewer")`: a client signed in as that role; "anonymous" is signed out."""

    def client(who: str) -> APIClient:
        if who == "anonymous":
            return api()
        return api(request.getfixturevalue(who), auth=AUTH[who])

    return client
