"""/api/tokens/ and token authentication: keys shown once, stored hashed, revocable; sessions need CSRF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.middleware.csrf import get_token
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken

from .helpers import error

pytestmark = pytest.mark.django_db


def with_key(key: str, keyword: str = "Token") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {key}")
    return client


def create_token(client: APIClient, name: str = "ci") -> dict:
    response = client.post("/api/tokens/", {"name": name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_creating_a_token_shows_its_key_once(api, owner):
    client = api(owner)
    body = create_token(client, "laptop")
    assert set(body) == {"id", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at", "key"}
    assert body["name"] == "laptop"
    assert body["key"].startswith(f"fs_{body['prefix']}_")
    assert (body["last_used_at"], body["revoked_at"]) == (None, None)
    listed = client.get("/api/tokens/")
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()] == ["laptop"]
    assert "key" not in listed.json()[0]
    assert body["key"] not in listed.content.decode()
    shown = client.get(f"/api/tokens/{body['id']}/")
    assert shown.status_code == 200
    assert "key" not in shown.json()
    assert body["key"].split("_", 2)[2] not in shown.content.decode()


def test_a_token_needs_a_name(api, owner):
    response = api(owner).post("/api/tokens/", {}, format="json")
    assert response.status_code == 400
    assert error(response)["fields"] == {"name": "This field is required."}
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("keyword", ["Token", "Bearer", "token", "bearer"])
def test_the_key_authenticates_as_its_owner(api, project, owner, keyword):
    key = create_token(api(owner))["key"]
    response = with_key(key, keyword).get("/api/projects/")
    assert response.status_code == 200
    assert [(p["slug"], p["role"]) for p in response.json()] == [("ml", "owner")]


def test_the_stored_token_holds_no_plaintext_key(api, owner):
    body = create_token(api(owner))
    key = body["key"]
    secret = key.split("_", 2)[2]
    row = ApiToken.objects.get(pk=body["id"])
    assert row.key_hash != key and row.key_hash != secret
    assert len(row.key_hash) == 64
    for field in ApiToken._meta.concrete_fields:
        value = str(getattr(row, field.attname))
        assert key not in value and secret not in value, field.name


def test_issue_returns_a_key_that_only_it_ever_shows(owner):
    token, key = ApiToken.issue(owner, "script")
    assert key.startswith(f"fs_{token.prefix}_")
    assert ApiToken.authenticate(key) == token
    assert ApiToken.authenticate(key + "x") is None


def test_last_used_at_is_set_when_the_key_is_used(api, project, owner):
    body = create_token(api(owner))
    assert ApiToken.objects.get(pk=body["id"]).last_used_at is None
    before = timezone.now()
    assert with_key(body["key"]).get("/api/runs/").status_code == 200
    used = ApiToken.objects.get(pk=body["id"]).last_used_at
    assert used is not None and before <= used <= timezone.now()
    listed = api(owner).get(f"/api/tokens/{body['id']}/").json()
    assert listed["last_used_at"] is not None


def test_last_used_at_is_refreshed_once_it_is_a_minute_old(api, project, owner):
    body = create_token(api(owner))
    old = timezone.now() - timedelta(minutes=5)
    ApiToken.objects.filter(pk=body["id"]).update(last_used_at=old)
    with_key(body["key"]).get("/api/projects/")
    assert ApiToken.objects.get(pk=body["id"]).last_used_at > old


def test_deleting_a_token_revokes_it(api, project, owner):
    client = api(owner)
    body = create_token(client)
    assert with_key(body["key"]).get("/api/projects/").status_code == 200
    response = client.delete(f"/api/tokens/{body['id']}/")
    assert response.status_code == 204
    assert ApiToken.objects.get(pk=body["id"]).revoked_at is not None
    refused = with_key(body["key"]).get("/api/projects/")
    assert refused.status_code == 401
    err = error(refused)
    assert (err["code"], err["message"]) == ("authentication_failed", "invalid or revoked token")
    assert with_key(body["key"], "Bearer").get("/api/projects/").status_code == 401
    assert client.get("/api/tokens/").json()[0]["revoked_at"] is not None


def test_a_token_can_revoke_itself(api, owner):
    body = create_token(api(owner))
    client = with_key(body["key"])
    assert client.delete(f"/api/tokens/{body['id']}/").status_code == 204
    assert client.get("/api/tokens/").status_code == 401


def test_a_user_sees_and_revokes_only_their_own_tokens(api, owner, member):
    theirs = create_token(api(owner), "olivia's")
    mine = create_token(api(member), "marco's")
    client = api(member, auth="token")
    assert [t["name"] for t in client.get("/api/tokens/").json()] == ["token for tests", "marco's"]
    assert client.get(f"/api/tokens/{theirs['id']}/").status_code == 404
    response = client.delete(f"/api/tokens/{theirs['id']}/")
    assert response.status_code == 404
    assert error(response)["code"] == "not_found"
    assert ApiToken.objects.get(pk=theirs["id"]).revoked_at is None
    assert with_key(theirs["key"]).get("/api/tokens/").status_code == 200
    assert mine["id"] != theirs["id"]


def test_a_deactivated_users_token_is_refused(api, owner):
    key = create_token(api(owner))["key"]
    owner.is_active = False
    owner.save()
    assert with_key(key).get("/api/tokens/").status_code == 401


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Token", "the Authorization header must be 'Token <key>' or 'Bearer <key>'"),
        ("Bearer", "the Authorization header must be 'Token <key>' or 'Bearer <key>'"),
        ("Token a b", "the Authorization header must be 'Token <key>' or 'Bearer <key>'"),
        ("Token not-a-key", "invalid or revoked token"),
        ("Token fs_short_secret", "invalid or revoked token"),
        ("Token fs_0123abcd_wrong", "invalid or revoked token"),
        ("Bearer fs_0123abcd_", "invalid or revoked token"),
    ],
)
def test_a_malformed_or_wrong_authorization_header_is_401(api, owner, header, message):
    create_token(api(owner))
    client = APIClient()
    response = client.get("/api/projects/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    err = error(response)
    assert (err["code"], err["message"]) == ("authentication_failed", message)
    assert response["WWW-Authenticate"] == 'Token realm="api"'


def test_a_key_that_is_not_ascii_is_401(api, owner):
    response = APIClient().get("/api/projects/", HTTP_AUTHORIZATION="Token fs_0123abcd_sécret")
    assert response.status_code == 401
    assert error(response)["message"] in ("invalid token", "invalid or revoked token")


def test_another_scheme_is_ignored_and_needs_credentials(api, owner):
    response = APIClient().get("/api/projects/", HTTP_AUTHORIZATION="Basic b2xpdmlhOnB3")
    assert response.status_code == 401
    assert error(response)["code"] == "not_authenticated"


def test_anonymous_cannot_use_the_token_endpoints(api, owner):
    token, _ = ApiToken.issue(owner, "x")
    assert api().get("/api/tokens/").status_code == 401
    assert api().post("/api/tokens/", {"name": "x"}, format="json").status_code == 401
    assert api().delete(f"/api/tokens/{token.pk}/").status_code == 401
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


# --- sessions and CSRF ------------------------------------------------------------------------


def csrf_pair() -> tuple[str, str]:
    """A CSRF cookie and a matching token, as a page of the site would hand a browser."""
    request = RequestFactory().get("/")
    token = get_token(request)
    return request.META["CSRF_COOKIE"], token


def test_a_session_post_needs_the_csrf_token(api, owner):
    browser = api(owner, csrf=True)
    assert browser.get("/api/tokens/").status_code == 200, "reading needs no CSRF token"

    refused = browser.post("/api/tokens/", {"name": "from the browser"}, format="json")
    assert refused.status_code == 403
    err = error(refused)
    assert err["code"] == "permission_denied"
    assert err["message"].startswith("CSRF Failed")
    assert not ApiToken.objects.exists()

    cookie, token = csrf_pair()
    browser.cookies[settings.CSRF_COOKIE_NAME] = cookie
    wrong = browser.post("/api/tokens/", {"name": "from the browser"}, format="json", HTTP_X_CSRFTOKEN="x" * 64)
    assert wrong.status_code == 403
    accepted = browser.post("/api/tokens/", {"name": "from the browser"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201, accepted.content
    assert ApiToken.objects.get().name == "from the browser"


def test_a_token_request_needs_no_csrf_token(api, owner):
    _, key = ApiToken.issue(owner, "script")
    old, _ = ApiToken.issue(owner, "old")
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.delete(f"/api/tokens/{old.pk}/").status_code == 204


@pytest.mark.parametrize("keyword", ["Token", "Bearer"])
def test_a_token_cannot_mint_tokens_that_would_outlive_its_revocation(owner, keyword):
    _, key = ApiToken.issue(owner, "script")
    response = with_key(key, keyword).post("/api/tokens/", {"name": "child"}, format="json")
    assert response.status_code == 403
    assert "a token cannot create tokens" in error(response)["message"]
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["script"]


def test_a_token_can_be_given_an_expiry_and_stops_working_after_it(api, owner):
    soon = timezone.now() + timedelta(minutes=5)
    response = api(owner).post("/api/tokens/", {"name": "ci", "expires_at": soon.isoformat()}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["expires_at"] is not None
    assert with_key(body["key"]).get("/api/tokens/").status_code == 200
    ApiToken.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    refused = with_key(body["key"]).get("/api/tokens/")
    assert refused.status_code == 401
    listed = api(owner).get("/api/tokens/").json()
    assert [(t["name"], t["last_used_at"] is not None) for t in listed] == [("ci", True)]


@pytest.mark.parametrize("expires_at", ["2001-01-01T00:00:00Z", "tomorrow", 12])
def test_an_expiry_in_the_past_or_not_a_time_is_a_400(api, owner, expires_at):
    response = api(owner).post("/api/tokens/", {"name": "ci", "expires_at": expires_at}, format="json")
    assert response.status_code == 400
    assert "expires_at" in error(response)["fields"]
    assert not ApiToken.objects.exists()


def test_the_token_list_takes_constant_queries(api, owner, django_assert_num_queries):
    client = api(owner)
    ApiToken.issue(owner, "first")
    client.get("/api/tokens/")
    with CaptureQueriesContext(connection) as few:
        assert len(client.get("/api/tokens/").json()) == 1
    queries = len(few)
    for i in range(20):
        ApiToken.issue(owner, f"extra {i}")
    with django_assert_num_queries(queries):
        assert len(client.get("/api/tokens/").json()) == 21
