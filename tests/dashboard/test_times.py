"""Every time the portal shows names its zone: the reader's own or UTC, as chosen in the header and remembered."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from runs.models import RunStatus
from tests.runs.helpers import execute

from .helpers import open_run, sign_in, trigger


def fact(page, label: str):
    return page.locator(".run-header dl.facts div", has=page.locator("dt", has_text=label)).locator("dd")


def test_times_show_their_zone_local_or_utc_as_chosen_and_remembered(new_page, ready, owner):
    run = execute(trigger(ready, "greeting", user=owner))
    assert run.status == RunStatus.COMPLETED
    page = new_page(timezone_id="Asia/Tokyo")  # UTC+9 all year: no summer time to trip on
    sign_in(page, "olivia")
    switch = page.locator("header.topbar select#zone-switcher")
    expect(switch).to_have_value("local")
    expect(switch.locator("option[value=local]")).to_have_text("local time (Asia/Tokyo)")
    expect(page.locator("table.runs tbody tr").first).to_contain_text("GMT+9")

    open_run(page, run)
    local = run.started_at.astimezone(ZoneInfo("Asia/Tokyo"))
    expect(fact(page, "Started")).to_contain_text(re.compile(rf"\b0?{local:%-I:%M:%S} [AP]M GMT\+9$"))
    expect(page.locator("table.events tbody tr").first.locator("td").first).to_contain_text("GMT+9")

    switch.select_option("utc")  # the page is drawn again, every time in UTC
    expect(fact(page, "Started")).to_contain_text(re.compile(rf"\b0?{run.started_at:%-I:%M:%S} [AP]M UTC$"))
    expect(page.locator("table.steps tbody tr").first).to_contain_text("UTC")
    expect(page.locator(".run-header")).not_to_contain_text("GMT+9")

    # Remembered: the next page opened in this browser shows UTC too.
    again = page.context.new_page()
    again.goto("/runs/")
    expect(again.locator("select#zone-switcher")).to_have_value("utc")
    expect(again.locator("table.runs tbody tr").first).to_contain_text("UTC")
