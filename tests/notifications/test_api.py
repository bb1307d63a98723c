"""The notifications API: owners manage rules, everyone in the project reads them, members resend deliveries."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from notifications.models import Delivery, DeliveryStatus, NotificationRule
from runs.models import Run, RunStatus

from .conftest import new_secret, webhook_rule

RULES = "/api/projects/ml/notification-rules/"
DELIVERIES = "/api/projects/ml/deliveries/"


def webhook(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "ops", "events": ["failed", "dead"], "channel": "webhook", "url": "https://hooks.example.com/flowsite",
        "signing_secret": new_secret(), **overrides,
    }  # fmt: skip


def test_an_owner_creates_a_webhook_rule_whose_secret_is_write_only_and_encrypted(as_, project):
    body = webhook()
    response = as_("owner").post(RULES, body, format="json")
    assert response.status_code == 201, response.content
    rule = response.json()
    assert "signing_secret" not in rule and rule["secrets_set"] == ["signing_secret"]
    assert (rule["events"], rule["url"], rule["enabled"]) == (["failed", "dead"], body["url"], True)
    shown = as_("viewer").get(f"{RULES}{rule['id']}/").json()
    assert body["signing_secret"] not in str(shown)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secrets FROM {NotificationRule._meta.db_table}")
        (stored,) = cursor.fetchone()
    assert body["signing_secret"] not in stored and body["signing_secret"][6:] not in stored
    assert NotificationRule.objects.get().signing_secret == body["signing_secret"]


def test_a_slack_url_is_write_only_too(as_, project):
    response = as_("owner").post(
        RULES, {"name": "chat", "events": ["completed"], "channel": "slack", "slack_url": "https://hooks.slack.com/services/T/B/x"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    assert "hooks.slack.com" not in response.content.decode()
    assert response.json()["secrets_set"] == ["slack_url"]


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_members_and_viewers_read_rules_but_only_owners_change_them(as_, project, who):
    rule = webhook_rule(project, "https://hooks.example.com/x")
    client = as_(who)
    assert [r["name"] for r in client.get(RULES).json()] == ["ops webhook"]
    assert client.post(RULES, webhook(), format="json").status_code == 403
    assert client.patch(f"{RULES}{rule.pk}/", {"enabled": False}, format="json").status_code == 403
    assert client.delete(f"{RULES}{rule.pk}/").status_code == 403
    assert NotificationRule.objects.get().enabled


def test_an_owner_updates_and_deletes_a_rule(as_, project):
    rule = webhook_rule(project, "https://hooks.example.com/x")
    secret = rule.signing_secret
    response = as_("owner").patch(f"{RULES}{rule.pk}/", {"enabled": False, "events": ["completed"]}, format="json")
    assert response.status_code == 200, response.content
    rule.refresh_from_db()
    assert (rule.enabled, rule.events, rule.signing_secret) == (False, ["completed"], secret)
    assert as_("owner").delete(f"{RULES}{rule.pk}/").status_code == 204
    assert not NotificationRule.objects.exists()


def test_moving_a_rule_to_email_forgets_its_secret(as_, project):
    rule = webhook_rule(project, "https://hooks.example.com/x")
    response = as_("owner").patch(
        f"{RULES}{rule.pk}/", {"channel": "email", "recipients": ["a@example.com"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["secrets_set"] == []
    rule.refresh_from_db()
    assert rule.secrets == {}


def test_people_outside_the_project_see_nothing(as_, project, other_project):
    webhook_rule(project, "https://hooks.example.com/x")
    assert as_("outsider").get(RULES).status_code == 404
    assert as_("outsider").post(RULES, webhook(), format="json").status_code == 404
    assert as_("outsider").get(DELIVERIES).status_code == 404
    assert as_("anonymous").get(RULES).status_code in (401, 403)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"url": "ftp://files.example.com/x"}, "url"),
        ({"url": "file:///etc/passwd"}, "url"),
        ({"url": "http://"}, "url"),
        ({"url": "https://exa mple.com/"}, "url"),
        ({"url": ""}, "url"),
        ({"signing_secret": "plain-text-secret"}, "signing_secret"),
        ({"signing_secret": "whsec_c2hvcnQ="}, "signing_secret"),
        ({"signing_secret": "whsec_not base64!"}, "signing_secret"),
        ({"events": []}, "events"),
        ({"events": ["exploded"]}, "events.0"),
        ({"events": ["failed", "failed"]}, "events"),
        ({"events": ["running_long"]}, "running_minutes"),
        ({"running_minutes": 5}, "running_minutes"),
        ({"events": ["running_long"], "running_minutes": 0}, "running_minutes"),
        ({"channel": "pager"}, "channel"),
        ({"channel": "email", "recipients": []}, "recipients"),
        ({"channel": "email", "recipients": ["not-an-address"]}, "recipients.0"),
        ({"channel": "slack", "slack_url": "javascript:alert(1)"}, "slack_url"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_rules_are_a_400_naming_the_field(as_, project, change, field):
    response = as_("owner").post(RULES, webhook(**change), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"], response.json()
    assert not NotificationRule.objects.exists()


def test_a_webhook_rule_without_a_secret_says_how_to_make_one(as_, project):
    body = webhook()
    del body["signing_secret"]
    response = as_("owner").post(RULES, body, format="json")
    assert response.status_code == 400
    assert "whsec_" in response.json()["error"]["fields"]["signing_secret"]


@pytest.fixture
def deliveries(project: Any, other_project: Any, stack: Any, pipelines: Any) -> list[Delivery]:
    """A failed delivery in "ml" and one in the outsider's project."""
    made = []
    for p in (project, other_project):
        rule = webhook_rule(p, "https://hooks.example.com/x", events=["cancelled"])
        run = Run.objects.trigger(project=p, pipeline="greeting")
        run.cancel()
        delivery = Delivery.objects.get(run=run)
        Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED, attempts=12, response_code=500)
        made.append(Delivery.objects.get(pk=delivery.pk))
        assert rule.deliveries.count() == 1
    return made


def test_everyone_in_the_project_lists_its_deliveries_and_only_its_own(as_, deliveries):
    mine, theirs = deliveries
    page = as_("viewer").get(DELIVERIES).json()
    assert [d["id"] for d in page["results"]] == [mine.pk]
    row = page["results"][0]
    assert (row["rule_name"], row["event"], row["status"], row["response_code"]) == (
        "ops webhook",
        "cancelled",
        "failed",
        500,
    )
    assert row["payload"]["data"]["status"] == RunStatus.CANCELLED
    assert as_("viewer").get(f"{DELIVERIES}{theirs.pk}/").status_code == 404
    assert as_("viewer").get(DELIVERIES, {"status": "delivered"}).json()["results"] == []
    assert as_("viewer").get(DELIVERIES, {"status": "nonsense"}).status_code == 400


def test_a_member_resends_a_delivery_and_a_viewer_may_not(as_, deliveries):
    mine, theirs = deliveries
    assert as_("viewer").post(f"{DELIVERIES}{mine.pk}/resend/").status_code == 403
    response = as_("member").post(f"{DELIVERIES}{mine.pk}/resend/")
    assert response.status_code == 202, response.content
    assert (response.json()["status"], response.json()["attempts"]) == ("pending", 0)
    again = as_("member").post(f"{DELIVERIES}{mine.pk}/resend/")
    assert again.status_code == 409 and "already waiting" in again.json()["error"]["message"]
    assert as_("member").post(f"{DELIVERIES}{theirs.pk}/resend/").status_code == 404
    assert as_("member").post(f"{DELIVERIES}abc/resend/").status_code == 404
