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
    assert throttled.json()["error"]["message"] == (
        "too many invalid tokens from your address. Expected available in 300 seconds."
    )
    assert int(throttled["Retry-After"]) == 300


@pytest.mark.parametrize("page", ["/login/", "/admin/login/"])
def test_pages_carry_a_strict_content_security_policy(client, page):
    policy = client.get(page)["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy


def test_behind_the_tls_proxy_each_client_address_is_throttled_apart(client, settings):
    """Every request comes from the proxy: one guesser must not lock out the user's own sign-in."""
    settings.FLOWSITE_BEHIND_TLS_PROXY = True
    olga()
    guesser = {"HTTP_X_FORWARDED_FOR": "198.51.100.7, 203.0.113.9", "HTTP_X_FORWARDED_PROTO": "https"}
    for _ in range(5):
        client.post("/login/", {"username": "olga", "password": "wrong"}, **guesser)
    assert client.post("/login/", {"username": "olga", "password": "the-right-password"}, **guesser).status_code == 429
    # The first entry is whatever the client sent; the last is the address the proxy saw.
    olga_at_home = {"HTTP_X_FORWARDED_FOR": "203.0.113.9, 192.0.2.44", "HTTP_X_FORWARDED_PROTO": "https"}
    signed_in = client.post("/login/", {"username": "olga", "password": "the-right-password"}, **olga_at_home)
    assert signed_in.status_code == 302


def test_behind_the_tls_proxy_token_guessing_is_throttled_per_client_address(db, settings):
    settings.FLOWSITE_BEHIND_TLS_PROXY = True
    _, key = ApiToken.issue(make_user("tess"), "real")
    client = APIClient()
    for i in range(TOKEN_FAILURE_LIMIT):
        client.credentials(HTTP_AUTHORIZATION=f"Token fs_deadbeef_guess{i}")
        client.get("/api/me/", HTTP_X_FORWARDED_FOR="198.51.100.7", HTTP_X_FORWARDED_PROTO="https")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert (
        client.get("/api/me/", HTTP_X_FORWARDED_FOR="198.51.100.7", HTTP_X_FORWARDED_PROTO="https").status_code == 429
    )
    assert client.get("/api/me/", HTTP_X_FORWARDED_FOR="192.0.2.44", HTTP_X_FORWARDED_PROTO="https").status_code == 200
