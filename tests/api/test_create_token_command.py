"""`manage.py create_token USER`, run as an operator runs it (a process of its own on the test database):
it prints a key that authenticates as the user, and refuses a user it cannot issue a key for."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken
from tests.cluster import ROOT
from tests.cluster import test_database_url as database_url
from tests.factories import make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def create_token(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "create_token", *args],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "flowsite.test_settings", "DATABASE_URL": database_url()},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_printed_key_authenticates_as_the_user(project, owner):
    result = create_token(owner.username, "--name", "laptop")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert key.startswith("fs_") and "\n" not in key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.get("/api/projects/")
    assert response.status_code == 200
    assert [(p["slug"], p["role"]) for p in response.json()] == [("ml", "owner")]
    assert list(ApiToken.objects.filter(user=owner).values_list("name", flat=True)) == ["laptop"]


@pytest.mark.parametrize("who", ["nobody", "gone"])
def test_an_unknown_or_inactive_user_is_refused_with_a_clear_message(db, who):
    make_user("gone", is_active=False)
    result = create_token(who)
    assert result.returncode != 0
    assert f"there is no active user '{who}'" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not ApiToken.objects.exists()
