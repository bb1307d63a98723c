"""A run's page: watching a run through the real worker, failures with their traceback, cancel, retry,
who may press which button, and a log of 50,000 lines."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import Membership, Role
from runs.models import LogLine, Run, RunStatus, StepStatus
from tests.conftest import ledger_entries
from tests.factories import make_user
from tests.runs.helpers import execute, wait_for

from .helpers import (
    RUN_TIMEOUT_MS,
    confirm,
    log_texts,
    open_confirmation,
    open_run,
    screenshot,
    sign_in,
    status_badge,
    trigger,
)  # fmt: skip

# Records every status the badge shows from now on, so a test can tell what the page went through.
WATCH_STATUS = """() => {
  window.seenStatuses = [document.querySelector('#run-status .badge').dataset.status];
  new MutationObserver(() => {
    const status = document.querySelector('#run-status .badge')?.dataset.status;
    if (status && status !== window.seenStatuses.at(-1)) window.seenStatuses.push(status);
  }).observe(document.getElementById('run-status'), { childList: true, subtree: true, attributes: true });
}"""


def test_a_run_triggered_from_the_pipeline_page_is_watched_to_completion(page, cluster, owner):
    sign_in(page, "olivia")
    page.goto("/pipelines/greeting/")
    form = page.locator("form.trigger")
    expect(form.locator("[name=param-name]")).to_have_value("world")  # the default, from the schema
    form.locator("[name=param-name]").fill("browser")
    screenshot(page, "pipeline-trigger-form")
    form.locator("button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/runs/\d+/$"))
    run_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    page.evaluate("() => { window.sameDocument = true; }")  # gone if the page reloads

    expect(status_badge(page)).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("svg.dag .node[data-step=hello]")).to_have_attribute("data-status", "completed")
    expect(page.locator("svg.gantt rect.bar[data-step=hello]")).to_have_attribute("data-status", "completed")
    expect(page.locator(".log-panel .log-viewport")).to_contain_text("hello browser")
    expect(page.locator(".log-panel .count")).to_have_text("2 of 2 lines")
    expect(page.locator("table.steps tr[data-step=hello] .badge")).to_have_attribute("data-status", "completed")
    expect(page.locator(".run-header")).to_contain_text('{"name":"browser"')
    expect(page.locator("table.events")).to_contain_text("running → completed")
    expect(page.locator("#cancel-run")).to_have_count(0)
    expect(page.locator("#retry-run")).to_have_count(0)
    assert page.evaluate("() => window.sameDocument === true"), "the page reloaded"

    run = Run.objects.get(pk=run_id)
    assert (run.status, run.pipeline.name, run.params["name"], run.triggered_by) == (
        RunStatus.COMPLETED, "greeting", "browser", owner,
    )  # fmt: skip
    expect(page.locator("table.artifacts")).to_contain_text("greeting")
    screenshot(page, "run-completed")


def test_a_failed_run_shows_its_failure_and_traceback(page, ready):
    run = execute(trigger(ready, "exploding"))
    assert run.status == RunStatus.FAILED
    sign_in(page, "olivia")
    open_run(page, run)
    expect(status_badge(page)).to_have_attribute("data-status", "failed")
    expect(page.locator("#app .message.error")).to_have_text("step 'explode' failed: ValueError: bad input")
    expect(page.locator("svg.dag .node[data-step=explode]")).to_have_attribute("data-status", "failed")
    expect(page.locator("svg.gantt rect.bar[data-step=explode]")).to_have_attribute("data-status", "failed")
    viewport = page.locator(".log-panel .log-viewport")
    total = LogLine.objects.filter(run=run).count()
    expect(page.locator(".log-panel .count")).to_have_text(f"{total} of {total} lines")
    expect(viewport).to_contain_text("about to fail")
    expect(viewport).to_contain_text("Traceback (most recent call last):")
    expect(viewport).to_contain_text("ValueError: bad input")
    texts = log_texts(page)
    assert texts[-1] == "ValueError: bad input", texts
    expect(page.locator("table.steps tr[data-step=explode] .error-cell summary")).to_have_text("ValueError: bad input")
    screenshot(page, "run-failed")

    # What the step printed, apart from the traceback.
    page.select_option(".log-panel select[aria-label=Stream]", "stdout")
    expect(page.locator(".log-panel .count")).to_have_text(f"1 of {total} lines")
    assert log_texts(page) == ["about to fail"]


def test_a_running_run_is_cancelled_from_its_page(page, cluster, ready, owner):
    run = trigger(ready, "lingering", user=owner, mode="python")
    wait_for(lambda: run.steps.filter(status=StepStatus.RUNNING).exists(), what="the step to start")
    sign_in(page, "olivia")
    open_run(page, run)
    expect(status_badge(page)).to_have_attribute("data-status", "running")
    expect(page.locator("svg.dag .node[data-step=linger]")).to_have_attribute("data-status", "running")
    expect(page.locator(".log-panel .log-viewport")).to_contain_text("lingering in python")

    # Changing one's mind keeps the run going.
    dialog = open_confirmation(page, "#cancel-run")
    expect(dialog).to_contain_text(f"Cancel run #{run.pk} of lingering?")
    dialog.locator("button.secondary").click()
    expect(dialog).to_have_count(0)
    assert Run.objects.get(pk=run.pk).status == RunStatus.RUNNING

    page.evaluate(WATCH_STATUS)
    confirm(page, "#cancel-run")
    expect(status_badge(page)).to_have_attribute("data-status", "cancelled", timeout=RUN_TIMEOUT_MS)
    seen = page.evaluate("() => window.seenStatuses")
    assert seen[0] == "running" and seen[-1] == "cancelled", seen
    assert seen[1:] in (["cancelling", "cancelled"], ["cancelled"]), f"the badge went {seen}"
    expect(page.locator(".run-header")).to_contain_text("Cancelled by")
    expect(page.locator(".run-header")).to_contain_text("olivia")
    expect(page.locator("svg.dag .node[data-step=linger]")).to_have_attribute("data-status", "cancelled")
    expect(page.locator("#cancel-run")).to_have_count(0)
    expect(page.locator("#retry-run")).to_be_visible()
    run.refresh_from_db()
    assert (run.status, run.cancelled_by) == (RunStatus.CANCELLED, owner)


def test_a_failed_run_is_retried_from_its_page_and_reuses_what_completed(page, request, ready, tmp_path, ledger):
    gate = tmp_path / "gate"
    failed = execute(trigger(ready, "arithmetic", gate=str(gate), ledger=ledger))
    assert failed.status == RunStatus.FAILED
    gate.write_text("open")
    request.getfixturevalue("cluster")  # a worker for the retry, started once the first run is over

    sign_in(page, "olivia")
    open_run(page, failed)
    expect(status_badge(page)).to_have_attribute("data-status", "failed")
    expect(page.locator("svg.dag .node[data-step=add_up]")).to_have_attribute("data-status", "failed")
    confirm(page, "#retry-run")

    expect(page).not_to_have_url(re.compile(rf"/runs/{failed.pk}/$"))
    expect(page).to_have_url(re.compile(r"/runs/\d+/$"))
    retry_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert retry_id > failed.pk
    expect(status_badge(page)).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
    expect(page.locator(f".run-header a[href='/runs/{failed.pk}/']")).to_have_text(f"#{failed.pk}")
    expect(page.locator("table.steps tr[data-step=produce] .badge")).to_have_attribute("data-status", "cached")
    expect(page.locator("svg.dag .node[data-step=produce]")).to_have_class(re.compile(r"\bcached\b"))
    expect(page.locator("table.steps tr[data-step=add_up] .badge")).to_have_attribute("data-status", "completed")
    expect(page.locator("svg.dag .node[data-step=add_up]")).to_have_attribute("data-status", "completed")
    retry = Run.objects.get(pk=retry_id)
    assert (retry.status, retry.retry_of_id) == (RunStatus.COMPLETED, failed.pk)
    assert ledger_entries(ledger) == ["produce", "add_up", "add_up"], "produce ran once; its result was reused"


def test_only_members_see_cancel_and_retry(new_page, ready):
    member, viewer = make_user("marco"), make_user("vera")
    Membership.objects.create(project=ready, user=member, role=Role.MEMBER)
    Membership.objects.create(project=ready, user=viewer, role=Role.VIEWER)
    failed = execute(trigger(ready, "exploding"))
    queued = trigger(ready, "greeting")  # no worker: it stays queued, which can be cancelled

    as_viewer = new_page()
    sign_in(as_viewer, "vera")
    for run, status in ((failed, "failed"), (queued, "queued")):
        open_run(as_viewer, run)
        expect(status_badge(as_viewer)).to_have_attribute("data-status", status)
        expect(as_viewer.locator("#cancel-run")).to_have_count(0)
        expect(as_viewer.locator("#retry-run")).to_have_count(0)
    as_viewer.goto("/pipelines/greeting/")
    expect(as_viewer.locator("#app .message.info")).to_contain_text("lets you read runs, not start them")
    expect(as_viewer.locator("form.trigger")).to_have_count(0)

    as_member = new_page()
    sign_in(as_member, "marco")
    open_run(as_member, failed)
    expect(as_member.locator("#retry-run")).to_be_visible()
    expect(as_member.locator("#cancel-run")).to_have_count(0)
    open_run(as_member, queued)
    expect(as_member.locator("#cancel-run")).to_be_visible()
    expect(as_member.locator("#retry-run")).to_have_count(0)
    expect(as_member.locator("form.trigger")).to_have_count(0)


def test_the_log_panel_copes_with_50000_lines(page, ready):
    lines = 50_000
    run = execute(trigger(ready, "chatty", lines=lines))
    assert run.status == RunStatus.COMPLETED, run.failure_message
    sign_in(page, "olivia")
    open_run(page, run)
    count = page.locator(".log-panel .count")
    expect(count).to_have_text("50,000 of 50,000 lines", timeout=RUN_TIMEOUT_MS)
    rendered = page.locator(".log-viewport .line")
    assert 0 < rendered.count() < 500, f"{rendered.count()} lines in the DOM"

    # It followed the end; from the top, then back to the end by scrolling.
    expect(page.locator(".log-viewport .line .text", has_text=re.compile(r"^line 49999$"))).to_be_visible()
    page.locator(".log-viewport").evaluate("(el) => { el.scrollTop = 0; }")
    expect(page.locator(".log-viewport .line .text", has_text=re.compile(r"^line 0$"))).to_be_visible()
    expect(page.locator(".log-viewport .line .text", has_text=re.compile(r"^line 49999$"))).to_have_count(0)
    page.locator(".log-viewport").evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
    expect(page.locator(".log-viewport .line .text", has_text=re.compile(r"^line 49999$"))).to_be_visible()
    assert rendered.count() < 500

    # The search matches substrings: "line 4242" and the ten lines "line 42420" to "line 42429".
    page.fill(".log-panel input[type=search]", "line 4242")
    expect(count).to_have_text("11 of 50,000 lines")
    page.locator(".log-viewport").evaluate("(el) => { el.scrollTop = 0; }")
    expect(rendered).to_have_count(11)
    assert log_texts(page) == ["line 4242", *(f"line 4242{i}" for i in range(10))]
