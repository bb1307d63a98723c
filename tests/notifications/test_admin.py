"""Rules and deliveries in the admin: the API's checks, secrets never shown back, resend as an action."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from notifications.models import Delivery, DeliveryStatus, NotificationRule
from runs.models import Run

from .conftest import new_secret, webhook_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Any) -> Any:
    client.force_login(get_user_model().objects.create_superuser("root", "root@localhost", "pw"))
    return client


def form(project: Any, **overrides: Any) -> dict[str, Any]:
    return {
        "project": project.pk, "name": "ops", "enabled": "on", "events": ["failed", "dead"], "channel": "webhook",
        "url": "https://hooks.example.com/x", "running_minutes": "", "recipients_text": "",
        "new_signing_secret": new_secret(), "new_slack_url": "", **overrides,
    }  # fmt: skip


def test_a_rule_made_in_the_admin_keeps_its_secret_and_never_shows_it(admin_client, project):
    data = form(project)
    response = admin_client.post("/admin/notifications/notificationrule/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = NotificationRule.objects.get()
    assert rule.signing_secret == data["new_signing_secret"] and rule.events == ["failed", "dead"]
    page = admin_client.get(f"/admin/notifications/notificationrule/{rule.pk}/change/").content.decode()
    assert data["new_signing_secret"] not in page and "signing_secret" in page

    # Saved again without a new secret: the secret stays.
    again = admin_client.post(
        f"/admin/notifications/notificationrule/{rule.pk}/change/", form(project, new_signing_secret="")
    )
    assert again.status_code == 302
    rule.refresh_from_db()
    assert rule.signing_secret == data["new_signing_secret"]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"url": "gopher://example.com/"}, "url"),
        ({"new_signing_secret": "hunter2"}, "new_signing_secret"),
        ({"events": ["running_long"]}, "running_minutes"),
        ({"channel": "email", "recipients_text": "nobody"}, "recipients_text"),
        ({"channel": "slack"}, "new_slack_url"),
    ],
)
def test_the_admin_refuses_what_the_api_refuses(admin_client, project, change, field):
    response = admin_client.post("/admin/notifications/notificationrule/add/", form(project, **change))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not NotificationRule.objects.exists()


def test_deliveries_are_resent_with_an_admin_action(admin_client, ready):
    webhook_rule(ready, "https://hooks.example.com/x", events=["cancelled"])
    Run.objects.trigger(project=ready, pipeline="greeting").cancel()
    Delivery.objects.update(status=DeliveryStatus.FAILED, attempts=12)
    assert admin_client.get("/admin/notifications/delivery/").status_code == 200
    response = admin_client.post(
        "/admin/notifications/delivery/",
        {"action": "resend", "_selected_action": [d.pk for d in Delivery.objects.all()]},
        follow=True,
    )
    assert "1 deliveries queued to send again." in response.content.decode()
    assert list(Delivery.objects.values_list("status", "attempts")) == [(DeliveryStatus.PENDING, 0)]
