"""Metrics and previews in the portal: a run's scores and output previews, a chart of each metric across a
pipeline's runs, and runs compared side by side with their differences marked."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.factories import make_metric
from tests.runs.helpers import execute

from .helpers import open_run, screenshot, sign_in, trigger


def test_metrics_previews_charts_and_comparison(page, ready, owner):
    first = execute(trigger(ready, "churn-model", user=owner))
    second = execute(trigger(ready, "churn-model", user=owner, epochs=20))
    assert (first.status, second.status) == ("completed", "completed")
    sign_in(page, "olivia")

    open_run(page, first)
    metrics = page.locator("table.metrics")
    expect(metrics.locator("tr[data-metric]")).to_have_count(3)
    expect(metrics.locator("tr[data-metric=accuracy] td.num")).to_have_text(re.compile(r"^0\.\d+$"))
    table = page.locator("table.artifacts tr", has_text="customers").locator(".preview[data-kind=table]")
    expect(table.locator("summary")).to_have_text("table · 600 rows × 4 columns")
    table.locator("summary").click()
    expect(table.locator("thead th")).to_have_text(["tenure", "charges", "calls", "churned"])
    expect(table.locator("tbody tr")).to_have_count(10)
    expect(table).to_contain_text("first 10 of 600 rows")
    screenshot(page, "run-metrics-and-previews")

    page.goto("/pipelines/churn-model/")
    chart = page.locator("figure.metric-chart[data-metric=accuracy]")
    expect(chart.locator("figcaption")).to_contain_text("2 runs")
    expect(chart.locator("circle.point")).to_have_count(2)
    expect(page.locator("figure.metric-chart")).to_have_count(3)
    screenshot(page, "pipeline-metric-charts")
    chart.locator("a").first.click()
    expect(page).to_have_url(re.compile(rf"/runs/{first.pk}/$"))

    page.goto(f"/runs/compare?ids={first.pk},{second.pk}")
    compare = page.locator("table.compare")
    expect(compare.locator("thead th[data-run]")).to_have_count(2)
    expect(compare.locator("tr[data-row='Parameters:epochs']")).to_have_class("differs")
    expect(compare.locator("tr[data-row='Parameters:epochs'] td")).to_have_text(["150", "20"])
    expect(compare.locator("tr[data-row='Parameters:seed']")).not_to_have_class("differs")
    expect(compare.locator("tr[data-row='Steps:load_customers'] td").nth(1)).to_contain_text("cached")
    expect(compare.locator("tr[data-row='Metrics:accuracy']")).to_be_visible()
    screenshot(page, "compare-runs")


def test_compare_says_what_is_wrong_with_its_ids(page, ready, owner):
    sign_in(page, "olivia")
    page.goto("/runs/compare?ids=1")
    expect(page.locator(".message.error")).to_contain_text("2 to 10")


def test_runs_list_shows_chosen_metric_columns_remembered_and_picks_runs_to_compare(page, ready, owner):
    runs = [trigger(ready, "greeting", user=owner, name=f"r{i}") for i in range(3)]
    for run, accuracy in zip(runs, (0.5, 0.75, 0.9)):
        make_metric(run, "hello", "accuracy", accuracy)
    sign_in(page, "olivia")

    page.fill("input[name=metric_columns]", "accuracy, loss")
    page.click("form.filters button[type=submit]")
    expect(page.locator("table.runs th.metric-column")).to_have_text(["accuracy", "loss"])
    row = page.locator(f"table.runs tr[data-run='{runs[1].pk}']")
    expect(row.locator("td[data-metric=accuracy]")).to_have_text("0.75")
    expect(row.locator("td[data-metric=loss]")).to_have_text("–")

    # Remembered: a later visit shows the same columns without choosing them again.
    page.goto("/runs/")
    expect(page.locator("table.runs th.metric-column")).to_have_text(["accuracy", "loss"])
    expect(page.locator(f"table.runs tr[data-run='{runs[2].pk}'] td[data-metric=accuracy]")).to_have_text("0.9")

    compare = page.locator("#compare-runs")
    expect(compare).to_be_disabled()
    page.locator(f"tr[data-run='{runs[0].pk}'] input.compare-pick").check()
    page.locator(f"tr[data-run='{runs[2].pk}'] input.compare-pick").check()
    expect(compare).to_have_text("Compare 2 selected")
    compare.click()
    expect(page).to_have_url(re.compile(r"/runs/compare/\?ids="))
    expect(page.locator("table.compare tr[data-row='Metrics:accuracy'] td")).to_have_count(2)
    expect(page.locator("table.compare tr[data-row='Metrics:accuracy']")).to_have_class("differs")
