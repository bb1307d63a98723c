"""The notifications page: a project's rules, its recent deliveries with their answers, and Resend."""

from __future__ import annotations

from playwright.sync_api import expect

from accounts.models import Membership, Role
from notifications.dispatch import send_due
from notifications.models import Delivery, DeliveryStatus, NotificationRule
from tests.factories import make_user
from tests.notifications.conftest import webhook_rule
from tests.notifications.receiver import Receiver
from tests.runs.helpers import execute

from .helpers import screenshot, sign_in, trigger


def test_a_failed_delivery_is_resent_from_the_page_and_shows_delivered(new_page, ready, owner, settings):
    settings.FLOWSITE_NOTIFY_MAX_ATTEMPTS = 1
    receiver = Receiver(answer=lambda request, n: 500 if n == 1 else 200)
    try:
        webhook_rule(ready, receiver.url, events=["failed"], name="ops webhook")
        NotificationRule.objects.create(
            project=ready, name="team mail", channel="email", events=["dead", "running_long"], running_minutes=90,
            recipients=["ml-team@example.com"],
        )  # fmt: skip
        run = execute(trigger(ready, "exploding", user=owner))
        send_due()
        delivery = Delivery.objects.get()
        assert (delivery.status, delivery.response_code) == (DeliveryStatus.FAILED, 500)

        page = new_page()
        sign_in(page, "olivia")
        page.click("header.topbar a[data-nav=notifications]")
        rules = page.locator("table.rules tbody tr")
        expect(rules).to_have_count(2)
        expect(rules.nth(0)).to_contain_text("ops webhook")
        expect(rules.nth(0).locator(".sends-to")).to_have_text(receiver.url)
        expect(rules.nth(1)).to_contain_text("running > 90 min")
        expect(rules.nth(1).locator(".sends-to")).to_have_text("ml-team@example.com")
        row = page.locator(f"table.deliveries tr[data-delivery='{delivery.pk}']")
        expect(row.locator(".badge")).to_have_attribute("data-status", "failed")
        expect(row.locator("td.answer")).to_contain_text("500")
        expect(row.locator(f"a[href='/runs/{run.pk}/']")).to_be_visible()
        screenshot(page, "notifications")

        row.get_by_role("button", name="Resend").click()
        expect(page.locator(".message.info")).to_contain_text(f"Delivery {delivery.pk} will be sent again")
        expect(row.locator(".badge")).to_have_attribute("data-status", "pending")
        send_due()  # what the delivery task does on a worker
        expect(row.locator(".badge")).to_have_attribute("data-status", "delivered")
        expect(row.locator("td.answer")).to_have_text("200")
        assert receiver.count() == 2
    finally:
        receiver.close()


def test_a_viewer_sees_deliveries_without_a_resend_button(new_page, ready, owner):
    Membership.objects.create(project=ready, user=make_user("vera"), role=Role.VIEWER)
    webhook_rule(ready, "https://hooks.example.com/x", events=["cancelled"])
    trigger(ready, "greeting", user=owner).cancel()
    page = new_page()
    sign_in(page, "vera")
    page.goto("/notifications/")
    row = page.locator("table.deliveries tbody tr[data-delivery]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("cancelled")
    expect(row.get_by_role("button", name="Resend")).to_have_count(0)
