"""Schedules on a pipeline's page: adding one (with the API's field errors), next fire times, pause, resume and
delete for members, read-only for viewers; a run a schedule started links it."""

from __future__ import annotations

import json
import re

from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Membership, Role
from runs.models import Run
from schedules.firing import fire_due
from schedules.models import Schedule
from tests.factories import make_user

from .helpers import open_run, screenshot, sign_in

MARKUP = "<img src=x onerror=alert(1)>"


def test_a_member_adds_pauses_resumes_and_deletes_a_schedule(page, ready, owner):
    sign_in(page, "olivia")
    page.goto("/pipelines/greeting/")
    section = page.locator("section.schedules")
    expect(section.locator(".empty")).to_have_text("No schedules of greeting in Ml.")
    form = section.locator("form.schedule-form")
    form.locator("[name=cron]").fill("0 9 * * 1-7 extra")
    form.locator("[name=timezone]").fill("Europe/Paris")
    form.locator("[name=params]").fill(json.dumps({"name": MARKUP}))
    form.locator("button[type=submit]").click()
    cron_error = form.locator("label.param", has=page.locator("[name=cron]")).locator(".field-error")
    expect(cron_error).to_contain_text("is not a valid cron expression")
    assert not Schedule.objects.exists()

    form.locator("[name=cron]").fill("0 9 * * 1-5")
    form.locator("[name=overlap]").select_option("queue")
    form.locator("button[type=submit]").click()
    row = section.locator("table.schedules tbody tr")
    expect(row).to_have_count(1)
    schedule = Schedule.objects.get()
    assert (schedule.cron, schedule.timezone, schedule.overlap, schedule.params) == (
        "0 9 * * 1-5", "Europe/Paris", "queue", {"name": MARKUP}
    )  # fmt: skip
    expect(row.locator("code.params")).to_have_text(json.dumps({"name": MARKUP}, separators=(",", ":")))
    times = row.locator("ol.fire-times li")
    expect(times).to_have_count(5)
    for text in times.all_inner_texts():
        assert re.fullmatch(r"\d{4}-\d\d-\d\d 09:00:00 \+0[12]:00", text), text
    expect(row.locator("td").nth(3)).to_have_text("overlap: queue · catch-up: skip")
    screenshot(page, "pipeline-schedules")

    row.locator("button[data-action=pause]").click()
    expect(row.locator("[data-state]")).to_have_text("paused")
    expect(row).to_contain_text("none while paused")
    assert Schedule.objects.get().paused
    row.locator("button[data-action=resume]").click()
    expect(row.locator("[data-state]")).to_have_text("active")
    expect(row.locator("ol.fire-times li")).to_have_count(5)
    assert not Schedule.objects.get().paused

    row.locator("button[data-action=delete]").click()
    page.locator("dialog.confirm button.danger").click()
    expect(section.locator(".empty")).to_be_visible()
    assert not Schedule.objects.exists()


def test_a_viewer_sees_schedules_without_buttons_and_a_scheduled_run_names_its_schedule(page, ready, stack):
    viewer = make_user("vera")
    Membership.objects.create(project=ready, user=viewer, role=Role.VIEWER)
    schedule = Schedule(project=ready, pipeline="greeting", stack=stack, cron="*/10 * * * *", timezone="UTC")
    schedule.plan()
    schedule.save()
    Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=timezone.now())
    fire_due()
    run = Run.objects.get()

    sign_in(page, "vera")
    page.goto("/pipelines/greeting/")
    row = page.locator(f"table.schedules tr[data-schedule='{schedule.pk}']")
    expect(row.locator("ol.fire-times li")).to_have_count(5)
    expect(row.locator("button")).to_have_count(0)
    expect(page.locator("form.schedule-form")).to_have_count(0)

    open_run(page, run)
    link = page.locator("#run-schedule")
    expect(link).to_have_text(f"schedule #{schedule.pk}")
    link.click()
    expect(page).to_have_url(re.compile(rf"/pipelines/greeting/#schedule-{schedule.pk}$"))
    expect(page.locator(f"#schedule-{schedule.pk}")).to_be_visible()
