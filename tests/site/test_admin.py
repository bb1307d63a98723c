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
    assert client.login(username="admin", password="flowsite")
    assert client.get("/admin/").status_code == 200
