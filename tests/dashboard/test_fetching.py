"""How the portal fetches: a failed request is shown with a Retry, polling survives it, stops on an answer that
waiting cannot change (404), and a link taken from API data is rendered only if it is a web address.

Requests are failed on purpose with Playwright's `page.route`; the server itself is real."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from tests.runs.helpers import execute

from .helpers import log_texts, open_run, sign_in, trigger

RUNS_LIST = re.compile(r"/api/runs/\?")
LOG_PAGE = re.compile(r"/api/runs/\d+/logs/\?")


def test_the_runs_list_keeps_refreshing_after_a_failed_request(page, ready, owner):
    run = trigger(ready, "greeting", user=owner, name="still polled")
    sign_in(page, "olivia")
    row = page.locator(f"table.runs tr[data-run='{run.pk}']")
    expect(row.locator(".badge")).to_have_attribute("data-status", "queued")

    failed = []

    def fail_once(route):
        if not failed:
            failed.append(route.request.url)
            route.fulfill(status=502, content_type="text/html", body="<h1>Bad gateway</h1>")
        else:
            route.continue_()

    page.route(RUNS_LIST, fail_once)
    problem = page.locator("#app .message.error", has_text="Could not load the runs")
    expect(problem).to_be_visible()
    expect(problem.get_by_role("button", name="Retry")).to_be_visible()

    execute(run)
    expect(row.locator(".badge")).to_have_attribute("data-status", "completed")
    expect(problem).to_have_count(0)


def test_a_refused_network_is_shown_and_retry_loads_again(page, ready, owner):
    run = execute(trigger(ready, "greeting", user=owner, name="offline"))
    page.route(re.compile(r"/api/pipelines/$"), lambda route: route.abort("connectionrefused"))
    sign_in(page, "olivia")
    problem = page.locator("#app .message.error", has_text="Could not load the page")
    expect(problem).to_contain_text("the server could not be reached")

    page.unroute(re.compile(r"/api/pipelines/$"))
    problem.get_by_role("button", name="Retry").click()
    expect(page.locator(f"table.runs tr[data-run='{run.pk}']")).to_be_visible()
    expect(problem).to_have_count(0)


def test_the_log_stops_on_a_404_says_so_and_retry_resumes_it(page, ready, owner):
    run = execute(trigger(ready, "chatty", user=owner, lines=5))
    asked = []

    def gone(route):
        asked.append(route.request.url)
        route.fulfill(
            status=404, content_type="application/json", body=json.dumps({"error": {"message": "Not found."}})
        )

    page.clock.install()
    page.route(LOG_PAGE, gone)
    sign_in(page, "olivia")
    open_run(page, run)
    stopped = page.locator(".log-panel .message.error")
    expect(stopped).to_contain_text("Stopped updating the log")
    expect(stopped).to_contain_text("404")
    assert len(asked) == 1

    # A minute of the page's time later (its timers run at once), it has not asked again.
    page.clock.run_for(60_000)
    assert len(asked) == 1, f"the log was asked for {len(asked)} times after a 404"

    page.unroute(LOG_PAGE)
    stopped.get_by_role("button", name="Retry").click()
    expect(page.locator(".log-panel .count")).to_have_text("5 of 5 lines")
    assert "line 4" in log_texts(page)
    expect(stopped).to_have_count(0)


def test_a_javascript_address_from_the_api_is_not_rendered_as_a_link(page, ready, owner):
    run = execute(trigger(ready, "greeting", user=owner, name="links"))

    def hostile(route):
        response = route.fetch()
        body = response.json()
        body["remote_console_url"] = "javascript:alert(document.domain)"
        route.fulfill(response=response, json=body)

    page.route(re.compile(rf"/api/runs/{run.pk}/$"), hostile)
    sign_in(page, "olivia")
    open_run(page, run)
    expect(page.locator(".run-header")).to_contain_text("Vertex AI console")
    expect(page.get_by_role("link", name="Vertex AI console")).to_have_count(0)
    expect(page.locator("a[href^='javascript' i]")).to_have_count(0)
    expect(page.get_by_role("link", name="greeting")).to_have_attribute("href", "/pipelines/greeting/")
