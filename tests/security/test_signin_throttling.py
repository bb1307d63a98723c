"""Guessing passwords or tokens meets a limit, with a clear message; every page carries a strict CSP."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.authentication import TOKEN_FAILURE_LIMIT
from accounts.models import ApiToken
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def olga() -> None:
    user = make_user("olga")
    user.set_password("the-right-password")
    user.save()


@pytest.mark.parametrize("page", ["/login/", "/admin/login/"])
def test_five_wrong_passwords_lock_the_sign_in_even_for_the_right_one(client, page):
    olga()
    for _ in range(4):
        response = client.post(page, {"username": "olga", "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    assert client.post(page, {"username": "olga", "password": "wrong"}).status_code == 429
    locked = client.post(page, {"username": "olga", "password": "the-right-password"})
    assert locked.status_code == 429
    assert b"too many login attempts" in locked.content
    assert "_auth_user_id" not in client.session


def test_a_right_password_before_the_limit_signs_in_and_starts_the_count_again(client):
    olga()
    for _ in range(4):
        client.post("/login/", {"username": "olga", "password": "wrong"})
    assert client.post("/login/", {"username": "olga", "password": "the-right-password"}).status_code == 302


def test_guessing_tokens_is_throttled_for_the_address(db):
    user = make_user("tess")
    _, key = ApiToken.issue(user, "real")
    guesser = APIClient()
    for i in range(TOKEN_FAILURE_LIMIT):
        guesser.credentials(HTTP_AUTHORIZATION=f"Token fs_deadbeef_guess{i}")
        assert guesser.get("/api/me/").status_code == 401
    guesser.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    throttled = guesser.get("/api/me/")
    assert throttled.status_code == 429
    assert "too many invalid tokens from your address" in throttled.json()["error"]["message"]
    assert int(throttled["Retry-After"]) > 0


@pytest.mark.parametrize("page", ["/login/", "/admin/login/"])
def test_pages_carry_a_strict_content_security_policy(client, page):
    policy = client.get(page)["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
