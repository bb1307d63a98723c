"""A run's record shown truly in the portal: steps counted by outcome, skipped steps with their reason
(not as errors), cached steps linking the run their output came from, and the whole log as a download."""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from runs.models import Run, RunStatus, StepRun, StepStatus
from tests.runs.helpers import execute

from .helpers import open_run, screenshot, sign_in, trigger

STEPS = [
    ("load", StepStatus.CACHED, ""),
    ("clean", StepStatus.COMPLETED, ""),
    ("split", StepStatus.COMPLETED, ""),
    ("report", StepStatus.SKIPPED, "Skipped: condition returned false"),
    ("fit", StepStatus.FAILED, "Traceback (most recent call last):\nValueError: bad input"),
    ("score", StepStatus.CANCELLED, "Not run: an earlier step failed"),
    ("publish", StepStatus.CANCELLED, "Traceback (most recent call last):\nStopExecution: stopped by olivia"),
]


def failed_with_mixed_steps(project, owner) -> Run:
    run = trigger(project, "arithmetic", user=owner)
    run.steps.all().delete()
    now = timezone.now()
    StepRun.objects.bulk_create(
        StepRun(run=run, name=name, position=i, status=status, error=error, started_at=now, finished_at=now,
                duration_seconds=0.0, cached=status == StepStatus.CACHED, skipped=status == StepStatus.SKIPPED)
        for i, (name, status, error) in enumerate(STEPS)
    )  # fmt: skip
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, started_at=now, finished_at=now)
    return run


def outcomes(summary) -> dict[str, str]:
    labels = summary.locator(".outcome")
    return dict(zip(labels.evaluate_all("(els) => els.map((e) => e.dataset.outcome)"), labels.all_inner_texts()))


def test_a_failed_run_never_looks_complete(page, ready, owner):
    run = failed_with_mixed_steps(ready, owner)
    done = execute(trigger(ready, "greeting", user=owner))
    sign_in(page, "olivia")

    failed_row = page.locator(f"table.runs tr[data-run='{run.pk}'] .steps-summary")
    expect(failed_row.locator(".succeeded")).to_have_text("3/7")
    assert outcomes(failed_row) == {
        "cached": "1 cached", "skipped": "1 skipped", "failed": "1 failed", "cancelled": "2 cancelled",
    }  # fmt: skip
    segments = failed_row.locator(".stepbar .segment")
    widths = segments.evaluate_all("(els) => els.map((e) => [e.dataset.outcome, parseFloat(e.style.width)])")
    assert [outcome for outcome, _ in widths] == ["completed", "cached", "skipped", "failed", "cancelled"]
    assert [width for _, width in widths] == pytest.approx([100 * n / 7 for n in (2, 1, 1, 1, 2)], abs=0.01)
    done_row = page.locator(f"table.runs tr[data-run='{done.pk}'] .steps-summary")
    expect(done_row.locator(".succeeded")).to_have_text("1/1")
    expect(done_row.locator(".outcome")).to_have_count(0)
    screenshot(page, "runs-steps-by-outcome")

    open_run(page, run)
    facts = page.locator(".run-header .steps-summary")
    expect(facts.locator(".succeeded")).to_have_text("3/7")
    assert outcomes(facts)["failed"] == "1 failed"

    # A skipped or not-run step says why, as a note; only the failure is shown as an error.
    skipped = page.locator("table.steps tr[data-step=report]")
    expect(skipped.locator(".note-cell")).to_have_text("Skipped: condition returned false")
    expect(skipped.locator(".error-cell")).to_have_count(0)
    expect(page.locator("table.steps tr[data-step=score] .note-cell")).to_have_text("Not run: an earlier step failed")
    stopped = page.locator("table.steps tr[data-step=publish] .note-cell")
    expect(stopped.locator("summary")).to_have_text("StopExecution: stopped by olivia")
    expect(stopped.locator("pre")).to_have_text(STEPS[-1][2])
    expect(page.locator("table.steps tr[data-step=fit] .error-cell summary")).to_have_text("ValueError: bad input")
    expect(page.locator("table.steps .error-cell")).to_have_count(1)
    color = skipped.locator(".note-cell").evaluate("(el) => getComputedStyle(el).color")
    failure = page.locator("table.steps tr[data-step=fit] .error-cell summary").evaluate(
        "(el) => getComputedStyle(el).color"
    )
    assert color != failure, "a skip is not styled as an error"
    screenshot(page, "run-steps-by-outcome")


def test_a_cached_run_links_the_run_its_outputs_came_from(page, ready, owner):
    first = execute(trigger(ready, "arithmetic", user=owner, n=4))
    second = execute(trigger(ready, "arithmetic", user=owner, n=4))
    assert (first.status, second.status) == (RunStatus.COMPLETED, RunStatus.COMPLETED)
    sign_in(page, "olivia")
    expect(page.locator(f"table.runs tr[data-run='{second.pk}'] .steps-summary")).to_contain_text("2/2")
    open_run(page, second)

    for step in ("produce", "add_up"):
        note = page.locator(f"table.steps tr[data-step={step}] .note-cell")
        expect(note).to_have_text(f"served from cache — run #{first.pk}")
        expect(note.locator("a")).to_have_attribute("href", f"/runs/{first.pk}/")
    artifacts = page.locator("table.artifacts tbody tr")
    expect(artifacts).to_have_count(2)
    screenshot(page, "run-cached")
    for row in artifacts.all():
        expect(row.locator("td.from a")).to_have_text(f"run #{first.pk} (cached)")
        download = page.request.get(row.get_by_role("link", name="download").get_attribute("href"))
        assert download.status == 200 and download.body()

    page.locator("table.steps tr[data-step=add_up] .note-cell a").click()
    expect(page).to_have_url(re.compile(rf"/runs/{first.pk}/$"))
    expect(page.locator("table.artifacts tbody tr td.from")).to_have_text(["this run", "this run"])


def test_the_whole_log_downloads_from_the_run_page(page, ready, owner):
    run = execute(trigger(ready, "chatty", user=owner, lines=3000))
    assert run.status == RunStatus.COMPLETED, run.failure_message
    sign_in(page, "olivia")
    open_run(page, run)

    with page.expect_download() as text:
        page.get_by_role("link", name="Download log").click()
    assert text.value.suggested_filename == f"run{run.pk}-log.txt"
    with open(text.value.path()) as f:
        assert f.read() == "".join(f"line {i}\n" for i in range(3000))

    with page.expect_download() as ndjson:
        page.get_by_role("link", name="as NDJSON").click()
    assert ndjson.value.suggested_filename == f"run{run.pk}-log.ndjson"
    with open(ndjson.value.path()) as f:
        records = [json.loads(line) for line in f]
    assert [r["text"] for r in records] == [f"line {i}" for i in range(3000)]
    assert [r["seq"] for r in records] == sorted(r["seq"] for r in records)
