"""`python -m flowsite.cli notifications ...` against a live server."""

from __future__ import annotations

import json
import re

import pytest

from notifications.models import Delivery, DeliveryStatus
from runs.models import Run
from tests.notifications.conftest import webhook_rule

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_rules_deliveries_and_resend_from_the_command_line(cli, ready):
    rule = webhook_rule(ready, "https://hooks.example.com/flowsite", events=["cancelled"])
    run = Run.objects.trigger(project=ready, pipeline="greeting")
    run.cancel()
    delivery = Delivery.objects.get()
    Delivery.objects.update(status=DeliveryStatus.FAILED, attempts=12, response_code=502)

    rules = cli("notifications", "rules", "--project", "ml")
    assert rules.returncode == 0, rules.stderr
    assert rules.stdout.splitlines()[0].split() == ["ID", "NAME", "EVENTS", "CHANNEL", "SENDS", "TO", "ENABLED"]
    cells = re.split(r"\s{2,}", rules.stdout.splitlines()[1].strip())
    assert cells == [str(rule.pk), "ops webhook", "cancelled", "webhook", "https://hooks.example.com/flowsite", "on"]

    listed = cli("notifications", "deliveries", "--project", "ml", "--status", "failed", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["id"], row["run"], row["status"], row["response_code"]) == (delivery.pk, run.pk, "failed", 502)

    resent = cli("notifications", "resend", str(delivery.pk), "--project", "ml")
    assert (resent.returncode, resent.stdout.strip()) == (0, f"delivery {delivery.pk} will be sent again")
    again = cli("notifications", "resend", str(delivery.pk), "--project", "ml")
    assert again.returncode == 2 and "already waiting to be sent" in again.stderr
    assert cli("notifications", "rules", "--project", "nope").returncode == 2
