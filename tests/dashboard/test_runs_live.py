"""The runs page kept live without reloading (conditional requests: 304 while nothing changed), searched by run id,
pipeline or parameter value, and runs cancelled or retried in bulk by members."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import Membership, Role
from runs.models import Run, RunStatus
from tests.factories import make_user
from tests.runs.helpers import execute

from .helpers import screenshot, sign_in, trigger

RUNS_LIST = re.compile(r"/api/runs/\?")


def row(page, run):
    return page.locator(f"table.runs tr[data-run='{run.pk}']")


def test_new_and_changed_runs_appear_without_a_reload_and_unchanged_polls_are_304(page, ready, owner):
    done = execute(trigger(ready, "greeting", user=owner, name="first"))
    answers = []
    page.on("response", lambda r: RUNS_LIST.search(r.url) and answers.append(r.status))
    sign_in(page, "olivia")
    expect(row(page, done)).to_be_visible()
    page.evaluate("() => { window.sameDocument = true; }")
    # Nothing changes: the page keeps asking, and the server keeps answering that nothing did.
    with page.expect_response(lambda r: bool(RUNS_LIST.search(r.url)) and r.status == 304):
        pass

    new = trigger(ready, "greeting", user=owner, name="second")
    expect(row(page, new).locator(".badge")).to_have_attribute("data-status", "queued")
    new.cancel(by=owner)
    expect(row(page, new).locator(".badge")).to_have_attribute("data-status", "cancelled")
    assert page.evaluate("() => window.sameDocument === true"), "the page reloaded"
    assert 200 in answers and 304 in answers


def test_search_by_parameter_value_pipeline_and_run_id_is_kept_in_the_url(page, ready, owner):
    ada = execute(trigger(ready, "greeting", user=owner, name="Ada Lovelace"))
    grace = execute(trigger(ready, "greeting", user=owner, name="Grace Hopper"))
    sums = execute(trigger(ready, "arithmetic", user=owner, n=2))
    sign_in(page, "olivia")
    rows = page.locator("table.runs tbody tr[data-run]")
    expect(rows).to_have_count(3)

    search = page.locator("form.filters input[name=search]")
    for term, expected in (("lovelace", [ada]), ("arith", [sums]), (f"#{grace.pk}", [grace])):
        search.fill(term)
        search.press("Enter")
        expect(rows).to_have_count(len(expected))
        expect(row(page, expected[0])).to_be_visible()
    expect(page).to_have_url(re.compile(rf"[?&]search=%23{grace.pk}(&|$)"))
    page.reload()
    expect(search).to_have_value(f"#{grace.pk}")
    expect(rows).to_have_count(1)
    search.fill("nobody by that name")
    search.press("Enter")
    expect(page.locator("#app .message.info")).to_contain_text("No runs match")


def test_a_member_cancels_and_retries_runs_in_bulk_with_a_summary(page, ready, owner):
    queued = [trigger(ready, "greeting", user=owner, name=f"q{i}") for i in range(2)]
    completed = execute(trigger(ready, "greeting", user=owner, name="done"))
    sign_in(page, "olivia")
    expect(page.locator("table.runs tbody tr[data-run]")).to_have_count(3)
    bar = page.locator(".bulk")
    expect(bar.get_by_role("button", name="Cancel selected")).to_be_disabled()

    page.get_by_label("Select every run on this page").check()
    expect(bar).to_contain_text("3 selected")
    bar.get_by_role("button", name="Cancel selected").click()
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_contain_text(f"Cancel 2 runs (#{queued[1].pk}, #{queued[0].pk})?")
    dialog.get_by_role("button", name="Cancel 2").click()
    summary = page.locator(".bulk-summary .message")
    expect(summary).to_contain_text(f"Cancelled 2: #{queued[1].pk}, #{queued[0].pk}.")
    expect(summary).to_contain_text(f"Skipped 1: #{completed.pk} is completed.")
    for run in queued:
        expect(row(page, run).locator(".badge")).to_have_attribute("data-status", "cancelled")
        assert Run.objects.get(pk=run.pk).status == RunStatus.CANCELLED
    expect(bar).to_contain_text("Select runs to cancel or retry them together.")
    screenshot(page, "runs-bulk")

    page.get_by_label(f"Select run #{queued[0].pk}").check()
    page.get_by_label(f"Select run #{queued[1].pk}").check()
    bar.get_by_role("button", name="Retry selected").click()
    page.locator("dialog.confirm").get_by_role("button", name="Retry 2").click()
    expect(summary).to_contain_text("Retried 2:")
    retries = list(Run.objects.filter(retry_of__in=queued).order_by("pk"))
    assert len(retries) == 2
    for retry in retries:
        expect(row(page, retry)).to_be_visible()


def test_a_viewer_sees_no_bulk_actions(page, ready, owner):
    Membership.objects.create(project=ready, user=make_user("vera"), role=Role.VIEWER)
    run = trigger(ready, "greeting", user=owner)
    sign_in(page, "vera")
    expect(row(page, run)).to_be_visible()
    expect(page.locator("table.runs td.select input, table.runs th.select input")).to_have_count(0)
    expect(page.locator("table.runs input.compare-pick")).to_have_count(1)  # comparing is reading
    expect(page.locator(".bulk")).to_have_count(0)
