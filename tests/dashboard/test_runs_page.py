"""The runs page: filters kept in the URL, live statuses, paging, a narrow window, and the project switcher."""

from __future__ import annotations

import datetime
import re

from playwright.sync_api import expect

from accounts.models import Membership, Role
from runs.models import Run, RunStatus
from tests.factories import make_project
from tests.runs.helpers import execute

from .helpers import screenshot, sign_in, trigger


def listed(page):
    """The ids of the runs in the table, top to bottom."""
    rows = page.locator("table.runs tbody tr[data-run]")
    return [int(i) for i in rows.evaluate_all("(rows) => rows.map((r) => r.dataset.run)")]


def test_filters_survive_a_reload(page, ready, owner):
    failed = [execute(trigger(ready, "exploding", user=owner)) for _ in range(2)]
    completed = execute(trigger(ready, "greeting", user=owner, name="filters"))
    assert [r.status for r in failed] == [RunStatus.FAILED] * 2 and completed.status == RunStatus.COMPLETED

    sign_in(page, "olivia")
    rows = page.locator("table.runs tbody tr[data-run]")
    expect(rows).to_have_count(3)
    assert listed(page) == [completed.pk, failed[1].pk, failed[0].pk], "newest first"
    row = page.locator(f"table.runs tr[data-run='{completed.pk}']")
    expect(row.locator(".badge")).to_have_attribute("data-status", "completed")
    expect(row).to_contain_text("greeting")
    expect(row).to_contain_text("olivia")
    expect(row.locator("td.progress")).to_contain_text("1/1")
    screenshot(page, "runs")

    page.check("form.filters input[name=status][value=failed]")
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"[?&]status=failed(&|$)"))
    expect(rows).to_have_count(2)
    assert listed(page) == [failed[1].pk, failed[0].pk]

    page.reload()
    expect(page.locator("form.filters input[name=status][value=failed]")).to_be_checked()
    expect(page.locator("form.filters input[name=status][value=completed]")).not_to_be_checked()
    expect(rows.first).to_be_visible()
    expect(rows).to_have_count(2)
    assert listed(page) == [failed[1].pk, failed[0].pk]
    expect(rows.locator(".badge[data-status=failed]")).to_have_count(2)

    # A second filter joins the first, and both are kept.
    page.select_option("form.filters select[name=pipeline]", "greeting")
    page.click("form.filters button[type=submit]")
    expect(page.locator("#app .message.info")).to_contain_text("No runs match")
    expect(rows).to_have_count(0)
    page.reload()
    expect(page.locator("form.filters select[name=pipeline]")).to_have_value("greeting")
    expect(page.locator("form.filters input[name=status][value=failed]")).to_be_checked()
    expect(page.locator("#app .message.info")).to_contain_text("No runs match")


def test_statuses_on_the_runs_page_update_while_runs_are_active(page, ready, owner):
    run = trigger(ready, "greeting", user=owner, name="live")
    sign_in(page, "olivia")
    row = page.locator(f"table.runs tr[data-run='{run.pk}']")
    expect(row.locator(".badge")).to_have_attribute("data-status", "queued")
    expect(row.locator("td.progress")).to_contain_text("0/1")
    page.evaluate("() => { window.sameDocument = true; }")
    execute(run)
    expect(row.locator(".badge")).to_have_attribute("data-status", "completed", timeout=10_000)
    expect(row.locator("td.progress")).to_contain_text("1/1")
    assert page.evaluate("() => window.sameDocument === true"), "the page reloaded"


def test_a_date_range_includes_the_days_it_names(new_page, ready, owner):
    run = execute(trigger(ready, "exploding", user=owner))
    day = run.created_at.date()
    page = new_page(timezone_id="UTC")
    sign_in(page, "olivia")
    expect(page.locator(f"table.runs tr[data-run='{run.pk}']")).to_be_visible()

    # From the day before up to the day before: not this run.
    before = (day - datetime.timedelta(days=1)).isoformat()
    page.fill("form.filters input[name=created_after]", before)
    page.fill("form.filters input[name=created_before]", before)
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(rf"created_before={before}"))
    expect(page.locator("#app .message.info")).to_contain_text("No runs match")

    # From the run's day to the run's day: the run, also after a reload.
    page.fill("form.filters input[name=created_after]", day.isoformat())
    page.fill("form.filters input[name=created_before]", day.isoformat())
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(rf"created_after={day}&created_before={day}"))
    inclusive = f"run #{run.pk}, created on {day}, is listed for From {day} To {day}"
    expect(page.locator(f"table.runs tr[data-run='{run.pk}']"), inclusive).to_be_visible()
    page.reload()
    expect(page.locator("form.filters input[name=created_before]")).to_have_value(day.isoformat())
    expect(page.locator(f"table.runs tr[data-run='{run.pk}']"), inclusive).to_be_visible()


def test_a_date_range_names_days_of_the_zone_chosen_utc_or_local(new_page, ready, owner):
    run = execute(trigger(ready, "exploding", user=owner))
    # 20:00 UTC on the 29th is 05:00 on the 30th in Tokyo (UTC+9 all year): the day depends on the zone.
    at = datetime.datetime(2026, 11, 29, 20, 0, tzinfo=datetime.UTC)
    Run.objects.filter(pk=run.pk).update(created_at=at)
    page = new_page(timezone_id="Asia/Tokyo")
    sign_in(page, "olivia")
    row = page.locator(f"table.runs tr[data-run='{run.pk}']")
    form = page.locator("form.filters")

    def pick(day: str) -> None:
        form.locator("input[name=created_after]").fill(day)
        form.locator("input[name=created_before]").fill(day)
        form.locator("button[type=submit]").click()
        expect(page).to_have_url(re.compile(rf"created_after={day}&created_before={day}"))

    expect(form.locator(".zone-note")).to_have_text("days in Asia/Tokyo")
    pick("2026-11-30")
    expect(row, "local time: the run was made on the 30th in Tokyo").to_be_visible()
    pick("2026-11-29")
    expect(page.locator("#app .message.info")).to_contain_text("No runs match")

    page.locator("select#zone-switcher").select_option("utc")  # the page is drawn again, same range
    expect(form.locator(".zone-note")).to_have_text("days in UTC")
    expect(form.locator("input[name=created_after]")).to_have_value("2026-11-29")
    expect(row, "UTC: the run was made on the 29th").to_be_visible()
    pick("2026-11-30")
    expect(page.locator("#app .message.info")).to_contain_text("No runs match")


def test_runs_are_paged_fifty_at_a_time(page, ready, owner):
    runs = [trigger(ready, "greeting", user=owner, name=f"r{i}") for i in range(55)]
    for run in runs:  # over before they started: the page has no live refresh to race the paging
        run.cancel(by=owner)
    newest_first = [run.pk for run in reversed(runs)]
    sign_in(page, "olivia")
    rows = page.locator("table.runs tbody tr[data-run]")
    expect(rows).to_have_count(50)
    assert listed(page) == newest_first[:50]
    expect(page.get_by_role("button", name="← Newer")).to_be_disabled()

    page.get_by_role("button", name="Older →").click()
    expect(rows).to_have_count(5)
    assert listed(page) == newest_first[50:]
    expect(page.get_by_role("button", name="Older →")).to_be_disabled()

    page.get_by_role("button", name="← Newer").click()
    expect(rows).to_have_count(50)
    assert listed(page) == newest_first[:50]


def test_the_runs_page_fits_a_narrow_window(page, ready, owner):
    run = execute(trigger(ready, "greeting", user=owner, name="narrow"))
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, "olivia")
    expect(page.locator(f"table.runs tr[data-run='{run.pk}']")).to_be_visible()
    for link in ("runs", "pipelines", "stacks"):
        expect(page.locator(f"header.topbar nav a[data-nav={link}]")).to_be_visible()
    overflow = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert overflow[0] <= overflow[1] + 1, f"the page is {overflow[0]} px wide in a {overflow[1]} px window"
    screenshot(page, "runs-narrow")


def test_the_project_switcher_shows_the_chosen_projects_runs_and_remembers_it(page, ready, owner):
    lab = make_project("lab", name="Lab")
    Membership.objects.create(project=lab, user=owner, role=Role.MEMBER)
    in_ml = trigger(ready, "exploding", user=owner)
    in_lab = trigger(lab, "exploding", user=owner)
    for run in (in_ml, in_lab):
        execute(run)

    sign_in(page, "olivia")
    switcher = page.locator("#project-switcher")
    expect(switcher).to_have_value("lab")  # the first of one's projects, by slug
    expect(page.locator("#app h1")).to_contain_text("Lab")
    expect(page.locator("table.runs tbody tr[data-run]")).to_have_count(1)
    assert listed(page) == [in_lab.pk]

    switcher.select_option("ml")  # reloads the page
    expect(page.locator("#app h1")).to_contain_text("Ml")
    expect(page.locator(f"table.runs tr[data-run='{in_ml.pk}']")).to_be_visible()
    assert listed(page) == [in_ml.pk]

    page.goto("/runs/")
    expect(switcher).to_have_value("ml")
    expect(page.locator(f"table.runs tr[data-run='{in_ml.pk}']")).to_be_visible()
    assert listed(page) == [in_ml.pk]
