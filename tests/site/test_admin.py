import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command


@pytest.mark.django_db
def test_admin_login_page_is_served(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert b"Flowsite administration" in response.content


@pytest.mark.django_db
def test_root_sends_visitors_who_are_not_signed_in_to_the_sign_in_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


@pytest.mark.django_db
def test_seed_demo_creates_an_admin_that_can_sign_in_and_is_idempotent(client, capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "Created the demo admin" in out
    assert "exists already" in out
    assert get_user_model().objects.filter(username="admin").count() == 1
    response = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "flowsite"})
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "page",
    [
        "/admin/accounts/apitoken/",
        "/admin/runs/logline/",
        "/admin/runs/artifact/",
        "/admin/runs/cacheentry/",
        "/admin/runs/pipelinedef/",
        "/admin/accounts/project/",
        "/admin/runs/run/",
        "/admin/stacks/stack/",
    ],
)
def test_every_model_has_an_admin_page_an_operator_can_open(client, page):
    admin_user = get_user_model().objects.create_superuser("root", "root@localhost", "pw")
    client.force_login(admin_user)
    assert client.get(page).status_code == 200


@pytest.mark.django_db
def test_api_tokens_can_be_revoked_in_the_admin_and_their_keys_are_never_shown(client):
    from accounts.models import ApiToken

    admin_user = get_user_model().objects.create_superuser("root", "root@localhost", "pw")
    token, key = ApiToken.issue(admin_user, "laptop")
    client.force_login(admin_user)
    listing = client.get("/admin/accounts/apitoken/").content.decode()
    assert "laptop" in listing and key not in listing and token.key_hash not in listing
    client.post("/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ApiToken.authenticate(key) is None
